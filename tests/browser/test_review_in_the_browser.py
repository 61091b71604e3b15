"""The review part of a round in a real browser, in Chinese: the office audits and sets up the
panel, three panelists score, the leader decides, the office starts the notice, a staff member
objects under their name, the office dismisses the objection and — past the notice's end on
the clock the services and the gateway share — publishes. Once at desktop width, once at
375 px; each role's home page is saved as a screenshot."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import Served, confirm_dialogs
from tests.gateway.harness import PASSWORD, ROUND, Harness
from tests.gateway.review_setup import ReviewRound, after_the_notice, review_round
from tests.support import eventually

pytestmark = pytest.mark.integration

SCORES = {  # panelist: (张伟's sheet, 赵强's sheet)
    "p_go": (("95", "90", "88", "92"), ("80", "78", "75", "82")),
    "p_fin": (("90", "92", "85", "90"), ("82", "80", "70", "85")),
    "p_em": (("93", "88", "90", "95"), ("78", "75", "80", "80")),
}
CRITERIA = ("achievements", "exemplary_role", "innovation", "recognition")


class Browsing:
    """One browser context per account (each its own cookies), at one viewport width."""

    def __init__(self, browser: Browser, served: Served, artifacts: Path, width: int) -> None:
        self.browser = browser
        self.url = served.url
        self.harness = served.harness
        self.artifacts = artifacts
        self.width = width
        self.contexts: list[BrowserContext] = []

    async def page(self) -> Page:
        phone = self.width < 500
        context = await self.browser.new_context(
            viewport={"width": self.width, "height": 812 if phone else 900},
            device_scale_factor=2 if phone else 1,
            is_mobile=phone,
            has_touch=phone,
            locale="zh-CN",
        )
        self.contexts.append(context)
        page = await context.new_page()
        confirm_dialogs(page)
        return page

    async def signed_in(self, username: str, page: Page | None = None) -> Page:
        page = page or await self.page()
        await page.goto(f"{self.url}/login")
        await page.fill("#username", username)
        await page.fill("#password", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{self.url}/")
        return page

    async def home_shot(self, page: Page, role: str) -> None:
        await page.goto(f"{self.url}/")
        await self.fits(page)
        await page.screenshot(
            path=str(self.artifacts / f"review-home-{role}-{self.width}px.png"), full_page=True
        )

    async def fits(self, page: Page) -> None:
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= self.width, f"{page.url} is {width} px wide at {self.width} px"

    async def menu(self, page: Page, path: str) -> None:
        folded = page.locator("nav.mainnav details.menu:not([open]) > summary")
        if await folded.count():  # a phone: the menu opens first
            await folded.click()
        await page.click(f"nav.mainnav a[href='{path}']")
        await page.wait_for_url(f"{self.url}{path}*")

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()


async def audit_and_set_up_the_panel(b: Browsing, rr: ReviewRound) -> Page:
    n = rr.nominations
    office = await b.signed_in("office")
    await expect(office.locator(".panel h2", has_text="评审待办")).to_be_visible()
    await b.home_shot(office, "office")
    await b.menu(office, "/review/audits")
    for employee_no in ("E100", "E200", "E201"):
        await office.click(f"#audit-{n[employee_no]} button:has-text('通过')")
        await expect(office.locator(".flash.ok")).to_have_text("已通过资格审核。")
    rejected = office.locator(f"#audit-{n['E101']}")
    await rejected.locator("summary", has_text="驳回").click()
    await rejected.locator("textarea[name=reason]").fill("事迹材料缺少单位盖章，请补充后再报。")
    await rejected.locator("button:has-text('驳回')").click()
    await expect(office.locator(".flash.ok")).to_have_text("已驳回，理由将告知提名单位。")
    await expect(office.locator("text=没有待审核的提名。")).to_be_visible()
    await b.fits(office)

    # The unit is told: 已驳回, with the office's reason, on its home page.
    unit = await b.signed_in("wy")
    told = unit.locator("table.list tbody tr", has_text="李娜")
    await expect(told).to_contain_text("已驳回")
    await expect(told).to_contain_text("事迹材料缺少单位盖章，请补充后再报。")

    await b.menu(office, "/review/panel")
    for username in ("p_go", "p_fin", "p_em"):
        form = office.locator("form", has=office.locator(f"input[value='{rr.id(username)}']"))
        if username == "p_fin":  # the account has no employee number: the form asks for it
            await form.locator("button").click()
            await expect(office.locator(".field-error")).to_contain_text("该账户未登记工号")
            form = office.locator("form", has=office.locator(f"input[value='{rr.id(username)}']"))
            await form.locator("input[name=employee_no]").fill("P002")
        await form.locator("button").click()
        await expect(office.locator(".flash.ok")).to_have_text("已加入评审组。")
    await b.fits(office)
    return office


async def score(b: Browsing, username: str, first: bool) -> None:
    page = await b.signed_in(username)
    if first:
        await expect(page.locator(".panel", has_text="待评分")).to_contain_text("张伟")
        await b.home_shot(page, "panelist")
    await b.menu(page, "/review/scoring")
    for nominee, sheet in zip(("张伟", "赵强"), SCORES[username], strict=True):
        await page.click(f"ul.worklist a:has-text('{nominee}')")
        await expect(page.locator("h1")).to_contain_text(nominee)
        await expect(page.locator("text=提交您自己的评分后")).to_be_visible()
        for criterion, value in zip(CRITERIA, sheet, strict=True):
            await page.fill(f"#criterion_{criterion}", value)
        await page.click("button:has-text('提交评分')")
        await expect(page.locator(".flash.ok")).to_have_text("评分已提交。")
        await b.fits(page)
        await page.click("text=返回评分列表")
    await expect(page.locator("ul.worklist").first).not_to_contain_text("赵强")


async def close_nominations(b: Browsing, office: Page) -> None:
    """The office closes the round early (nothing is decided while units may nominate), and
    the review hears of it."""
    await b.menu(office, "/office/rounds")
    await office.click("button:has-text('提前截止')")
    await expect(office.locator(".flash.ok")).to_have_text("该轮次的提名已截止。")

    async def heard() -> bool:
        rows = await b.harness.rpc.query("review", "candidates", {"round_id": ROUND})
        return all(r["status"] != "submitted" for r in rows)

    await eventually(heard, timeout=15, what="the review to hear the round closed")


async def announce(b: Browsing, office: Page) -> None:
    """The office starts the public notice; publishing waits for its end."""
    await b.menu(office, "/review/summary")
    await office.click("button:has-text('开始公示')")
    await expect(office.locator(".flash.ok")).to_have_text("公示已开始。")
    await expect(office.locator("#publish")).to_contain_text("公示期尚未结束")


async def object_under_own_name(b: Browsing, nominee: str) -> Page:
    """A staff member sees the nominee on notice and objects, under the account's name."""
    staff = await b.signed_in("staff")
    await expect(staff.locator(".panel", has_text="公示与光荣榜")).to_contain_text(nominee)
    await b.home_shot(staff, "staff")
    await staff.click("text=查看公示 / 实名提出异议")
    winner = staff.locator(".winner-card", has_text=nominee)
    await winner.locator("summary").click()
    await expect(winner).to_contain_text("将以您的实名提交：张小伟")
    await winner.locator("textarea").fill("听说节约成本的数据与班组台账不符，请核实。")
    await winner.locator("button:has-text('实名提交异议')").click()
    await expect(staff.locator(".flash.ok")).to_contain_text("您的异议已实名提交")
    return staff


