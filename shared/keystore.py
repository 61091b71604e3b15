"""The key store: one AES-256 key per data subject, in a database of its own, outside every log.

Database `<prefix>keys` (made by the embedded stack and the test suite like the services'
databases, shared.database_roles), table `data_subjects`: a random pseudonym, the
employee number it stands for, the key, and when it was shredded. Every service process
logs in as the key store's run-time role (`<prefix>keys`): it may read keys and add
subjects, and shredding updates a row; no process may delete rows (the pseudonym and the
time of the erasure stay, as the erasure event's counterpart). The auditor may read
keys (its rebuilds and as-of decrypt the log). The payroll system (`<prefix>payroll`) may
read pseudonyms and keys, not employee numbers (shared/payroll_reader.py).

Shredding sets the key and the employee number to NULL: from then on every sealed value
of that subject — in any service's log, in FLOWERS, in a backup — reads "已删除". An
employee who comes back after an erasure gets a new pseudonym and key on their next event
(a process that forgot them lately seals their values as erased instead, for a while:
`shared.personal_data.Keyring`, so a reaction in flight never re-seals them here).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime

import asyncpg

from shared import database_roles
from shared.database_roles import AUDITOR, KEYS, PAYROLL_KEYS
from shared.personal_data import KEYRING, Subject, new_key
from shared.postgres import create_pool
from shared.settings import Settings

KEYSTORE_SCHEMA = """
CREATE TABLE IF NOT EXISTS data_subjects (
    subject_id   uuid        PRIMARY KEY,
    employee_no  text        UNIQUE,            -- NULL once shredded
    key          bytea       CHECK (key IS NULL OR octet_length(key) = 32),
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    shredded_at  timestamptz,
    CHECK ((shredded_at IS NULL) = (key IS NOT NULL)),
    CHECK (shredded_at IS NULL OR employee_no IS NULL)
);
"""


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def keystore_schema(settings: Settings) -> list[str]:
    """The key store's schema and what its owner grants: the auditor reads keys (its
    rebuilds and as-of decrypt the log); the payroll system reads pseudonyms and keys only
    (it opens PAYROLL's sealed values: no employee number, nothing to change); the run-time
    role never deletes a row."""
    auditor_role = settings.database_role(AUDITOR)
    runtime_role = settings.database_role(KEYS)
    payroll_role = settings.database_role(PAYROLL_KEYS)
    auditor, runtime, payroll = _ident(auditor_role), _ident(runtime_role), _ident(payroll_role)
    database = _ident(settings.database_name(KEYS))
    return [
        KEYSTORE_SCHEMA,
        f"""
DO $$ BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{auditor_role.replace("'", "''")}') THEN
    GRANT CONNECT ON DATABASE {database} TO {auditor};
    GRANT USAGE ON SCHEMA public TO {auditor};
    GRANT SELECT ON data_subjects TO {auditor};
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{runtime_role.replace("'", "''")}') THEN
    REVOKE DELETE, TRUNCATE ON data_subjects FROM {runtime};
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{payroll_role.replace("'", "''")}') THEN
    GRANT CONNECT ON DATABASE {database} TO {payroll};
    GRANT USAGE ON SCHEMA public TO {payroll};
    REVOKE ALL ON data_subjects FROM {payroll};
    GRANT SELECT (subject_id, key) ON data_subjects TO {payroll};
  END IF;
END $$;
""",
    ]


async def migrate_keystore(settings: Settings) -> None:
    """Apply the key store's schema as its owner (roles and database made before)."""
    await database_roles.migrate(settings, KEYS, *keystore_schema(settings), store=False)


async def open_keystore(settings: Settings, login: str = KEYS) -> PostgresKeyStore:
    """The key store as `login` (a service: the store's run-time role; the audit: the
    auditor). With an admin URL (the test suite's in-process services) it is made first."""
    await database_roles.prepare(settings, KEYS, *keystore_schema(settings), store=False)
    pool = await create_pool(
        settings.database_url_for(KEYS, login=login),
        max_size=4,
        attempts=settings.connect_attempts,
    )
    return PostgresKeyStore(pool)


class PostgresKeyStore:
    """The KeySource contract on the key store's database."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def subjects_for(self, employee_nos: Sequence[str]) -> dict[str, Subject]:
        """Each employee's pseudonym and key, made on first use, in one statement: the ones
        it inserts and the ones already there. (Two makers at once: the unique employee
        number keeps the first; the other's insert waits for it, skips, and — its statement's
        snapshot older than that row — reads it in a second statement.) The statement reads
        the table as it was before its own insert, so the two halves never name one row."""
        if not employee_nos:
            return {}
        wanted = sorted(set(employee_nos))
        rows = await self.pool.fetch(
            "WITH made AS ("
            " INSERT INTO data_subjects (subject_id, employee_no, key)"
            " SELECT * FROM unnest($2::uuid[], $1::text[], $3::bytea[])"
            " ON CONFLICT (employee_no) DO NOTHING"
            " RETURNING subject_id, employee_no, key"
            ") SELECT subject_id, employee_no, key FROM made"
            " UNION ALL SELECT subject_id, employee_no, key FROM data_subjects"
            " WHERE employee_no = ANY($1::text[])",
            wanted,
            [uuid.uuid4() for _ in wanted],
            [new_key() for _ in wanted],
        )
        missing = set(wanted) - {r["employee_no"] for r in rows}
        if missing:
            rows = [
                *rows,
                *await self.pool.fetch(
                    "SELECT subject_id, employee_no, key FROM data_subjects "
                    "WHERE employee_no = ANY($1::text[])",
                    sorted(missing),
                ),
            ]
        return {r["employee_no"]: Subject(r["subject_id"], bytes(r["key"])) for r in rows}

    async def keys(self, subject_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, bytes | None]:
        rows = await self.pool.fetch(
            "SELECT subject_id, key FROM data_subjects WHERE subject_id = ANY($1::uuid[])",
            list(subject_ids),
        )
        found = {r["subject_id"]: (bytes(r["key"]) if r["key"] is not None else None) for r in rows}
        return {s: found.get(s) for s in subject_ids}

    async def shredded(self, subject_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        rows = await self.pool.fetch(
            "SELECT subject_id FROM data_subjects"
            " WHERE subject_id = ANY($1::uuid[]) AND shredded_at IS NOT NULL",
            list(subject_ids),
        )
        return {r["subject_id"] for r in rows}

    async def subject_of(self, employee_no: str) -> uuid.UUID | None:
        """The pseudonym an employee's data is sealed under today (None: none yet)."""
        value = await self.pool.fetchval(
            "SELECT subject_id FROM data_subjects WHERE employee_no = $1", employee_no
        )
        return value if isinstance(value, uuid.UUID) else None

    async def shred(self, subject_id: uuid.UUID, at: datetime) -> bool:
        """Destroy the subject's key (and the employee number beside it); True if it was
        there to destroy, False if it was already shredded (a repeated erasure)."""
        status = await self.pool.execute(
            "UPDATE data_subjects SET key = NULL, employee_no = NULL, shredded_at = $2 "
            "WHERE subject_id = $1 AND key IS NOT NULL",
            subject_id,
            at,
        )
        return bool(status.endswith(" 1"))


@asynccontextmanager
async def keys_installed(
    settings: Settings, login: str = AUDITOR
) -> AsyncIterator[PostgresKeyStore]:
    """The key store installed in this process while the block runs (the audit's commands:
    as the auditor, who may read keys but not add or destroy them)."""
    store = await open_keystore(settings, login)
    KEYRING.install(store)
    try:
        yield store
    finally:
        KEYRING.uninstall(store)
        await store.pool.close()
