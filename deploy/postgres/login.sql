-- Included by deploy/postgres-roles.sql: the LOGIN role <prefix><login>, its password
-- read from <passwords>/<login>.password. Sets `role`.
\set role :prefix :login
\set pwfile :passwords / :login .password
\set password `cat :'pwfile'`
SELECT format('CREATE ROLE %I', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  INHERIT PASSWORD :'password';
-- A schema someone else creates (say one named after the role) never shadows a table.
ALTER ROLE :"role" SET search_path = public;
\unset password
