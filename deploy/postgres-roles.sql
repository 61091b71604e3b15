-- The PostgreSQL roles, databases and grants of Five Golden Flowers, for a server the
-- project does not provision itself (FLOWERS_DATABASE_URL without FLOWERS_DATABASE_ADMIN_URL).
-- The same design as shared/database_roles.py (README, "PostgreSQL roles"):
--
--   <prefix><name>_owner  owns database <prefix><name> and its tables; applies the schema
--                         (`flowers db migrate`, `flowers up`) and runs `flowers audit rebuild`
--   <prefix><name>        the process's run-time role: CONNECT on its own database only,
--                         DML on the owner's tables (the log `events`: SELECT and INSERT only)
--   <prefix>auditor       CONNECT, SELECT and CREATE (scratch schemas) on the service databases;
--                         SELECT on the gateway's access record (granted by its migration)
--
-- for <name> in nomination, review, rewards, publicity, notification (the services), gateway,
-- and keys (the key store of personal data, shared/keystore.py: every service logs in as
-- <prefix>keys; its migration grants the auditor SELECT on the keys).
-- No role is superuser or may create databases or roles; CONNECT is revoked from PUBLIC.
--
-- Run it as a superuser, once, and again to rotate passwords (it is idempotent):
--
--   psql "postgresql://postgres@db.example:5432/postgres" \
--        -v prefix=flowers_ -v passwords=/etc/flowers/postgres -f deploy/postgres-roles.sql
--
-- `passwords` is a directory holding one file per login, named <login>.password (0600):
-- nomination, nomination_owner, …, gateway, gateway_owner, keys, keys_owner, auditor (and
-- payroll, the payroll system's reader of the key store, if it is to have one) — the layout of the
-- stack's secrets directory (`.data/secrets/postgres/`), so FLOWERS_SECRETS_DIR or
-- FLOWERS_DATABASE_PASSWORD_FILES can point the processes at the same files. No password is
-- in this file or on the command line; psql sends each to the server, which stores only its
-- SCRAM-SHA-256 verifier (keep log_statement off while this runs).
--
-- Then apply the schemas as the owners: `flowers db migrate` (with the same passwords).

\set ON_ERROR_STOP on
\if :{?prefix}
\else
  \set prefix flowers_
\endif
\if :{?passwords}
\else
  DO $$ BEGIN RAISE EXCEPTION 'set -v passwords=DIR (a directory of <login>.password files)'; END $$;
\endif
\set admin_db :DBNAME
SET password_encryption = 'scram-sha-256';

-- The auditor first: every service database grants it.
\set login auditor
\ir postgres/login.sql
\set auditor :role

\set name nomination
\set auditor_reads true
\ir postgres/database.sql
\set name review
\ir postgres/database.sql
\set name rewards
\ir postgres/database.sql
\set name publicity
\ir postgres/database.sql
\set name notification
\ir postgres/database.sql
-- The gateway's database holds the accounts: the auditor gets nothing there from this script
-- (the gateway's migration, `flowers db migrate`, grants it SELECT on the access record of
-- personal data alone, which `flowers audit verify` checks: shared/audit.py).
\set name gateway
\set auditor_reads false
\ir postgres/database.sql
-- The key store of personal data: the auditor's SELECT on the keys comes with its schema.
\set name keys
\ir postgres/database.sql
-- The payroll system's read-only login to the key store (README "Reading PAYROLL"), made when
-- its password file is there: its CONNECT and SELECT on pseudonyms and keys come with the
-- key store's schema (`flowers db migrate`).
\set payroll_pwfile :passwords /payroll.password
\set has_payroll `test -f :'payroll_pwfile' && echo true || echo false`
\if :has_payroll
  \set login payroll
  \ir postgres/login.sql
\endif
