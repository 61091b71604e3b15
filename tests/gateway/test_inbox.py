"""The bell and the inbox through the gateway: the office puts a panelist on the panel, the
notification service tells the panelist; the bell counts it, the inbox shows it with its link,
marking it read empties the bell — for that user only."""

from __future__ import annotations

from typing import Any

import pytest

from tests.gateway.harness import ROUND, Harness
from tests.support import eventually

pytestmark = pytest.mark.integration


async def test_a_panelist_hears_of_the_assignment_in_the_bell_and_the_inbox(
    gateway: Harness,
) -> None:
    users = await gateway.role_accounts()
    office = await gateway.token("office")
    panelist = await gateway.token("panelist")
    other = await gateway.token("staff")
    async with gateway.client() as client:

        def as_(token: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {token}"}

        assigned = await client.post(
            f"/api/v1/review/rounds/{ROUND}/panel",
            json={"user_id": str(users["panelist"].user_id), "employee_no": "E201"},
            headers=as_(office),
        )
        assert assigned.status_code == 201, assigned.text

        async def told() -> bool:
            reply = await client.get("/api/v1/inbox/unread", headers=as_(panelist))
            return bool(reply.json()["unread"] == 1)

        await eventually(told, timeout=15, what="the panelist told")
        box: dict[str, Any] = (await client.get("/api/v1/inbox", headers=as_(panelist))).json()
        (item,) = box["items"]
        assert item["rule"] == "panelist_assigned"
        assert item["link"] == "/review/scoring"
        assert "评审专家" in item["title"]
        # Nobody else hears of it.
        assert (await client.get("/api/v1/inbox", headers=as_(other))).json() == {
            "unread": 0,
            "items": [],
        }
        # Someone else cannot mark it read; the panelist can, once.
        refused = await client.post(
            f"/api/v1/inbox/{item['notification_id']}/read", headers=as_(other)
        )
        assert refused.status_code == 404
        read = await client.post(
            f"/api/v1/inbox/{item['notification_id']}/read", headers=as_(panelist)
        )
        assert read.json()["events"] == ["NotificationRead"]
        assert (await client.get("/api/v1/inbox/unread", headers=as_(panelist))).json() == {
            "unread": 0
        }

    # The page: the bell in the top bar, the inbox with the link and no unread mark left.
    browser = await gateway.signed_in("panelist")
    try:
        page = await browser.get("/inbox")
    finally:
        await browser.aclose()
    assert page.status_code == 200
    assert 'class="bell" href="/inbox"' in page.text
    assert 'href="/review/scoring"' in page.text
    assert "评审专家" in page.text
    assert "标记为已读" not in page.text


async def test_a_user_sets_an_email_address_and_quiet_hours_on_the_settings_page_and_the_api(
    gateway: Harness,
) -> None:
    await gateway.role_accounts()
    browser = await gateway.signed_in("staff")
    try:
        page = await browser.get("/settings/notifications")
        assert page.status_code == 200
        assert "通知设置" in page.text
        assert "只接收不涉及个人的通知" in page.text
        csrf = gateway.csrf_for(browser)
        bad = await browser.post(
            "/settings/notifications",
            data={"csrf_token": csrf, "email": "不是邮箱", "by_email": "on"},
        )
        assert bad.status_code == 422
        assert "通知设置有误：电子邮箱地址格式不正确" in bad.text
        saved = await browser.post(
            "/settings/notifications",
            data={
                "csrf_token": csrf,
                "email": "staff@example.cn",
                "by_email": "on",
                "quiet": "on",
                "quiet_start": "21:30",
                "quiet_end": "07:00",
            },
        )
        assert saved.status_code == 303
        shown = await browser.get(saved.headers["location"])
        assert "通知设置已保存。" in shown.text
        assert 'value="staff@example.cn"' in shown.text
        assert 'value="21:30"' in shown.text
    finally:
        await browser.aclose()

    token = await gateway.token("staff")
    async with gateway.client() as client:
        auth = {"Authorization": f"Bearer {token}"}
        got = (await client.get("/api/v1/notification-settings", headers=auth)).json()
        assert (got["email"], got["channels"], got["quiet_start"], got["quiet_end"]) == (
            "staff@example.cn",
            ["email", "inbox"],
            "21:30",
            "07:00",
        )
        put = await client.put(
            "/api/v1/notification-settings",
            json={"email": None, "channels": ["inbox"]},
            headers=auth,
        )
        assert put.status_code == 200, put.text
        assert (put.json()["channels"], put.json()["quiet_start"]) == (["inbox"], None)
        refused = await client.put(
            "/api/v1/notification-settings",
            json={"channels": ["inbox", "email"]},
            headers=auth,
        )
        assert refused.status_code == 422
        assert "须填写电子邮箱地址" in refused.text
