"""Drafts of the nomination form: what a nominator typed, saved to finish later.

A draft is the form as it was (text values only; evidence files are already in the file
store and the draft names them), one per account and round, in the gateway's database. It
is nobody else's and no event: a nomination exists only once it is submitted, and the
draft is deleted then.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import asyncpg

# The form fields a draft keeps (the CSRF token and the like are not).
FIELDS = (
    "nomination_id",
    "employee_no",
    "category",
    "deeds",
    "results",
    "evidence_links",
    "evidence_files",
    "recommendation",
)


async def save(
    pool: asyncpg.Pool, user_id: uuid.UUID, round_id: str, values: dict[str, Any], now: datetime
) -> None:
    form = {k: values[k] for k in FIELDS if k in values}
    await pool.execute(
        """
        INSERT INTO nomination_drafts (user_id, round_id, form, saved_at)
        VALUES ($1, $2, $3::jsonb, $4)
        ON CONFLICT (user_id, round_id) DO UPDATE SET form = excluded.form,
            saved_at = excluded.saved_at
        """,
        user_id,
        round_id,
        json.dumps(form, ensure_ascii=False),
        now,
    )


async def load(
    pool: asyncpg.Pool, user_id: uuid.UUID, round_id: str
) -> tuple[dict[str, Any], datetime] | None:
    row = await pool.fetchrow(
        "SELECT form, saved_at FROM nomination_drafts WHERE user_id = $1 AND round_id = $2",
        user_id,
        round_id,
    )
    if row is None:
        return None
    form = row["form"]
    return (json.loads(form) if isinstance(form, str) else dict(form)), row["saved_at"]


async def delete(pool: asyncpg.Pool, user_id: uuid.UUID, round_id: str) -> None:
    await pool.execute(
        "DELETE FROM nomination_drafts WHERE user_id = $1 AND round_id = $2", user_id, round_id
    )
