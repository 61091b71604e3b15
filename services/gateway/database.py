"""The gateway's own database `<prefix>gateway`, reached as the gateway's own role.

The database, its roles and schema.sql are made by provisioning (`flowers up`, `flowers db
migrate`, or here when the settings carry an admin URL: the test suite's in-process gateway).
"""

from __future__ import annotations

from pathlib import Path

import asyncpg

from shared import database_roles
from shared.audit import access_log_grants
from shared.postgres import DatabaseUnavailable, create_pool, redact
from shared.settings import Settings

SERVICE = "gateway"
SCHEMA = (Path(__file__).parent / "schema.sql").read_text(encoding="utf-8")


async def open_database(settings: Settings, attempts: int = 1) -> asyncpg.Pool:
    """A pool on the gateway's database as the gateway's role (never an owner or superuser)."""
    try:
        await database_roles.prepare(
            settings, SERVICE, SCHEMA, access_log_grants(settings), store=False
        )
    except (OSError, asyncpg.PostgresError) as exc:
        raise DatabaseUnavailable(
            f"PostgreSQL at {redact(settings.database_url)} refused: {exc}"
        ) from exc
    pool = await create_pool(settings.database_url_for(SERVICE), attempts=attempts)
    try:
        await database_roles.require_schema(pool, "users", settings, SERVICE)
    except BaseException:
        await pool.close()
        raise
    return pool
