"""CSRF, session fixation, escaping, sign-in throttling, cookie flags, API errors."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.gateway.auth import PRE_COOKIE, SESSION_COOKIE
from tests.gateway.harness import PASSWORD, UNIT_A, Harness, csrf_in, nomination_body

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
