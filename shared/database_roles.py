"""PostgreSQL roles: which login may touch which database; provisioning and migration.

Every database `<prefix><name>` (one per service, and the gateway's) has two roles:

- `<prefix><name>_owner` owns the database and everything in it. It applies the schema
  (`migrate`, run by `flowers up` / `flowers db migrate`) and runs `flowers audit rebuild`,
  which builds fresh tables and swaps them in (DDL on the live tables). Never used by a
  service process.
- `<prefix><name>`, the run-time role of the process: CONNECT on its own database only
  (CONNECT is revoked from PUBLIC), no CREATE anywhere, SELECT/INSERT/UPDATE/DELETE/TRUNCATE
  on the owner's tables through default privileges (so tables a rebuild swaps in are covered
  too) — except the log, `events`, which it may only read and append to: a service cannot
  rewrite its own history.

The key store (`<prefix>keys`, shared/keystore.py) has one more login: `<prefix>payroll`,
the payroll system's, which may read the subjects' pseudonyms and keys and nothing else
(SELECT on `data_subjects (subject_id, key)`), to open the sealed values of PAYROLL.

And one for the audit, over the service databases (not the gateway's accounts):

- `<prefix>auditor`: CONNECT, SELECT on every table, and CREATE on each service database
  for schemas of its own (the audit's scratch copies: `verify` rebuilds projections in a
  schema it rolls back, `as-of` builds copies it drops). `flowers audit verify|as-of|
  events|anchor` and the gateway's audit pages log in as it.

No role is superuser or may create databases or roles. Every role's `search_path` is pinned
to `public`, so a schema the auditor creates (say one named after a role, which "$user"
would find first) cannot shadow a live table.

Passwords are set from the settings (`Settings.database_password`: a named file, or the
secrets directory) on every provisioning, as SCRAM verifiers computed here: a plaintext
password never reaches the server (nor its statement log). `deploy/postgres-roles.sql` does
the same with psql for servers the project does not provision.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import zlib
from collections.abc import Iterable, Sequence

import asyncpg

from shared.postgres import STORE_SCHEMA, DatabaseUnavailable, create_pool, redact
from shared.settings import SERVICES, Settings, with_database

GATEWAY = "gateway"
AUDITOR = "auditor"
KEYS = "keys"  # the key store of personal data (shared/keystore.py): every service logs in
PAYROLL_KEYS = "payroll"  # the payroll system's read-only login to the key store (PAYROLL)
SUPERUSER = "postgres"  # the embedded server's; its password is postgres/postgres.password
DATABASES: tuple[str, ...] = (*SERVICES, GATEWAY)
SCRAM_ITERATIONS = 4096

RUNTIME_TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE, TRUNCATE"
LOG_TABLE = "events"  # the run-time role may only SELECT and INSERT here
PROVISION_LOCK = zlib.crc32(b"flowers-provision")
MIGRATE_LOCK = 7242  # the one apply_schema takes: one migration at a time per database


def owner_login(name: str) -> str:
    return f"{name}_owner"


def logins(names: Iterable[str] = (*DATABASES, KEYS)) -> list[str]:
    """Every login (password file name) the databases `names` need, the auditor's included
    (and the payroll system's reader with the key store)."""
    out: list[str] = []
    for name in names:
        out += [name, owner_login(name)]
        if name == KEYS:
            out.append(PAYROLL_KEYS)
    return [*out, AUDITOR]


def scram_verifier(password: str, iterations: int = SCRAM_ITERATIONS) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5803 format)."""
    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class ProvisioningError(DatabaseUnavailable):
    """Roles or databases could not be made (one line for the operator)."""


def _password(settings: Settings, login: str) -> str:
    password = settings.database_password(login)
    if not password:
        raise ProvisioningError(
            f"no password for database role {settings.database_role(login)}: "
            f"FLOWERS_DATABASE_PASSWORD_FILES or FLOWERS_SECRETS_DIR (postgres/{login}.password)"
        )
    return password


async def _ensure_role(conn: asyncpg.Connection, role: str, password: str) -> None:
    exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
    verb = "ALTER" if exists else "CREATE"
    # A verifier is no secret to the statement log; it still may not be bound as a parameter
    # in utility statements, so it is written as a literal (base64 and '$:' only).
    verifier = scram_verifier(password)
    await conn.execute(
        f"{verb} ROLE {_ident(role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
        f"NOBYPASSRLS INHERIT PASSWORD '{verifier}'"
    )
    await conn.execute(f"ALTER ROLE {_ident(role)} SET search_path = public")


async def provision(settings: Settings, names: Sequence[str] = DATABASES) -> None:
    """Roles, databases and grants for `names` (idempotent), as the admin URL's superuser.

    Passwords are (re)set from the settings each time: replacing a password file and
    provisioning again rotates it. A database made earlier by someone else (a cluster of
    before the roles) is handed to its owner role, tables included.
    """
    if settings.database_admin_url is None:
        raise ProvisioningError("no FLOWERS_DATABASE_ADMIN_URL to create roles and databases")
    admin = settings.database_admin_url.get_secret_value()
    try:
        conn = await asyncpg.connect(with_database(admin, "postgres"))
    except (OSError, asyncpg.PostgresError) as exc:
        raise ProvisioningError(f"PostgreSQL at {redact(admin)} refused the admin: {exc}") from exc
    auditor = settings.database_role(AUDITOR)
    try:
        # Roles are cluster-wide and shared (the auditor): one provisioning at a time.
        await conn.execute("SELECT pg_advisory_lock($1)", PROVISION_LOCK)
        await _ensure_role(conn, auditor, _password(settings, AUDITOR))
        for name in names:
            database = settings.database_name(name)
            owner = settings.database_role(owner_login(name))
            runtime = settings.database_role(name)
            await _ensure_role(conn, owner, _password(settings, owner_login(name)))
            await _ensure_role(conn, runtime, _password(settings, name))
            if name == KEYS:  # its grants inside: shared/keystore.py's schema
                payroll = settings.database_role(PAYROLL_KEYS)
                await _ensure_role(conn, payroll, _password(settings, PAYROLL_KEYS))
            if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
                await conn.execute(f"ALTER DATABASE {_ident(database)} OWNER TO {_ident(owner)}")
            else:
                await conn.execute(f"CREATE DATABASE {_ident(database)} OWNER {_ident(owner)}")
            await conn.execute(f"REVOKE ALL ON DATABASE {_ident(database)} FROM PUBLIC")
            await conn.execute(f"GRANT CONNECT ON DATABASE {_ident(database)} TO {_ident(runtime)}")
            if name in SERVICES:
                await conn.execute(
                    f"GRANT CONNECT, CREATE ON DATABASE {_ident(database)} TO {_ident(auditor)}"
                )
            await _grant_inside(
                with_database(admin, database),
                owner,
                runtime,
                auditor if name in SERVICES else None,
            )
    except asyncpg.PostgresError as exc:
        raise ProvisioningError(f"provisioning the database roles failed: {exc}") from exc
    finally:
        await conn.close()  # the session's advisory lock goes with it


async def _grant_inside(url: str, owner: str, runtime: str, auditor: str | None) -> None:
    """Inside one database: the owner owns everything, the others get their privileges."""
    conn = await asyncpg.connect(url)
    readers = ", ".join(_ident(r) for r in (runtime, auditor) if r)
    try:
        async with conn.transaction():
            # Tables someone else made (a cluster of before the roles) go to the owner.
            foreign = await conn.fetch(
                "SELECT c.relname, c.relkind FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'S', 'v', 'm') "
                "AND pg_get_userbyid(c.relowner) <> $1 "
                "AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d "
                "WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')))",  # owned by a column
                owner,
            )
            kinds = {"S": "SEQUENCE", "v": "VIEW", "m": "MATERIALIZED VIEW"}
            for row in foreign:
                object_kind = kinds.get(row["relkind"], "TABLE")
                await conn.execute(
                    f"ALTER {object_kind} public.{_ident(row['relname'])} OWNER TO {_ident(owner)}"
                )
            await conn.execute(f"ALTER SCHEMA public OWNER TO {_ident(owner)}")
            await conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
            await conn.execute(f"GRANT USAGE ON SCHEMA public TO {readers}")
            grants: list[tuple[str, str, str]] = [
                (RUNTIME_TABLE_PRIVILEGES, "TABLES", runtime),
                ("USAGE, SELECT, UPDATE", "SEQUENCES", runtime),
            ]
            if auditor:
                grants += [("SELECT", "TABLES", auditor), ("SELECT", "SEQUENCES", auditor)]
            for privileges, kind, role in grants:
                # Default privileges without a schema: also the tables a rebuild makes in a
                # schema of its own and then moves into public.
                await conn.execute(
                    f"ALTER DEFAULT PRIVILEGES FOR ROLE {_ident(owner)} "
                    f"GRANT {privileges} ON {kind} TO {_ident(role)}"
                )
                await conn.execute(
                    f"GRANT {privileges} ON ALL {kind} IN SCHEMA public TO {_ident(role)}"
                )
            await _restrict_log(conn, runtime)
    finally:
        await conn.close()


async def _restrict_log(conn: asyncpg.Connection, runtime: str) -> None:
    """The run-time role reads and appends to the log; it never changes or removes a row."""
    if await conn.fetchval("SELECT to_regclass('public.events') IS NOT NULL"):
        await conn.execute(
            f"REVOKE UPDATE, DELETE, TRUNCATE ON public.{LOG_TABLE} FROM {_ident(runtime)}"
        )


async def migrate(settings: Settings, name: str, *schema_sql: str, store: bool = True) -> None:
    """Apply `name`'s schema (the store's tables first when `store`) as its owner role."""
    url = settings.database_url_for(name, login=owner_login(name))
    pool = await create_pool(url, attempts=settings.connect_attempts)
    try:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATE_LOCK)
            if store:
                await conn.execute(STORE_SCHEMA)
            for sql in schema_sql:
                await conn.execute(sql)
            await _restrict_log(conn, settings.database_role(name))
    finally:
        await pool.close()


_prepared: set[tuple[str, str]] = set()


async def prepare(settings: Settings, name: str, *schema_sql: str, store: bool = True) -> None:
    """Provision and migrate `name` when the settings carry an admin URL (the test suite's
    in-process services); once per process and database. Without one: nothing to do."""
    if settings.database_admin_url is None:
        return
    key = (settings.database_admin_url.get_secret_value(), settings.database_name(name))
    if key in _prepared:
        return
    # Two first calls at once both provision: safe, provisioning is serialised and idempotent.
    await provision(settings, [name])
    await migrate(settings, name, *schema_sql, store=store)
    _prepared.add(key)


async def require_schema(pool: asyncpg.Pool, table: str, settings: Settings, name: str) -> None:
    """A clear line when the database was never migrated (the role cannot do it itself)."""
    if not await pool.fetchval("SELECT to_regclass($1) IS NOT NULL", f"public.{table}"):
        raise DatabaseUnavailable(
            f"database {settings.database_name(name)} has no schema yet: run `flowers db "
            "migrate` (or `flowers up`) first"
        )
