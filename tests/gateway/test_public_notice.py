"""The public notice every employee can reach: no sign-in, only what a notice board shows, a
printable A4 PDF whose QR code leads to the objection form and whose footer anchors the review
log, and every other page still behind the sign-in."""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pypdf
import pypdfium2
import pytest
import zxingcpp
from typer.testing import CliRunner

from deploy.cli import app
from deploy.cli_audit import parse_anchors
from services.gateway.notice import PublicRateLimit, summarise
from shared import audit
from shared.clock import SHANGHAI, FixedClock
from shared.postgres import PostgresEventStore
from shared.settings import Settings
from tests.gateway.harness import DEEDS, DIRECTORY, FAST_HASHING, ROUND, Harness, running_gateway
from tests.gateway.review_setup import review_round

CONTACT = FAST_HASHING.model_copy(
    update={
        "notice_issuer": "物流分公司工会“红花献给你”活动领导小组办公室",
        "notice_office_phone": "010-6688 1234",
        "notice_office_email": "gonghui@example.com",
        "notice_office_address": "北京市朝阳区物流园路 8 号 3 楼 302 室",
        "public_url": "https://flowers.example.com",
    }
)
EMPLOYEE_NOS = [row[2] for row in DIRECTORY]


@pytest.fixture
async def on_notice(settings: Settings) -> AsyncIterator[tuple[Harness, dict[str, str]]]:
    """A round whose notice runs: 张伟 (E100, WY) is the striving flower's provisional winner."""
    async with running_gateway(settings, CONTACT) as harness:
        rr = await review_round(harness)
        await rr.accept_all()
        await rr.assign_panel()
        await rr.score_everything()
        await rr.decide_and_announce()
        yield harness, rr.nominations


def test_a_deeds_summary_ends_after_a_sentence_or_with_an_ellipsis() -> None:
    assert summarise("短短一句。") == "短短一句。"
    long = "甲" * 70 + "。" + "乙" * 100
    assert summarise(long) == "甲" * 70 + "。……"
    assert summarise("丙" * 200) == "丙" * 120 + "……"


@pytest.mark.integration
async def test_the_public_rate_limit_counts_per_address_within_a_minute_for_every_instance(
    settings: Settings,
) -> None:
    async with running_gateway(settings, CONTACT) as harness:
        clock = FixedClock(datetime(2026, 12, 3, 9, 0, tzinfo=SHANGHAI))
        # Two gateway instances on one database: each limiter is one instance's.
        first = PublicRateLimit(harness.state.pool, 2, clock)
        second = PublicRateLimit(harness.state.pool, 2, clock)
        assert await first.allow("10.0.0.1") is None
        clock.advance(timedelta(seconds=1))
        assert await second.allow("10.0.0.1") is None
        clock.advance(timedelta(seconds=1))
        assert await first.allow("10.0.0.1") == pytest.approx(58)
        assert await second.allow("10.0.0.1") == pytest.approx(58)
        assert await second.allow("10.0.0.2") is None  # another address has its own allowance
        clock.advance(timedelta(seconds=58.5))
        assert await first.allow("10.0.0.1") is None  # the window has ended
        clock.advance(timedelta(seconds=60))
        await first.purge_stale()
        remaining = await harness.state.pool.fetchval("SELECT count(*) FROM public_request_counts")
        assert remaining == 0


def test_anchors_are_read_from_a_printed_footer_or_refused() -> None:
    head = "ab" * 32
    assert parse_anchors(f"review@42:{head}") == {"review": audit.Anchor(42, head)}
    assert parse_anchors(f"review@42:{head}, nomination@7:{'cd' * 32}")["nomination"].position == 7
    with pytest.raises(ValueError, match="neither an anchor file"):
        parse_anchors("review@42:nothex")


