"""The gateway's own database `<prefix>gateway`: created when missing, schema.sql applied."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from shared.postgres import DatabaseUnavailable, create_pool, ensure_database, redact
from shared.settings import Settings

SERVICE = "gateway"
SCHEMA = (Path(__file__).parent / "schema.sql").read_text(encoding="utf-8")


async def open_database(settings: Settings, attempts: int = 1) -> asyncpg.Pool:
    """A pool on the gateway's database, which is created and brought up to date first."""
    try:
        await ensure_database(settings.database_url, settings.database_name(SERVICE))
    except (OSError, asyncpg.PostgresError) as exc:
        raise DatabaseUnavailable(
            f"PostgreSQL at {redact(settings.database_url)} refused: {exc}"
        ) from exc
    pool = await create_pool(settings.database_url_for(SERVICE), attempts=attempts)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(7243)")  # one instance applies it
        await conn.execute(SCHEMA)
    return pool
