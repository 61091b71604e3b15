"""What the gateway itself forgets when the office erases an employee (docs/privacy.md
"Outside the projections"), once the nomination service has recorded the erasure:

- **evidence files**: the stored files (`/files/<sha256>/<name>`) that only the employee's
  nominations named (the nomination service lists them in its reply, read before the key was
  destroyed) are deleted from the content-addressed store, unless a nominator's draft still
  names the same bytes;
- **accounts**: an account made from the directory for the employee (user name = employee
  number), or any deactivated account naming them, keeps no real name: its user name becomes
  `erased-<8 hex of the pseudonym>`, its display name 已删除, its employee number is cleared,
  it is deactivated and its sessions, API tokens and activation codes go. The row stays (the
  account history and the access record name accounts by id). An active account that an
  administrator made for a colleague is their working sign-in, not the nomination data: it is
  left as it is (deactivate it first to have it anonymised by the erasure).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from services.gateway import drafts
from services.gateway.evidence_sweep import delete_file
from shared.filestore import FileStore, FileStoreError
from shared.logging import get_logger
from shared.personal_data import ERASED

log = get_logger(__name__)

ERASED_ACTOR = "system:erasure"
# What the account history kept about an account that is personal (accounts._describe).
PERSONAL_DETAILS = ("display_name", "employee_no", "username")


@dataclass
class Forgotten:
    drafts: int = 0
    files: int = 0
    accounts: int = 0


def erased_username(subject_id: uuid.UUID) -> str:
    return f"erased-{subject_id.hex[:8]}"


async def forget_files(pool: asyncpg.Pool, store: FileStore, digests: Sequence[str]) -> int:
    """Delete the stored files an erasure named, except those a draft still links to (at
    once: the nomination service named them as only the erased employee's; the evidence
    sweep, services/gateway/evidence_sweep.py, deletes the same way what other shreds leave)."""
    gone = 0
    for digest in digests:
        try:
            gone += await delete_file(pool, store, digest, reason="erasure")
        except FileStoreError as exc:
            # The erasure is recorded and the key destroyed: the rest still goes. The digest
            # is logged so that the operator can delete the file once the store answers.
            log.error("evidence_file_not_deleted", digest=digest, error=str(exc))
    return gone


async def forget_accounts(pool: asyncpg.Pool, employee_no: str, subject_id: uuid.UUID) -> int:
    """Anonymise the employee's directory-made accounts and deactivated accounts (see above)."""
    async with pool.acquire() as conn, conn.transaction():
        ids = [
            r["user_id"]
            for r in await conn.fetch(
                "SELECT user_id FROM users WHERE employee_no = $1 AND (provisioned OR NOT active)"
                " ORDER BY created_at, user_id FOR UPDATE",
                employee_no,
            )
        ]
        for n, user_id in enumerate(ids):
            name = erased_username(subject_id) + (f"-{n + 1}" if n else "")
            await conn.execute(
                "UPDATE users SET username = $2, display_name = $3, employee_no = NULL,"
                " active = false, updated_at = now() WHERE user_id = $1",
                user_id,
                name,
                ERASED,
            )
            await conn.execute("DELETE FROM sessions WHERE user_id = $1", user_id)
            await conn.execute("DELETE FROM api_tokens WHERE user_id = $1", user_id)
            await conn.execute("DELETE FROM activation_codes WHERE user_id = $1", user_id)
            # The account history keeps what happened, not who the person was.
            await conn.execute(
                "UPDATE account_changes SET details = details || ("
                " SELECT coalesce(jsonb_object_agg(k, $2::text), '{}'::jsonb)"
                " FROM unnest($3::text[]) AS k WHERE details ? k)"
                " WHERE user_id = $1",
                user_id,
                ERASED,
                list(PERSONAL_DETAILS),
            )
            await conn.execute(
                "INSERT INTO account_changes (at, actor, action, user_id, details)"
                " VALUES (now(), $1, 'erase', $2, $3)",
                ERASED_ACTOR,
                user_id,
                {"subject_id": str(subject_id)},
            )
    return len(ids)


async def forget_employee(
    pool: asyncpg.Pool,
    store: FileStore,
    employee_no: str,
    subject_id: uuid.UUID,
    digests: Sequence[str],
) -> Forgotten:
    """Everything above and the drafts naming the employee, after the nomination service
    recorded the erasure (the page, the API and `flowers privacy erase` all call this)."""
    done = Forgotten(
        drafts=await drafts.forget_employee(pool, employee_no),
        files=await forget_files(pool, store, digests),
        accounts=await forget_accounts(pool, employee_no, subject_id),
    )
    log.info(
        "erasure_forgotten_in_gateway",
        subject=str(subject_id),
        drafts=done.drafts,
        evidence_files=done.files,
        accounts=done.accounts,
    )
    return done