@pytest.mark.integration
async def test_anyone_reads_the_notice_without_signing_in_and_sees_no_employee_number(
    on_notice: tuple[Harness, dict[str, str]],
) -> None:
    harness, nominations = on_notice
    anonymous = harness.client(ip="10.9.0.1")

    board = await anonymous.get("/gongshi")
    assert board.status_code == 200
    assert f'href="/gongshi/{ROUND}"' in board.text
    assert "公示中" in board.text

    page = await anonymous.get(f"/gongshi/{ROUND}")
    assert page.status_code == 200
    text = page.text
    assert "张伟" in text
    assert "物业服务中心 · 维修工" in text
    assert "拼搏之花" in text
    assert "主要事迹：" + summarise(DEEDS) in text
    assert re.search(r"公示期：.*2026年11月\d+日", text)
    assert "010-6688 1234" in text
    assert "gonghui@example.com" in text
    assert "物流园路 8 号" in text
    assert 'class="signature">物流分公司工会“红花献给你”活动领导小组办公室<br>2026年11月2日' in text
    assert 'href="/review/notice"' in text  # the objection form (asks to sign in first)
    for employee_no in EMPLOYEE_NOS:
        assert employee_no not in text
    for nomination_id in nominations.values():
        assert nomination_id not in text
    assert "赵强" not in text  # a nominee who is not a provisional winner

    api = await anonymous.get(f"/api/v1/public/notices/{ROUND}")
    assert api.status_code == 200
    body = api.json()
    winners = [w for n in body["notices"] for w in n["winners"]]
    assert [(w["name"], w["unit_name"], w["position"]) for w in winners] == [
        ("张伟", "物业服务中心", "维修工")
    ]
    assert body["notices"][0]["objection"]["phone"] == "010-6688 1234"
    raw = json.dumps(body, ensure_ascii=False)
    for private in (*EMPLOYEE_NOS, *nominations.values(), "employee_no", "score", "nomination_id"):
        assert private not in raw, private

    # A round without a notice, and nonsense, are 404 to everyone.
    assert (await anonymous.get("/gongshi/2026-Q1")).status_code == 404
    assert (await anonymous.get("/gongshi/not-a-round")).status_code == 404

    # Everything else still needs a sign-in.
    for path in ("/", "/review/notice", "/honor-roll", "/review/results", "/nominations"):
        response = await anonymous.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login"), path
    for path in (f"/api/v1/review/rounds/{ROUND}/notices", "/api/v1/me"):
        assert (await anonymous.get(path)).status_code == 401, path

    # An address that asks too often is refused for a while; another is not.
    harness.app.state.public_rate_limit = PublicRateLimit(harness.state.pool, 2)
    flood = harness.client(ip="10.9.0.2")
    assert (await flood.get("/gongshi")).status_code == 200
    assert (await flood.get(f"/api/v1/public/notices/{ROUND}")).status_code == 200
    refused = await flood.get(f"/gongshi/{ROUND}")
    assert refused.status_code == 429
    assert "访问过于频繁" in refused.text
    assert (await harness.client(ip="10.9.0.3").get("/gongshi")).status_code == 200


@pytest.mark.integration
async def test_the_printed_notice_is_a4_its_qr_leads_to_the_objection_form_and_it_anchors_the_log(
    on_notice: tuple[Harness, dict[str, str]],
) -> None:
    harness, _ = on_notice
    response = await harness.client().get(f"/gongshi/{ROUND}/print.pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"

    reader = pypdf.PdfReader(io.BytesIO(response.content))
    page = reader.pages[0]
    width, height = float(page.mediabox.width), float(page.mediabox.height)
    assert (round(width), round(height)) == (595, 842)  # A4 in points
    text = "".join(p.extract_text() for p in reader.pages)
    compact = re.sub(r"\s+", "", text)
    for expected in ("拟表彰人选公示", "张伟", "物业服务中心", "维修工", "010-66881234"):
        assert expected in compact, expected
    assert "gonghui@example.com" in compact
    assert re.search(r"公示期：2026年11月2日.*至2026年11月\d+日24:00", compact)
    for employee_no in EMPLOYEE_NOS:
        assert employee_no not in compact

    # The QR code, read off the rendered page, is the objection form's address.
    pdf = pypdfium2.PdfDocument(response.content)
    image = pdf[len(pdf) - 1].render(scale=3).to_pil()
    codes = zxingcpp.read_barcodes(image)
    assert [c.text for c in codes] == ["https://flowers.example.com/review/notice"]

    # The footer's anchor is the review log's head when printed, and the log verifies up to it.
    match = re.search(r"审计锚点(review@\d+:[0-9a-f]{64})", compact)
    assert match, compact[-300:]
    anchors = parse_anchors(match.group(1))
    assert harness.review is not None
    assert harness.review.pool is not None
    pool = harness.review.pool
    head = await pool.fetchrow("SELECT position, hash FROM event_log_head")
    assert anchors["review"] == audit.Anchor(head["position"], head["hash"])
    chain = await PostgresEventStore(pool).verify_chain()
    check = await audit.check_anchor(pool, chain, anchors["review"])
    assert check.ok, check.reason

    # A forged anchor (another hash at that position) does not verify.
    forged = audit.Anchor(head["position"], "0" * 64)
    assert not (await audit.check_anchor(pool, chain, forged)).ok

    # The auditor's command checks the printed anchor against the log, and refuses the forgery.
    settings = harness.state.settings
    env = {
        "FLOWERS_NATS_URL": settings.nats_url,
        "FLOWERS_DATABASE_URL": settings.database_url,
        "FLOWERS_DATABASE_PREFIX": settings.database_prefix,
    }
    runner = CliRunner()
    verified = await asyncio.to_thread(
        runner.invoke, app, ["audit", "verify", "--anchors", match.group(1)], env=env
    )
    assert verified.exit_code == 0, verified.output
    assert f"ok   anchor at position {head['position']}: unchanged since anchored" in (
        verified.output
    )
    refused = await asyncio.to_thread(
        runner.invoke,
        app,
        ["audit", "verify", "--anchors", f"review@{head['position']}:{'0' * 64}"],
        env=env,
    )
    assert refused.exit_code == 1
    assert f"FAIL anchor at position {head['position']}" in refused.output
