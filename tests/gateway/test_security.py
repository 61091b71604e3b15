"""CSRF, session fixation, escaping, sign-in throttling, cookie flags, API errors."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.gateway.accounts import digest
from services.gateway.auth import PRE_COOKIE, SESSION_COOKIE
from services.gateway.config import GatewaySettings
from shared.settings import Settings
from tests.gateway.harness import (
    FAST_HASHING,
    PASSWORD,
    UNIT_A,
    Harness,
    csrf_in,
    nomination_body,
    running_gateway,
)

pytestmark = pytest.mark.integration

SCRIPT = "<script>alert('xss')</script>"


async def test_a_form_without_the_csrf_token_is_refused(gateway: Harness) -> None:
    await gateway.account("wy", {"nominator"}, unit_code=UNIT_A)
    client = await gateway.signed_in("wy")
    form = {
        "round_id": "2026-Q4",
        "employee_no": "E100",
        "category": "striving",
        "deeds": nomination_body()["deeds"],
        "recommendation": "同意",
    }
    missing = await client.post("/nominations/new", data=form)
    assert missing.status_code == 403
    assert "csrf_failed" in missing.text
    other = await gateway.signed_in("wy")  # a token of another session does not fit this one
    forged = await client.post(
        "/nominations/new", data={**form, "csrf_token": gateway.csrf_for(other)}
    )
    assert forged.status_code == 403
    assert await gateway.rpc.query("nomination", "nominations", {}) == []
    accepted = await client.post(
        "/nominations/new", data={**form, "csrf_token": gateway.csrf_for(client)}
    )
    assert accepted.status_code == 303


async def test_the_sign_in_form_needs_its_csrf_token_too(gateway: Harness) -> None:
    await gateway.account("wy", {"nominator"}, unit_code=UNIT_A)
    async with gateway.client() as client:
        refused = await client.post("/login", data={"username": "wy", "password": PASSWORD})
        assert refused.status_code == 403
        assert SESSION_COOKIE not in client.cookies


async def test_a_browser_api_call_needs_the_csrf_header_a_bearer_call_does_not(
    gateway: Harness,
) -> None:
    await gateway.account("wy", {"nominator"}, unit_code=UNIT_A)
    client = await gateway.signed_in("wy")
    without = await client.post("/api/v1/nominations", json=nomination_body())
    assert without.status_code == 403
    assert without.json()["code"] == "csrf_failed"
    me = (await client.get("/api/v1/me")).json()
    with_header = await client.post(
        "/api/v1/nominations", json=nomination_body(), headers={"X-CSRF-Token": me["csrf_token"]}
    )
    assert with_header.status_code == 201, with_header.text
    token = await gateway.token("wy")
    async with gateway.client() as api:
        reply = await api.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert reply.json()["username"] == "wy"
        assert reply.json()["csrf_token"] is None


async def test_signing_in_always_issues_a_new_session_id(gateway: Harness) -> None:
    await gateway.account("wy", {"nominator"}, unit_code=UNIT_A)
    async with gateway.client() as victim:
        victim.cookies.set(SESSION_COOKIE, "attacker-chosen-session-id", domain="testserver.local")
        await gateway.sign_in(victim, "wy")
        issued = victim.cookies.get(SESSION_COOKIE)
        assert issued
        assert issued != "attacker-chosen-session-id"
    async with gateway.client() as attacker:
        attacker.cookies.set(SESSION_COOKIE, "attacker-chosen-session-id")
        assert (await attacker.get("/")).status_code == 303  # not signed in
    # A session id a browser already had is dropped when someone signs in over it.
    browser = await gateway.signed_in("wy")
    first = browser.cookies[SESSION_COOKIE]
    again = await browser.post(
        "/login",
        data={"username": "wy", "password": PASSWORD, "csrf_token": gateway.csrf_for(browser)},
    )
    assert again.status_code == 303
    assert browser.cookies[SESSION_COOKIE] != first
    async with gateway.client() as replay:
        replay.cookies.set(SESSION_COOKIE, first)
        assert (await replay.get("/")).status_code == 303


async def test_signing_out_ends_the_session(gateway: Harness) -> None:
    await gateway.account("wy", {"nominator"}, unit_code=UNIT_A)
    client = await gateway.signed_in("wy")
    raw = client.cookies[SESSION_COOKIE]
    out = await client.post("/logout", data={"csrf_token": gateway.csrf_for(client)})
    assert out.status_code == 303
    async with gateway.client() as replay:
        replay.cookies.set(SESSION_COOKIE, raw)
        assert (await replay.get("/")).status_code == 303


async def test_the_session_cookie_is_httponly_samesite_and_secure_over_https(
    gateway: Harness,
) -> None:
    await gateway.account("wy", {"nominator"}, unit_code=UNIT_A)
    for https in (False, True):
        async with gateway.client(https=https) as client:
            response = await gateway.sign_in(client, "wy")
            cookie = next(
                v for v in response.headers.get_list("set-cookie") if v.startswith(SESSION_COOKIE)
            )
            assert "HttpOnly" in cookie
            assert "SameSite=lax" in cookie
            assert ("Secure" in cookie) is https
            assert PRE_COOKIE not in client.cookies


async def test_script_typed_into_text_fields_is_shown_as_text(gateway: Harness) -> None:
    await gateway.account("admin", {"admin"})
    admin = await gateway.signed_in("admin")
    created = await admin.post(
        "/admin/users/new",
        data={
            "csrf_token": gateway.csrf_for(admin),
            "username": "evil",
            "password": PASSWORD,
            "display_name": SCRIPT,
            "roles": "nominator",
            "unit_code": UNIT_A,
        },
    )
    assert created.status_code == 303, created.text
    users = await admin.get("/admin/users")
    assert SCRIPT not in users.text
    assert "&lt;script&gt;alert(" in users.text
    evil = await gateway.signed_in("evil")
    reply = await evil.post(
        "/api/v1/nominations",
        json=nomination_body(
            deeds=nomination_body()["deeds"] + SCRIPT,
            recommendation=SCRIPT,
            results=[{"metric": SCRIPT, "value": "1"}],
        ),
        headers={"X-CSRF-Token": gateway.csrf_for(evil)},
    )
    assert reply.status_code == 201, reply.text
    for page in (f"/nominations/{reply.json()['nomination_id']}", "/", "/nominations"):
        html = (await evil.get(page)).text
        assert SCRIPT not in html, page
    detail = (await evil.get(f"/nominations/{reply.json()['nomination_id']}")).text
    assert detail.count("&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;") >= 3
    assert "<script" not in detail.replace('<script src="/static/app.js" defer></script>', "")


async def test_sign_in_is_throttled_after_repeated_failures(gateway: Harness) -> None:
    await gateway.account("wy", {"nominator"}, unit_code=UNIT_A)
    async with gateway.client(ip="10.0.0.7") as client:
        for _ in range(3):
            failed = await gateway.sign_in(client, "wy", "wrong-password")
            assert failed.status_code in (401, 429)
            assert "用户名或密码错误" in failed.text or "登录失败次数过多" in failed.text
        locked = await gateway.sign_in(client, "wy")  # even the right password is refused now
        assert locked.status_code == 429
        assert "登录失败次数过多，请 10 分钟后再试" in locked.text
        assert SESSION_COOKIE not in client.cookies
    async with gateway.client(ip="10.0.0.8") as elsewhere:  # per username and address
        assert (await gateway.sign_in(elsewhere, "wy")).status_code == 303
    gateway.clock.advance(timedelta(minutes=11))
    async with gateway.client(ip="10.0.0.7") as later:
        assert (await gateway.sign_in(later, "wy")).status_code == 303


async def sign_in_via(
    gateway: Harness, peer: str, username: str, password: str, forwarded_for: str | None = None
) -> tuple[int, str | None, str]:
    """One sign-in from `peer` (optionally with X-Forwarded-For): status, session, page."""
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    async with gateway.client(ip=peer) as client:
        page = await client.get("/login")
        response = await client.post(
            "/login",
            data={"username": username, "password": password, "csrf_token": csrf_in(page.text)},
            headers=headers,
        )
        return response.status_code, client.cookies.get(SESSION_COOKIE), response.text


async def test_rotating_x_forwarded_for_from_an_untrusted_peer_does_not_escape_the_lock(
    gateway: Harness,
) -> None:
    """No proxy is trusted by default, not even loopback: the peer is the client."""
    await gateway.account("wy", {"nominator"}, unit_code=UNIT_A)
    for n in range(3):
        status, _, _ = await sign_in_via(gateway, "127.0.0.1", "wy", "wrong", f"203.0.113.{n}")
        assert status in (401, 429)
    status, session, page = await sign_in_via(gateway, "127.0.0.1", "wy", PASSWORD, "198.51.100.9")
    assert (status, session) == (429, None)
    assert "登录失败次数过多" in page
    rows = await gateway.state.pool.fetch(
        "SELECT key FROM throttle_failures WHERE scope = 'signin_pair'"
    )
    assert [r["key"] for r in rows] == ["127.0.0.1 wy"]  # no forwarded address was believed


async def test_x_forwarded_for_is_honoured_from_a_configured_trusted_proxy(
    settings: Settings,
) -> None:
    behind_proxy = GatewaySettings(
        **{**FAST_HASHING.model_dump(), "trusted_proxies": ("10.9.0.0/16",)}
    )
    async with running_gateway(settings, behind_proxy) as gateway:
        await gateway.account("wy", {"nominator"}, unit_code=UNIT_A)
        proxy = "10.9.0.5"
        for _ in range(3):
            status, _, _ = await sign_in_via(gateway, proxy, "wy", "wrong", "203.0.113.7")
            assert status in (401, 429)
        # The client behind the proxy is locked out, whatever it writes in front of the hop
        # the proxy appended.
        for forwarded in ("203.0.113.7", "192.0.2.66, 203.0.113.7"):
            status, session, _ = await sign_in_via(gateway, proxy, "wy", PASSWORD, forwarded)
            assert (status, session) == (429, None)
        # Another client behind the same proxy is not; its session records its own address.
        status, session, _ = await sign_in_via(gateway, proxy, "wy", PASSWORD, "203.0.113.8")
        assert status == 303
        assert session is not None
        recorded = await gateway.state.pool.fetchval(
            "SELECT client_ip FROM sessions WHERE session_hash = $1", digest(session)
        )
        assert recorded == "203.0.113.8"
        # X-Forwarded-Proto counts from the proxy only: the cookie is Secure behind TLS.
        for peer, secure in ((proxy, True), ("198.51.100.1", False)):
            async with gateway.client(ip=peer) as client:
                page = await client.get("/login", headers={"X-Forwarded-Proto": "https"})
                cookie = next(
                    v for v in page.headers.get_list("set-cookie") if v.startswith(PRE_COOKIE)
                )
                assert ("Secure" in cookie) is secure


async def test_one_password_sprayed_over_twenty_usernames_from_one_address_is_locked(
    gateway: Harness,
) -> None:
    usernames = [f"staff{n:02d}" for n in range(20)]
    for username in usernames:
        await gateway.account(username, {"staff"})
    answers = [
        (await sign_in_via(gateway, "10.0.0.66", username, "Spring2026!"))[0]
        for username in usernames
    ]
    limit = FAST_HASHING.signin_max_failures_per_address
    assert answers == [401] * (limit - 1) + [429] * (20 - limit + 1)
    # Locked is locked: even an account's right password from that address is refused ...
    status, session, page = await sign_in_via(gateway, "10.0.0.66", "staff19", PASSWORD)
    assert (status, session) == (429, None)
    assert "登录失败次数过多" in page
    # ... while the same account signs in from elsewhere.
    assert (await sign_in_via(gateway, "10.0.0.67", "staff19", PASSWORD))[0] == 303
    gateway.clock.advance(timedelta(seconds=FAST_HASHING.signin_lockout_s + 1))
    assert (await sign_in_via(gateway, "10.0.0.66", "staff19", PASSWORD))[0] == 303


async def test_one_username_attacked_from_rotating_addresses_is_locked(gateway: Harness) -> None:
    await gateway.account("wy", {"nominator"}, unit_code=UNIT_A)
    limit = FAST_HASHING.signin_max_failures_per_user
    answers = [
        (await sign_in_via(gateway, f"198.51.100.{n}", "wy", "wrong-guess-1"))[0]
        for n in range(limit + 2)
    ]
    assert answers == [401] * (limit - 1) + [429] * 3
    assert (await sign_in_via(gateway, "10.0.0.1", "wy", PASSWORD))[0] == 429


async def test_the_current_password_check_of_a_password_change_is_throttled(
    gateway: Harness,
) -> None:
    await gateway.account("wy", {"nominator"}, unit_code=UNIT_A)
    client = await gateway.signed_in("wy")
    new = "another-long-secret-9"

    async def change(current: str) -> tuple[int, str]:
        response = await client.post(
            "/account/password",
            data={
                "csrf_token": gateway.csrf_for(client),
                "current_password": current,
                "new_password": new,
                "confirm_password": new,
            },
        )
        return response.status_code, response.text

    for _ in range(FAST_HASHING.signin_max_failures - 1):
        status, page = await change("guess-number-n")
        assert status == 422
        assert "当前密码不正确" in page
    status, page = await change("guess-number-n")
    assert status == 429
    assert "当前密码输错次数过多，请 10 分钟后再试" in page
    status, page = await change(PASSWORD)  # the right one is refused too while locked
    assert status == 429
    assert await gateway.state.accounts.authenticate("wy", PASSWORD) is not None
    assert await gateway.state.accounts.authenticate("wy", new) is None
    gateway.clock.advance(timedelta(minutes=11))
    status, _ = await change(PASSWORD)
    assert status == 303
    assert await gateway.state.accounts.authenticate("wy", new) is not None


async def test_unknown_users_and_wrong_passwords_get_the_same_answer(gateway: Harness) -> None:
    await gateway.account("wy", {"nominator"}, unit_code=UNIT_A)
    async with gateway.client() as client:
        unknown = await gateway.sign_in(client, "nobody", "whatever-1")
        wrong = await gateway.sign_in(client, "wy", "whatever-1")
    assert unknown.status_code == wrong.status_code == 401
    assert csrf_in(unknown.text)
    assert "用户名或密码错误" in unknown.text


async def test_api_errors_are_problem_json_with_a_stable_code(gateway: Harness) -> None:
    await gateway.account("wy", {"nominator"}, unit_code=UNIT_A)
    token = await gateway.token("wy")
    auth = {"Authorization": f"Bearer {token}"}
    async with gateway.client() as client:
        anonymous = await client.get("/api/v1/rounds")
        assert anonymous.status_code == 401
        assert anonymous.headers["content-type"] == "application/problem+json"
        assert anonymous.json()["code"] == "unauthenticated"
        bad_token = await client.get("/api/v1/rounds", headers={"Authorization": "Bearer nope"})
        assert bad_token.status_code == 401
        invalid = await client.post("/api/v1/nominations", json={"deeds": 1}, headers=auth)
        assert invalid.status_code == 422
        assert invalid.json()["code"] == "invalid_input"
        assert {f["field"] for f in invalid.json()["details"]["fields"]} >= {"round_id", "category"}
        refused = await client.post(
            "/api/v1/nominations", json=nomination_body(deeds="短"), headers=auth
        )
        body = refused.json()
        assert refused.status_code == 422
        assert body["code"] == "deeds_length"
        assert body["message_zh"].startswith("事迹应为")
        assert body["message_en"].startswith("Deeds")
        assert body["title"] == body["message_zh"]  # Chinese by default
        await gateway.nomination.stop()
        down = await client.get("/api/v1/rounds", headers=auth)
        assert down.status_code == 503
        assert down.json()["code"] == "service_unavailable"
        page_client = await gateway.signed_in("wy")
        home = await page_client.get("/")
        assert home.status_code == 200
        assert "服务暂时不可用" in home.text
        await gateway.nomination.start()


async def test_responses_carry_security_headers(gateway: Harness) -> None:
    async with gateway.client() as client:
        response = await client.get("/login")
    assert response.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-request-id"]
