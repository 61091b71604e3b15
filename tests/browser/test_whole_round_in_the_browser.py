"""A whole round through the UI, in Chinese, in a real browser: the nominator submits, the
office accepts that very nomination, three panelists score, the leader decides, a staff member
objects, the office dismisses the objection and — past the notice's end on the clock the
services and the gateway share — publishes; payroll exports the winner's award and publicity
approves a draft. Each role's home page is saved as a screenshot (desktop width; the phone
width of each part is covered by the other browser tests).

Only the set-up goes through the harness: the directory and the open round (the gateway
harness), the accounts, and the one clock moved past the notice's end. Between steps the test
waits, by querying the services, for the bus to carry the nomination to the review and the
published result to rewards and publicity; every step of the round is a click in the browser.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import Served
from tests.browser.test_nominator_in_the_browser import nominate
from tests.browser.test_review_in_the_browser import (
    CRITERIA,
    SCORES,
    Browsing,
    announce,
    close_nominations,
    dismiss_the_objection,
    object_under_own_name,
    publish_after_the_notice,
)
from tests.gateway.harness import ROUND, Harness
from tests.gateway.review_setup import PANEL_EMPLOYEE_NO, review_accounts
from tests.support import eventually

pytestmark = pytest.mark.integration

WIDTH = 1280
NOMINEE = "张伟"  # E100, 物业服务中心, nominated for 拼搏之花 by the nominator of unit WY
NOMINATION_URL = re.compile(r"/nominations/([0-9a-f-]{36})")
PANEL = ("p_go", "p_fin", "p_em")


class WholeRound(Browsing):
    """Browsing at desktop width, saving each role's home page as whole-round-home-<role>."""

    async def home_shot(self, page: Page, role: str) -> None:
        await page.goto(f"{self.url}/")
        await self.fits(page)
        await page.screenshot(
            path=str(self.artifacts / f"whole-round-home-{role}.png"), full_page=True
        )


async def reached_the_review(harness: Harness, nomination_id: str) -> None:
    async def arrived() -> bool:
        rows = await harness.rpc.query("review", "candidates", {"round_id": ROUND})
        return nomination_id in {r["nomination_id"] for r in rows}

    await eventually(arrived, timeout=15, what="the nomination to reach the review")


async def paid_and_drafted(harness: Harness) -> None:
    """The published result travels the bus to rewards and publicity."""

    async def paid() -> bool:
        feed = await harness.rpc.query("rewards", "adjustments", {"after": 0})
        return len(feed["items"]) == 1

    async def drafted() -> bool:
        return len(await harness.rpc.query("publicity", "drafts", {"round_id": ROUND})) >= 4

    await eventually(paid, timeout=20, what="rewards to issue the payroll adjustment")
    await eventually(drafted, timeout=20, what="publicity to draft the materials")


async def sees_outcome(b: Browsing, nominator: Page, nomination_id: str, outcome: str) -> None:
    """The unit reads its nomination's outcome, in words, on its home page and on the
    nomination's own page."""
    await nominator.goto(f"{b.url}/")
    await expect(nominator.locator("table.list tbody tr", has_text=NOMINEE)).to_contain_text(
        outcome
    )
    await nominator.goto(f"{b.url}/nominations/{nomination_id}")
    await expect(nominator.locator("dl.facts")).to_contain_text(outcome)


async def score_the_nominee(b: Browsing, username: str, first: bool) -> None:
    page = await b.signed_in(username)
    await expect(page.locator(".panel", has_text="待评分")).to_contain_text(NOMINEE)
    if first:
        await b.home_shot(page, "panelist")
    await b.menu(page, "/review/scoring")
    await page.click(f"ul.worklist a:has-text('{NOMINEE}')")
    await expect(page.locator("h1")).to_contain_text(NOMINEE)
    for criterion, value in zip(CRITERIA, SCORES[username][0], strict=True):
        await page.fill(f"#criterion_{criterion}", value)
    await page.click("button:has-text('提交评分')")
    await expect(page.locator(".flash.ok")).to_have_text("评分已提交。")
    await page.click("text=返回评分列表")
    await expect(page.locator("text=目前没有需要您评分的提名。")).to_be_visible()
    await expect(page.locator("table.list")).to_contain_text(NOMINEE)


