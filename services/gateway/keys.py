"""The key store of personal data (shared/keystore.py) as the gateway reads it: as the auditor,
whose role may SELECT keys and pseudonyms and neither add nor destroy one.

Two uses, both on demand: opening the sealed values of one event for an auditor who asked to
see them (the opening is logged: services/gateway/access_log.py), and finding the pseudonym an
employee's sealed data is named by in the access record (its filter by employee number). The
gateway never installs these keys in the process's keyring: nothing it decodes is opened
unless asked.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from services.gateway.problems import Problem
from shared.database_roles import AUDITOR, KEYS
from shared.keystore import PostgresKeyStore
from shared.settings import Settings

READ_ONLY = {
    "default_transaction_read_only": "on",
    "statement_timeout": "5000",
    "application_name": "gateway-keys",
}
UNAVAILABLE = (
    "个人信息密钥库暂时无法连接，请稍后再试。",
    "The key store of personal data is unreachable; try again later.",
)


@asynccontextmanager
async def key_store(settings: Settings) -> AsyncIterator[PostgresKeyStore]:
    """The key store, read-only as the auditor, for one request."""
    try:
        pool: asyncpg.Pool = await asyncpg.create_pool(
            settings.database_url_for(KEYS, login=AUDITOR),
            min_size=1,
            max_size=1,
            timeout=5,
            server_settings=READ_ONLY,
        )
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise Problem(503, "keys_unavailable", UNAVAILABLE, error=type(exc).__name__) from exc
    try:
        yield PostgresKeyStore(pool)
    finally:
        await pool.close()


async def pseudonym_of(settings: Settings, employee_no: str) -> uuid.UUID | None:
    """The pseudonym the employee's data is sealed under (None: none, or erased)."""
    async with key_store(settings) as store:
        return await store.subject_of(employee_no)
