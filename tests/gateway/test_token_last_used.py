"""A bearer token's use: the user found in one statement, `last_used_at` written at most once
a minute (most requests only read: nothing to flush at commit)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.gateway.accounts import AccountStore, UserFields
from services.gateway.database import open_database
from shared.clock import FixedClock
from shared.settings import Settings
from tests.gateway.harness import FAST_HASHING

pytestmark = pytest.mark.integration


async def test_a_tokens_use_is_recorded_to_the_minute_and_a_revoked_one_finds_nobody(
    settings: Settings,
) -> None:
    clock = FixedClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    pool = await open_database(settings)
    try:
        accounts = AccountStore(pool, FAST_HASHING, clock)
        user = await accounts.create_user(
            "token.user",
            "a-long-and-unusual-secret-42",
            UserFields(display_name="令牌用户", roles=frozenset({"admin"})),
            actor="test",
        )
        token, raw = await accounts.create_token(user.user_id, "ci", actor="test")

        async def last_used() -> datetime | None:
            [listed] = await accounts.tokens_of(user.user_id)
            return listed.last_used_at

        assert await last_used() is None
        assert await accounts.user_for_token(raw) == user
        first = clock.now()
        assert await last_used() == first

        clock.advance(timedelta(seconds=59))  # within the minute: read only
        assert await accounts.user_for_token(raw) == user
        assert await last_used() == first

        clock.advance(timedelta(seconds=1))  # a minute since the last write: written
        assert await accounts.user_for_token(raw) == user
        assert await last_used() == clock.now()

        assert await accounts.user_for_token(raw + "x") is None
        assert await accounts.user_for_token("not-a-token") is None
        await accounts.revoke_token(token.token_id, actor="test")
        assert await accounts.user_for_token(raw) is None
    finally:
        await pool.close()