async def test_a_whole_round_through_the_ui(
    served: Served, browser: Browser, artifacts: Path
) -> None:
    harness = served.harness
    rr = await review_accounts(harness)
    await harness.account("finance", {"payroll"}, display_name="财务部 林文博")
    await harness.account("pm", {"publicity"}, display_name="党群工作部 黄海燕")
    b = WholeRound(browser, served, artifacts, WIDTH)
    try:
        # The nominator of unit WY nominates 张伟 for 拼搏之花.
        nominator = await b.signed_in("wy")
        await nominate(nominator, b.url)
        found = NOMINATION_URL.search(nominator.url)
        assert found, f"not on the nomination's page: {nominator.url}"
        nomination_id = found.group(1)
        await b.home_shot(nominator, "nominator")
        mine = nominator.locator("table.list tbody tr")
        await expect(mine).to_have_count(1)
        await expect(mine).to_contain_text(NOMINEE)
        await expect(mine).to_contain_text("待审核")
        await reached_the_review(harness, nomination_id)

        # The office accepts that nomination and puts three departments on the panel.
        office = await b.signed_in("office")
        await expect(office.locator(".panel", has_text="评审待办")).to_contain_text(
            "1 个提名待审核"
        )
        await b.home_shot(office, "office")
        await b.menu(office, "/review/audits")
        audit = office.locator(f"#audit-{nomination_id}")
        await expect(audit).to_contain_text(NOMINEE)
        await expect(audit).to_contain_text("拼搏之花")
        await audit.locator("button:has-text('通过')").click()
        await expect(office.locator(".flash.ok")).to_have_text("已通过资格审核。")
        await expect(office.locator("text=没有待审核的提名。")).to_be_visible()
        await expect(office.locator("table.list")).to_contain_text(NOMINEE)
        await b.menu(office, "/review/panel")
        for username in PANEL:
            form = office.locator("form", has=office.locator(f"input[value='{rr.id(username)}']"))
            if username in PANEL_EMPLOYEE_NO:  # the account has no employee number
                await form.locator("input[name=employee_no]").fill(PANEL_EMPLOYEE_NO[username])
            await form.locator("button").click()
            await expect(office.locator(".flash.ok")).to_have_text("已加入评审组。")

        # Three panelists of three departments score 张伟.
        for i, username in enumerate(PANEL):
            await score_the_nominee(b, username, first=i == 0)

        # The unit sees its nomination under evaluation (no longer 待审核).
        await sees_outcome(b, nominator, nomination_id, "评审中")

        # The office closes the round's nominations: nothing is decided before.
        await close_nominations(b, office)

        # The leader sees 张伟 ranked first, preselected, and decides.
        leader = await b.signed_in("leader")
        await expect(leader.locator(".panel", has_text="确定人选")).to_contain_text("拼搏之花")
        await b.home_shot(leader, "leader")
        await b.menu(leader, "/review/ranking")
        striving = leader.locator("#category-striving")
        await expect(striving.locator("table.ranking tbody tr").first).to_contain_text(NOMINEE)
        await expect(striving.locator(f"input[value='{nomination_id}']")).to_be_checked()
        await striving.locator("button:has-text('确定人选')").click()
        await expect(leader.locator(".flash.ok")).to_have_text("已确定拟表彰人选。")
        await expect(leader.locator("#category-striving")).to_contain_text("已确定，排名冻结")

        await announce(b, office)
        await sees_outcome(b, nominator, nomination_id, "拟表彰（公示中）")
        staff = await object_under_own_name(b, NOMINEE)
        await dismiss_the_objection(b, office)
        office = await publish_after_the_notice(b, harness, office)
        staff = await b.signed_in("staff", staff)
        await b.menu(staff, "/review/results")
        await expect(staff.locator(f"#result-{ROUND}")).to_contain_text(NOMINEE)
        await expect(staff.locator(f"#result-{ROUND}")).to_contain_text("拼搏之花")
        await paid_and_drafted(harness)

        # The unit sees its outcome: 已表彰 on its home page and the nomination's page.
        nominator = await b.signed_in("wy", nominator)
        await sees_outcome(b, nominator, nomination_id, "已表彰")

        # Payroll exports the period with 张伟's award of 500.00.
        payroll = await b.signed_in("finance")
        panel = payroll.locator(".panel[data-role=payroll]")
        await expect(panel.locator("h3").first).to_have_text("待确认入账")
        await b.home_shot(payroll, "payroll")
        await panel.locator("a.button.primary", has_text="确认入账").first.click()
        await expect(payroll.locator("h1")).to_contain_text("工资调整")
        row = payroll.locator("table.list tbody tr", has_text=NOMINEE)
        await expect(row).to_contain_text("500.00")
        await expect(row).to_contain_text("待确认")
        async with payroll.expect_download() as started:
            await payroll.click("text=导出 CSV（UTF-8）")
        download = await started.value
        saved = b.artifacts / f"whole-round-{download.suggested_filename}"
        await download.save_as(saved)
        content = await asyncio.to_thread(saved.read_bytes)
        header, *lines = csv.reader(io.StringIO(content.decode("utf-8-sig")))
        exported = [dict(zip(header, line, strict=True)) for line in lines]
        assert [(e["工号"], e["姓名"], e["金额"], e["币种"]) for e in exported] == [
            ("E100", NOMINEE, "500.00", "CNY")
        ]
        assert exported[0]["花类"] == "拼搏之花"
        assert exported[0]["评选轮次"] == "2026年第四季度"

        # Publicity opens the round's honor roll draft, sees 张伟 on it, and approves it.
        publicity = await b.signed_in("pm")
        todo = publicity.locator(".panel[data-role=publicity]")
        await expect(todo).to_contain_text("2026年第四季度")
        await expect(todo).to_contain_text("光荣榜")
        await b.home_shot(publicity, "publicity")
        await todo.locator("a", has_text="光荣榜").click()
        await expect(publicity.locator("h1")).to_contain_text("光荣榜")
        preview = publicity.frame_locator("iframe.preview")
        await expect(preview.locator("body")).to_contain_text(NOMINEE)
        await expect(publicity.locator(".facts")).to_contain_text("待审核")
        await publicity.click("button:has-text('审核通过')")
        await expect(publicity.locator(".flash.ok")).to_have_text("已审核通过。")
        await expect(publicity.locator(".facts")).to_contain_text("已审核")
    finally:
        await b.close()

    # What the services recorded agrees with what the pages showed.
    result = await harness.rpc.query("review", "result", {"round_id": ROUND})
    assert [(w["nomination_id"], w["name"]) for w in result["winners"]] == [
        (nomination_id, NOMINEE)
    ]
    [objection] = await harness.rpc.query("review", "objections", {"round_id": ROUND})
    assert (objection["raiser_name"], objection["status"]) == ("张小伟", "dismissed")
