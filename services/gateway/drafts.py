"""Drafts of the nomination form: what a nominator typed, saved to finish later.

A draft is the form as it was (text values only; evidence files are already in the file
store and the draft names them), one per account and round, in the gateway's database. It
is nobody else's and no event: a nomination exists only once it is submitted, and the
draft is deleted then.

A draft names its nominee in clear (employee number, deeds, recommendation), so it goes
with the nominee's personal data (README "Privacy"):
- an erasure through the gateway deletes the drafts naming the employee *before* the
  command is sent: once the key is destroyed nothing maps the fact's pseudonym back to the
  employee number a draft holds (`forget_employee`);
- a retention run (`ExpiredPersonalDataShredded`, heard on NATS) deletes every draft saved
  no later than the end of the expired nominations' rounds: a draft is saved while its
  round is open, before the result the retention time counts from (`forget_expired`).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from shared.contracts.nomination import ExpiredPersonalDataShredded
from shared.contracts.nomination import registry as nomination_events
from shared.events import RecordedEvent
from shared.logging import get_logger

log = get_logger(__name__)

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


async def forget_employee(pool: asyncpg.Pool, employee_no: str) -> int:
    """Delete every draft naming the employee (once their erasure is recorded: the gateway
    still knows the number from the request, nothing maps the pseudonym back to it later)."""
    status = await pool.execute(
        # The pool's jsonb codec stores `form` as a JSON text inside jsonb: unwrapped first.
        "DELETE FROM nomination_drafts WHERE (form #>> '{}')::jsonb ->> 'employee_no' = $1",
        employee_no,
    )
    return int(status.split()[-1])


def expired_cutoff(fact: ExpiredPersonalDataShredded) -> datetime | None:
    """No earlier than the latest time a draft of an expired nomination can have been saved:
    its round's result, i.e. the time its retention ran out less the rule's years (365 days
    a year: never before the result; a draft of a later round saved a day after it, if any,
    is over three years old as well)."""
    cutoffs = [
        s.expired_at - timedelta(days=365 * fact.years[s.rule])
        for s in fact.subjects
        if s.rule in fact.years
    ]
    return max(cutoffs, default=None)


async def forget_expired(pool: asyncpg.Pool, fact: ExpiredPersonalDataShredded) -> int:
    """Delete the drafts saved no later than the expired nominations' rounds' results."""
    cutoff = expired_cutoff(fact)
    if cutoff is None:
        return 0
    status = await pool.execute("DELETE FROM nomination_drafts WHERE saved_at <= $1", cutoff)
    return int(status.split()[-1])


async def follow_retention(nc: NatsClient, pool: asyncpg.Pool) -> Subscription:
    """Hear the retention job's runs on NATS and delete the drafts they outdate (a run
    missed while disconnected is caught by the next one: each deletes all that is older)."""

    async def heard(msg: Msg) -> None:
        try:
            envelope = RecordedEvent.model_validate_json(msg.data)
            fact = nomination_events.decode_recorded(envelope)
            if isinstance(fact, ExpiredPersonalDataShredded):
                deleted = await forget_expired(pool, fact)
                log.info(
                    "drafts_of_expired_data_deleted", drafts=deleted, run=str(envelope.event_id)
                )
        except Exception as exc:
            log.warning("retention_fact_not_applied_to_drafts", error=repr(exc))

    return await nc.subscribe(ExpiredPersonalDataShredded.subject(), cb=heard)
