"""A bearer token's user held a few seconds by the gateway process, never past a change:
this process's own changes at once, any other process's as soon as PostgreSQL notifies."""

from __future__ import annotations

import asyncpg
import pytest

from services.gateway.accounts import AccountStore, User, UserFields, digest
from services.gateway.database import open_database
from shared.settings import Settings
from tests.gateway.harness import FAST_HASHING
from tests.support import eventually

pytestmark = pytest.mark.integration


async def _user_with_token(accounts: AccountStore, name: str) -> tuple[User, str, str]:
    user = await accounts.create_user(
        name,
        "a-long-and-unusual-secret-42",
        UserFields(display_name="缓存用户", roles=frozenset({"nominator"}), unit_code="U01"),
        actor="test",
    )
    token, raw = await accounts.create_token(user.user_id, "ci", actor="test")
    return user, raw, str(token.token_id)


async def test_a_held_token_is_dropped_by_a_change_from_anywhere(settings: Settings) -> None:
    pool = await open_database(settings)
    other = await asyncpg.connect(settings.database_url_for("gateway"))
    accounts = AccountStore(pool, FAST_HASHING)
    try:
        await accounts.tokens.listen()
        assert accounts.tokens.listening
        user, raw, token_id = await _user_with_token(accounts, "cache.user")
        assert await accounts.user_for_token(raw) == user
        assert accounts.tokens.get(digest(raw)) == user  # held: the next request reads nothing

        # Another process (another gateway, psql) deactivates the account: dropped here.
        await other.execute("UPDATE users SET active = false WHERE user_id = $1", user.user_id)
        await eventually(lambda: accounts.tokens.get(digest(raw)) is None, what="dropped")
        assert await accounts.user_for_token(raw) is None

        await other.execute("UPDATE users SET active = true WHERE user_id = $1", user.user_id)
        await eventually(lambda: accounts.tokens.get(digest(raw)) is None, what="dropped")
        assert await accounts.user_for_token(raw) is not None
        # ... or revokes the token.
        await other.execute(
            "UPDATE api_tokens SET revoked_at = now() WHERE token_id = $1::uuid", token_id
        )
        await eventually(lambda: accounts.tokens.get(digest(raw)) is None, what="dropped")
        assert await accounts.user_for_token(raw) is None
    finally:
        await other.close()
        await accounts.tokens.close()
        await pool.close()


async def test_a_revocation_in_this_process_holds_before_the_call_returns(
    settings: Settings,
) -> None:
    pool = await open_database(settings)
    accounts = AccountStore(pool, FAST_HASHING)
    try:
        await accounts.tokens.listen()
        user, raw, _ = await _user_with_token(accounts, "cache.revoked")
        [token] = await accounts.tokens_of(user.user_id)
        assert await accounts.user_for_token(raw) == user
        await accounts.revoke_token(token.token_id, actor="test")
        assert await accounts.user_for_token(raw) is None  # no notification awaited

        user2, raw2, _ = await _user_with_token(accounts, "cache.moved")
        assert await accounts.user_for_token(raw2) == user2
        moved = await accounts.update_user(
            user2.user_id,
            UserFields(display_name="缓存用户", roles=frozenset({"nominator"}), unit_code="U02"),
            actor="test",
        )
        found = await accounts.user_for_token(raw2)
        assert found is not None
        assert found.unit_code == "U02" == moved.unit_code
    finally:
        await accounts.tokens.close()
        await pool.close()


async def test_nothing_is_held_while_the_changes_cannot_be_heard(settings: Settings) -> None:
    pool = await open_database(settings)
    other = await asyncpg.connect(settings.database_url_for("gateway"))
    accounts = AccountStore(pool, FAST_HASHING)
    try:
        user, raw, _ = await _user_with_token(accounts, "cache.deaf")
        assert await accounts.user_for_token(raw) == user
        assert accounts.tokens.get(digest(raw)) is None  # not listening: never held

        await accounts.tokens.listen()
        assert await accounts.user_for_token(raw) == user
        assert accounts.tokens.get(digest(raw)) == user
        # The listening connection is cut (PostgreSQL restarted, say): nothing held until
        # it listens again, by itself.
        listener = accounts.tokens._conn.get_server_pid()
        assert await other.fetchval("SELECT pg_terminate_backend($1)", listener)
        await eventually(lambda: not accounts.tokens.listening, what="deaf")
        assert accounts.tokens.get(digest(raw)) is None
        await eventually(lambda: accounts.tokens.listening, what="listening again")
        assert await accounts.user_for_token(raw) == user
        assert accounts.tokens.get(digest(raw)) == user
    finally:
        await other.close()
        await accounts.tokens.close()
        await pool.close()
