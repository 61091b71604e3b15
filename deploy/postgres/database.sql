-- Included by deploy/postgres-roles.sql: database <prefix><name>, its owner and run-time
-- roles, and the grants (the auditor's when `auditor_reads`).
\set login :name _owner
\ir login.sql
\set owner :role
\set login :name
\ir login.sql
\set runtime :role
\set db :prefix :name

SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'owner')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
ALTER DATABASE :"db" OWNER TO :"owner";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO :"runtime";
\if :auditor_reads
GRANT CONNECT, CREATE ON DATABASE :"db" TO :"auditor";
\endif

\connect :"db"
ALTER SCHEMA public OWNER TO :"owner";
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"runtime";
-- Default privileges without a schema: they also cover the tables `flowers audit rebuild`
-- builds in a schema of its own and swaps in. The run-time role's UPDATE, DELETE and
-- TRUNCATE on `events` are revoked by the migration, right after it creates the table.
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner"
  GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON TABLES TO :"runtime";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner"
  GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO :"runtime";
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public TO :"runtime";
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO :"runtime";
SELECT format('REVOKE UPDATE, DELETE, TRUNCATE ON public.events FROM %I', :'runtime')
 WHERE to_regclass('public.events') IS NOT NULL \gexec
\if :auditor_reads
GRANT USAGE ON SCHEMA public TO :"auditor";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" GRANT SELECT ON TABLES TO :"auditor";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" GRANT SELECT ON SEQUENCES TO :"auditor";
GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"auditor";
GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO :"auditor";
\endif
\connect :"admin_db"
