"""Passwords and what a new one (or a closed account) ends: the policy, sessions, API tokens."""

from __future__ import annotations

import pytest

from tests.gateway.harness import PASSWORD, Harness

pytestmark = pytest.mark.integration

SHORT = "Kx9-short"  # nine characters
COMMON = "qwertyuiop"  # long enough, but a top-100 password
OWN_NAME = "zhangwei2026"  # guessable from the account's own username
STRONG = "hedge-lantern-river-7"


async def test_weak_and_short_passwords_are_refused_with_the_reason_in_chinese(
    gateway: Harness,
) -> None:
    await gateway.account("admin", {"admin"})
    admin = await gateway.signed_in("admin")
    token = gateway.csrf_for(admin)
    new_user = {"csrf_token": token, "username": "zhangwei", "display_name": "张伟"}
    for password, reason in (
        (SHORT, "密码至少需要 10 个字符。"),
        (COMMON, "密码过于常见或容易猜到：这是最常用的 100 个密码之一。"),
        (OWN_NAME, "密码过于常见或容易猜到：请使用更长、不常见的词组合"),
    ):
        refused = await admin.post(
            "/admin/users/new", data={**new_user, "password": password, "roles": "staff"}
        )
        assert refused.status_code == 422, password
        assert reason in refused.text, password
    assert await gateway.state.accounts.by_username("zhangwei") is None

    # The JSON API gives the same reason, per field.
    auth = {"Authorization": f"Bearer {await gateway.token('admin')}"}
    async with gateway.client() as api:
        body = {"username": "zhangwei", "display_name": "张伟", "roles": ["staff"]}
        refused = await api.post("/api/v1/users", json={**body, "password": COMMON}, headers=auth)
        assert refused.status_code == 422
        [field] = refused.json()["details"]["fields"]
        assert field["field"] == "password"
        assert field["message_zh"] == "密码过于常见或容易猜到：这是最常用的 100 个密码之一。"
        created = await api.post("/api/v1/users", json={**body, "password": STRONG}, headers=auth)
        assert created.status_code == 201, created.text
        user_id = created.json()["user_id"]

    # An administrator's reset, and the user's own change, are held to the same rule.
    reset = await admin.post(
        f"/admin/users/{user_id}/password", data={"csrf_token": token, "new_password": SHORT}
    )
    assert reset.status_code == 422
    assert "密码至少需要 10 个字符。" in reset.text
    client = gateway.client()
    assert (await gateway.sign_in(client, "zhangwei", STRONG)).status_code == 303
    own = await client.post(
        "/account/password",
        data={
            "csrf_token": gateway.csrf_for(client),
            "current_password": STRONG,
            "new_password": COMMON,
            "confirm_password": COMMON,
        },
    )
    assert own.status_code == 422
    assert "密码过于常见或容易猜到：这是最常用的 100 个密码之一。" in own.text
    assert await gateway.state.accounts.authenticate("zhangwei", STRONG) is not None
    await client.aclose()
    await admin.aclose()


async def me_with(gateway: Harness, token: str) -> int:
    async with gateway.client() as api:
        reply = await api.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        return reply.status_code


async def test_changing_ones_password_revokes_the_tokens_and_ends_the_other_sessions(
    gateway: Harness,
) -> None:
    await gateway.account("payroll", {"payroll"})
    token = await gateway.token("payroll")
    assert await me_with(gateway, token) == 200
    here = await gateway.signed_in("payroll")
    elsewhere = await gateway.signed_in("payroll", ip="10.0.0.2")
    changed = await here.post(
        "/account/password",
        data={
            "csrf_token": gateway.csrf_for(here),
            "current_password": PASSWORD,
            "new_password": STRONG,
            "confirm_password": STRONG,
        },
    )
    assert changed.status_code == 303
    assert changed.headers["location"] == "/account?msg=password_changed"
    assert await me_with(gateway, token) == 401
    assert (await here.get("/account")).status_code == 200  # this browser stays signed in
    assert (await elsewhere.get("/account")).status_code == 303  # the other one does not
    [record] = await gateway.state.accounts.tokens_of(gateway.users["payroll"].user_id)
    assert record.revoked_at is not None
    await here.aclose()
    await elsewhere.aclose()


async def test_a_password_reset_revokes_the_tokens_and_ends_every_session(
    gateway: Harness,
) -> None:
    await gateway.account("admin", {"admin"})
    payroll = await gateway.account("payroll", {"payroll"})
    token = await gateway.token("payroll")
    session = await gateway.signed_in("payroll")
    admin = await gateway.signed_in("admin")
    reset = await admin.post(
        f"/admin/users/{payroll.user_id}/password",
        data={"csrf_token": gateway.csrf_for(admin), "new_password": STRONG},
    )
    assert reset.status_code == 303
    assert await me_with(gateway, token) == 401
    assert (await session.get("/account")).status_code == 303
    await session.aclose()
    await admin.aclose()


async def test_deactivation_revokes_the_tokens_for_good(gateway: Harness) -> None:
    await gateway.account("admin", {"admin"})
    payroll = await gateway.account("payroll", {"payroll"})
    token = await gateway.token("payroll")
    session = await gateway.signed_in("payroll")
    auth = {"Authorization": f"Bearer {await gateway.token('admin')}"}
    fields = {"display_name": "测试 payroll", "roles": ["payroll"]}
    async with gateway.client() as api:
        closed = await api.put(
            f"/api/v1/users/{payroll.user_id}", json={**fields, "active": False}, headers=auth
        )
        assert closed.status_code == 200, closed.text
        assert await me_with(gateway, token) == 401
        assert (await session.get("/account")).status_code == 303
        reopened = await api.put(
            f"/api/v1/users/{payroll.user_id}", json={**fields, "active": True}, headers=auth
        )
        assert reopened.json()["active"] is True
    assert await me_with(gateway, token) == 401  # reactivation brings no old token back
    async with gateway.client() as browser:
        assert (await gateway.sign_in(browser, "payroll")).status_code == 303
    fresh = await gateway.token("payroll")
    assert await me_with(gateway, fresh) == 200
    changes = await gateway.state.pool.fetch(
        "SELECT details FROM account_changes WHERE action = 'token_revoked' AND user_id = $1",
        payroll.user_id,
    )
    assert [c["details"]["reason"] for c in changes] == ["deactivated"]
    await session.aclose()