async def dismiss_the_objection(b: Browsing, office: Page) -> None:
    """The office records its investigation of objection 1 and dismisses it."""
    await office.goto(f"{b.url}/")
    await expect(office.locator(".panel", has_text="评审待办")).to_contain_text("1 项待处理")
    await b.menu(office, "/review/objections")
    await expect(office.locator("#objection-1")).to_contain_text("张小伟")
    await office.fill("#note-1", "已调阅考勤记录和班组台账。")
    await office.click("#objection-1 button:has-text('记录')")
    await expect(office.locator(".flash.ok")).to_have_text("调查情况已记录。")
    await office.check("#objection-1 input[value=dismissed]")
    await office.fill("#resolution-1", "经核实，数据准确，异议不成立。")
    await office.click("#objection-1 button:has-text('处理异议')")
    await expect(office.locator(".flash.ok")).to_have_text("异议已处理。")


async def publish_after_the_notice(b: Browsing, harness: Harness, office: Page) -> Page:
    """Past the notice's end (the sessions end too: sign in again), the office publishes."""
    await after_the_notice(harness)
    office = await b.signed_in("office", office)
    await b.menu(office, "/review/summary")
    await expect(office.locator("#publish")).to_contain_text("可以正式发布评选结果")
    await office.click("button:has-text('正式发布结果')")
    await expect(office.locator(".flash.ok")).to_have_text("评选结果已正式发布。")
    return office


