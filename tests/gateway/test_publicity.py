"""Publicity (Party-Mass Work Department) through the pages and the API: drafts rendered in a
sandbox, edited (captions of at most 60 characters), approved, marked published per channel,
artefacts downloaded; the reports; the honor roll and the standings for everyone."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from shared.clock import SHANGHAI
from tests.gateway.harness import Harness, csrf_in
from tests.gateway.published import (
    PAST_ROUND,
    PERIOD,
    WINNERS,
    publish_past_result,
    publish_result,
    result,
)

pytestmark = pytest.mark.integration


async def test_publicity_edits_approves_and_publishes_a_draft_through_the_pages(
    gateway: Harness,
) -> None:
    await gateway.role_accounts()
    drafts = (await publish_past_result(gateway))["drafts"]
    client = await gateway.signed_in("publicity")

    home = await client.get("/")
    assert "会议短视频脚本" in home.text
    assert "待编辑、审核" in home.text

    listing = await client.get(f"/publicity/rounds/{PAST_ROUND}")
    for label in ("光荣榜", "简报", "公众号文章", "会议短视频脚本"):
        assert label in listing.text

    storyboard = drafts["storyboard"]["material_id"]
    page = await client.get(f"/publicity/drafts/{storyboard}")
    assert page.status_code == 200
    assert f'src="/publicity/drafts/{storyboard}/preview" sandbox=""' in page.text
    preview = await client.get(f"/publicity/drafts/{storyboard}/preview")
    assert preview.headers["content-type"].startswith("text/html")
    policy = preview.headers["content-security-policy"]
    assert policy.startswith("sandbox")
    assert "frame-ancestors 'self'" in policy
    assert "script-src" not in policy  # default-src 'none': no script at all
    assert preview.headers["x-frame-options"] == "SAMEORIGIN"
    assert WINNERS[0][2] in preview.text

    # A caption over 60 characters: refused beside its field, in Chinese.
    form = await client.get(f"/publicity/drafts/{storyboard}/edit")
    token = csrf_in(form.text)
    fields = dict(re.findall(r'name="([^"]+)" [^>]*value="([^"]*)"', form.text))
    fields.update(
        {
            name: value
            for name, value in re.findall(
                r'<textarea id="[^"]+" name="([^"]+)"[^>]*>([^<]*)</textarea>', form.text
            )
        }
    )
    caption_field = next(k for k in fields if k.startswith("caption:"))
    too_long = {**fields, "csrf_token": token, caption_field: "字" * 61}
    refused = await client.post(f"/publicity/drafts/{storyboard}/edit", data=too_long)
    assert refused.status_code == 422
    assert f'id="err-{caption_field}"' in refused.text
    assert "字幕最多 60 个字（现为 61 个字）" in refused.text

    edited = {
        **fields,
        "csrf_token": token,
        caption_field: "拼搏之花·张伟：管网快修第一人",
        "title": "拼搏者<script>alert(1)</script>",
    }
    saved = await client.post(f"/publicity/drafts/{storyboard}/edit", data=edited)
    assert saved.status_code == 303, saved.text
    page = await client.get(saved.headers["location"])
    assert "修改已保存" in page.text
    assert "第 2 版" in page.text
    assert "<script>alert(1)" not in page.text  # shown as text, here and in the preview
    assert "拼搏者&lt;script&gt;" in page.text
    preview = await client.get(f"/publicity/drafts/{storyboard}/preview")
    assert "<script>alert(1)" not in preview.text

    # Publishing before approval is not offered; a crafted request is refused in words.
    early = await client.post(
        f"/publicity/drafts/{storyboard}/publish",
        data={"csrf_token": token, "channel": "meeting"},
    )
    assert early.status_code == 409
    assert "材料尚未审核通过，不能发布" in early.text

    approved = await client.post(
        f"/publicity/drafts/{storyboard}/approve",
        data={"csrf_token": token, "expected_revision": "2"},
    )
    assert approved.status_code == 303
    page = await client.get(approved.headers["location"])
    assert "已审核通过" in page.text
    assert "已在“月度作业计划会”发布" in page.text
    stale = await client.post(
        f"/publicity/drafts/{drafts['bulletin']['material_id']}/approve",
        data={"csrf_token": token, "expected_revision": "7"},
    )
    assert stale.status_code == 409
    assert "请刷新后再操作" in stale.text

    published = await client.post(
        f"/publicity/drafts/{storyboard}/publish",
        data={"csrf_token": token, "channel": "meeting"},
    )
    assert published.status_code == 303
    page = await client.get(published.headers["location"])
    assert "已标记为发布" in page.text
    assert "/edit" not in page.text  # a published revision is not edited any more

    srt = await client.get(f"/publicity/drafts/{storyboard}/download/srt")
    assert srt.status_code == 200
    assert f"{PAST_ROUND}-storyboard.srt" in srt.headers["content-disposition"]
    assert "管网快修第一人" in srt.content.decode("utf-8-sig")
    bulletin = drafts["bulletin"]["material_id"]
    docx = await client.get(f"/publicity/drafts/{bulletin}/download/docx")
    assert docx.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    )
    assert docx.content.startswith(b"PK")  # a zip: the Word document
    poster = await client.get(
        f"/publicity/drafts/{drafts['honor_roll']['material_id']}/download/svg"
    )
    assert poster.headers["content-type"].startswith("image/svg+xml")
    assert poster.headers["content-security-policy"].startswith("sandbox")
    wrong = await client.get(f"/publicity/drafts/{bulletin}/download/srt")
    assert wrong.status_code == 422  # a bulletin has no subtitles: said in words
    assert "没有 srt 格式" in wrong.text
    await client.aclose()

    auditor = await gateway.signed_in("auditor")
    seen = await auditor.get(f"/publicity/drafts/{storyboard}")
    assert seen.status_code == 200
    assert "/approve" not in seen.text
    assert "/publish" not in seen.text
    await auditor.aclose()


async def test_the_publicity_api_refuses_in_problem_json_with_stable_codes(
    gateway: Harness,
) -> None:
    await gateway.role_accounts()
    drafts = (await publish_past_result(gateway))["drafts"]
    auth = {"Authorization": f"Bearer {await gateway.token('publicity')}"}
    storyboard = drafts["storyboard"]["material_id"]
    honor_roll = drafts["honor_roll"]["material_id"]
    async with gateway.client() as client:
        detail = (await client.get(f"/api/v1/publicity/drafts/{storyboard}", headers=auth)).json()
        section = detail["content"]["sections"][0]["nomination_id"]
        url = f"/api/v1/publicity/drafts/{storyboard}"
        too_long = await client.put(
            url, json={"sections": [{"nomination_id": section, "caption": "字" * 61}]}, headers=auth
        )
        assert too_long.status_code == 422
        assert too_long.headers["content-type"].startswith("application/problem+json")
        assert too_long.json()["code"] == "caption_too_long"
        edited = await client.put(url, json={"title": "光荣榜上的他们"}, headers=auth)
        assert edited.json()["events"] == ["MaterialEdited"]
        assert edited.json()["revision"] == 2
        early = await client.post(f"{url}/publish", json={"channel": "meeting"}, headers=auth)
        assert (early.status_code, early.json()["code"]) == (409, "not_approved")
        approved = await client.post(f"{url}/approve", json={"expected_revision": 2}, headers=auth)
        assert approved.json()["status"] == "approved"
        wrong = await client.post(f"{url}/publish", json={"channel": "bulletin"}, headers=auth)
        assert (wrong.status_code, wrong.json()["code"]) == (422, "channel_not_allowed")
        done = await client.post(f"{url}/publish", json={"channel": "meeting"}, headers=auth)
        assert done.json()["status"] == "published"

        roll_url = f"/api/v1/publicity/drafts/{honor_roll}"
        await client.post(f"{roll_url}/approve", json={}, headers=auth)
        for channel in ("bulletin", "official_account", "meeting"):
            reply = await client.post(
                f"{roll_url}/publish", json={"channel": channel}, headers=auth
            )
            assert reply.status_code == 200, reply.text
        svg = await client.get(f"{roll_url}/artefacts/svg", headers=auth)
        assert svg.headers["content-type"].startswith("image/svg+xml")
        report = await client.get(
            f"/api/v1/publicity/reports?scope=round&round_id={PAST_ROUND}", headers=auth
        )
        assert report.status_code == 200
        assert report.json()["scope"] == "round"
        missing = await client.get("/api/v1/publicity/reports?scope=year", headers=auth)
        assert missing.json()["code"] == "year_required"

        # Everyone signed in reads the honor roll and the standings.
        staff = {"Authorization": f"Bearer {await gateway.token('staff')}"}
        roll = await client.get("/api/v1/honor-roll", headers=staff)
        assert roll.status_code == 200
        assert roll.json()["round_id"] == PAST_ROUND
        assert roll.json()["published_channels"] == ["bulletin", "meeting", "official_account"]
        assert {w["name"] for w in roll.json()["winners"]} == {w[2] for w in WINNERS}
        assert "revoked" not in roll.json()
        standings = await client.get("/api/v1/pacesetters?year=2026", headers=staff)
        assert [e["name"] for e in standings.json()["entries"]][:1] == ["张伟"]


async def test_staff_see_the_honor_roll_and_the_pacesetter_standings(gateway: Harness) -> None:
    await gateway.role_accounts()
    staff = await gateway.signed_in("staff")
    empty = await staff.get("/honor-roll")
    assert empty.status_code == 200
    assert "尚无光荣榜" in empty.text
    await publish_past_result(gateway)
    home = await staff.get("/")
    assert "光荣榜" in home.text
    assert "2026年第三季度" in home.text
    page = await staff.get("/honor-roll")
    for _, _, name, _, unit_name, _, _ in WINNERS:
        assert name in page.text
        assert unit_name in page.text
    assert "拼搏之花" in page.text
    standings = await staff.get("/pacesetters?year=2026")
    assert standings.status_code == 200
    assert "2026 年度“十大标兵”累计排名" in standings.text
    assert standings.text.index("张伟") < standings.text.index("赵强")
    english = await staff.get("/lang/en?next=/pacesetters")
    assert english.status_code in (302, 303, 307)
    page = await staff.get("/honor-roll")
    assert "Honor roll" in page.text
    await staff.aclose()


async def test_the_reports_page_shows_figures_charts_and_a_csv(gateway: Harness) -> None:
    await gateway.role_accounts()
    await publish_past_result(gateway)
    office = await gateway.signed_in("office")
    page = await office.get(f"/publicity/reports?scope=round&round_id={PAST_ROUND}")
    assert page.status_code == 200
    assert "2026年第三季度" in page.text
    charts = re.findall(r'<img src="([^"]+)"', page.text)
    assert len(charts) == 3
    chart = await office.get(charts[0].replace("&amp;", "&"))
    assert chart.status_code == 200
    assert chart.headers["content-type"].startswith("image/svg+xml")
    assert chart.content.lstrip().startswith(b"<?xml") or b"<svg" in chart.content[:500]
    exported = await office.get(
        f"/publicity/reports/download?scope=round&round_id={PAST_ROUND}&format=csv"
    )
    assert exported.headers["content-type"].startswith("text/csv")
    assert f"report-{PAST_ROUND}.csv" in exported.headers["content-disposition"]
    assert exported.content.decode("utf-8-sig").splitlines()[1].startswith("单位代码,单位,提名数")
    workbook = await office.get(
        f"/publicity/reports/download?scope=round&round_id={PAST_ROUND}&format=xlsx"
    )
    assert workbook.status_code == 200
    assert workbook.content[:2] == b"PK"  # an .xlsx (zip)
    chapter = await office.get(
        f"/publicity/reports/download?scope=round&round_id={PAST_ROUND}&format=docx"
    )
    assert chapter.status_code == 200
    assert f"report-{PAST_ROUND}.docx" in chapter.headers["content-disposition"]
    default = await office.get("/publicity/reports")  # the latest published round
    assert f'<option value="{PAST_ROUND}" selected>' in default.text
    year = await office.get("/publicity/reports?scope=year&year=2026")
    assert year.status_code == 200
    assert len(re.findall(r"<img src=", year.text)) == 5
    await office.aclose()


async def test_every_new_page_renders_in_chinese_and_in_english(gateway: Harness) -> None:
    await gateway.role_accounts()
    drafts = (await publish_past_result(gateway))["drafts"]
    # A second round whose winner's name GBK cannot write: the GBK export is refused in words.
    rare = result("2026-Q2").model_copy(
        update={
            "published_at": datetime(2026, 7, 10, 9, 0, tzinfo=SHANGHAI),
            "winners": (result("2026-Q2").winners[0].model_copy(update={"name": "王𪚥"}),),
        }
    )
    await publish_result(gateway, rare, "2026-07")
    pages = {
        "payroll": [
            "/",
            "/payroll",
            f"/payroll/periods/{PERIOD}",
            f"/payroll/periods/{PERIOD}/reconciliation",
            "/payroll/feed",
            "/payroll/ledger?year=2026",
        ],
        "publicity": [
            "/",
            "/publicity/rounds",
            f"/publicity/rounds/{PAST_ROUND}",
            *(f"/publicity/drafts/{d['material_id']}" for d in drafts.values()),
            *(f"/publicity/drafts/{d['material_id']}/edit" for d in drafts.values()),
            "/publicity/reports?scope=year&year=2026",
        ],
        "auditor": ["/", "/audit", "/audit/events?service=review", "/audit/events/review/1"],
        "staff": ["/", "/honor-roll", f"/honor-roll?round_id={PAST_ROUND}", "/pacesetters"],
    }
    for username, paths in pages.items():
        client = await gateway.signed_in(username)
        for language, marker in (("zh-CN", 'lang="zh-CN"'), ("en", 'lang="en"')):
            await client.get(f"/lang/{language}?next=/")
            for path in paths:
                page = await client.get(path)
                assert page.status_code == 200, (username, language, path, page.text[:300])
                assert marker in page.text
                assert "Traceback" not in page.text
        await client.aclose()

    payroll = await gateway.signed_in("payroll")
    await payroll.get("/lang/zh-CN?next=/")
    refused = await payroll.get("/payroll/periods/2026-07/export?encoding=gbk")
    assert refused.status_code == 422
    assert "gbk 编码无法表示第 1 行" in refused.text
    assert "请改用 utf-8-sig" in refused.text
    fine = await payroll.get("/payroll/periods/2026-07/export?encoding=utf-8-sig")
    assert "王𪚥" in fine.content.decode("utf-8-sig")
    await payroll.aclose()
