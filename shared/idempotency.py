"""Commands sent again with the same idempotency key get the first answer, not a second act.

A person's form (a hidden field) or an API client (`Idempotency-Key`) names each command;
the gateway passes the key to the service in the request header `Flowers-Idempotency-Key`
(shared/rpc.py). The service keeps, in its own database, the answer to each command it
carried out, by (who acted, subject, key): the command sent again — after a time-out, a
double click, a reload — is answered from there, whatever its body says now (an API
request sent again may differ in what the gateway fills in, a fresh nomination id say).

Only what was done is kept: a refusal (invalid input, a rule, a conflict, an outage) changes
nothing, so the command sent again is decided again. A command sent again while the first is
still being carried out waits for its answer (a few seconds), else is told it is in progress.
If the process died while carrying it out, the claim is taken over after `STALE_S`.
The one gap: a process that dies after its transaction committed and before the answer is
written leaves the command to be decided again after `STALE_S` (the domain then refuses a
repeat where it can: a nomination's id comes from the form, for one).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from shared.logging import get_logger

log = get_logger(__name__)

STALE_S = 60.0  # a claim this old without an answer is a dead process's: taken over
WAIT_S = 3.0  # how long a repeat waits for the first's answer (the gateway waits 5 s)
KEEP_S = 7 * 24 * 3600.0  # answers are kept this long
MAX_KEY_LENGTH = 200

Answer = dict[str, Any]


class CommandReplies:
    """The answers to commands carried out under an idempotency key (table command_replies)."""

    def __init__(self, pool: asyncpg.Pool, *, wait_s: float = WAIT_S, stale_s: float = STALE_S):
        self.pool = pool
        self.wait_s = wait_s
        self.stale_s = stale_s
        self._pruned = 0.0

    async def once(
        self,
        actor: str,
        subject: str,
        key: str,
        body: bytes,
        run: Callable[[], Awaitable[Answer]],
        in_progress: Answer,
    ) -> Answer:
        """The first answer to this command if it was carried out; else carry it out now."""
        scope = (actor, subject, key, hashlib.sha256(body).hexdigest())
        deadline = time.monotonic() + self.wait_s
        while not await self._claim(scope):
            row = await self.pool.fetchrow(
                "SELECT reply, claimed_at < clock_timestamp() - make_interval(secs => $4) "
                "AS stale FROM command_replies "
                "WHERE actor = $1 AND subject = $2 AND key = $3",
                *scope[:3],
                self.stale_s,
            )
            if row is None:
                continue  # the first attempt was refused meanwhile: claim it again
            if row["reply"] is not None:
                log.info("command_answered_again", subject=subject)
                answer: Answer = row["reply"]
                return answer
            if row["stale"] and await self._take_over(scope):
                break
            if time.monotonic() >= deadline:
                return in_progress
            await asyncio.sleep(0.05)
        try:
            answer = await run()
        except BaseException:
            await self._release(scope)
            raise
        if answer.get("ok"):
            await self.pool.execute(
                "UPDATE command_replies SET reply = $4::text::jsonb, "
                "answered_at = clock_timestamp() "
                "WHERE actor = $1 AND subject = $2 AND key = $3",
                *scope[:3],
                json.dumps(answer, ensure_ascii=False, default=str),  # as the reply is sent
            )
        else:
            await self._release(scope)  # nothing was done: sent again, it is decided again
        await self._prune()
        return answer

    async def _claim(self, scope: tuple[str, str, str, str]) -> bool:
        claimed = await self.pool.fetchval(
            "INSERT INTO command_replies (actor, subject, key, body_sha256) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING true",
            *scope,
        )
        return bool(claimed)

    async def _take_over(self, scope: tuple[str, str, str, str]) -> bool:
        taken = await self.pool.fetchval(
            "UPDATE command_replies SET claimed_at = clock_timestamp() "
            "WHERE actor = $1 AND subject = $2 AND key = $3 "
            "AND reply IS NULL AND claimed_at < clock_timestamp() - make_interval(secs => $4) "
            "RETURNING true",
            *scope[:3],
            self.stale_s,
        )
        return bool(taken)

    async def _release(self, scope: tuple[str, str, str, str]) -> None:
        try:
            await self.pool.execute(
                "DELETE FROM command_replies "
                "WHERE actor = $1 AND subject = $2 AND key = $3 AND reply IS NULL",
                *scope[:3],
            )
        except Exception as exc:  # the claim then goes stale and is taken over
            log.warning("command_claim_not_released", error=repr(exc))

    async def _prune(self) -> None:
        """Forget answers older than KEEP_S, at most once an hour per process."""
        now = time.monotonic()
        if self._pruned and now - self._pruned < 3600:
            return
        self._pruned = now
        await self.pool.execute(
            "DELETE FROM command_replies "
            "WHERE claimed_at < clock_timestamp() - make_interval(secs => $1)",
            KEEP_S,
        )