@pytest.mark.parametrize("width", [1280, 375])
async def test_the_review_of_a_round_in_the_browser(
    served: Served, browser: Browser, artifacts: Path, width: int
) -> None:
    rr = await review_round(served.harness)
    n = rr.nominations
    b = Browsing(browser, served, artifacts, width)
    try:
        office = await audit_and_set_up_the_panel(b, rr)
        for i, username in enumerate(("p_go", "p_fin", "p_em")):
            await score(b, username, first=i == 0)
        await close_nominations(b, office)

        discipline = await b.signed_in("discipline")
        await expect(discipline.locator(".panel", has_text="纪检监督")).to_contain_text(
            "个推荐可行使一票否决"
        )
        await b.home_shot(discipline, "discipline")

        # The leader: ranking with raw scores, the top one preselected; decides.
        leader = await b.signed_in("leader")
        await expect(leader.locator(".panel", has_text="确定人选")).to_contain_text("拼搏之花")
        await b.home_shot(leader, "leader")
        await b.menu(leader, "/review/ranking")
        striving = leader.locator("#category-striving")
        await expect(striving.locator("table.ranking tbody tr").first).to_contain_text("张伟")
        await expect(striving.locator(f"input[value='{n['E100']}']")).to_be_checked()
        await b.fits(leader)
        await leader.screenshot(
            path=str(b.artifacts / f"review-ranking-{width}px.png"), full_page=True
        )
        await striving.locator("button:has-text('确定人选')").click()
        await expect(leader.locator(".flash.ok")).to_have_text("已确定拟表彰人选。")
        await expect(leader.locator("#category-striving")).to_contain_text("已确定，排名冻结")

        await announce(b, office)
        staff = await object_under_own_name(b, "张伟")
        await expect(staff.locator("text=我提出的异议")).to_be_visible()
        await b.fits(staff)
        await dismiss_the_objection(b, office)
        await b.fits(office)

        # Past the notice's end (the sessions end too: sign in again), the office publishes.
        office = await publish_after_the_notice(b, served.harness, office)
        await office.screenshot(
            path=str(b.artifacts / f"review-published-{width}px.png"), full_page=True
        )

        staff = await b.signed_in("staff", staff)
        await expect(staff.locator(".panel", has_text="公示与光荣榜")).to_contain_text(
            "最新评选结果"
        )
        await b.home_shot(staff, "staff-after")
        await b.menu(staff, "/review/results")
        await expect(staff.locator(f"#result-{ROUND}")).to_contain_text("张伟")
        await b.fits(staff)
    finally:
        await b.close()
    result = await rr.query("result", round_id=ROUND)
    assert [(w["name"], w["category"]) for w in result["winners"]] == [("张伟", "striving")]
    [objection] = await rr.query("objections", round_id=ROUND)
    assert (objection["raiser_name"], objection["status"]) == ("张小伟", "dismissed")
