"""Consent to publicity through the real stack (issue 18, item 2): a winner whose consent was
never recorded, and one who consented to the honor roll only, are shown on every public
surface — the notice page, its PDF and JSON, the honor roll, every draft and its downloads —
only as far as the union's rules allow; the office reads why; consent is fixed once the
result is published."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from typing import Any

import pypdf
import pytest

from services.publicity.rendering import docx_text
from shared.contracts.nomination import (
    WITHHELD_NAME_ZH,
    WITHOUT_CONSENT_DEFAULT,
    ConsentUse,
    PublicityConsent,
)
from shared.settings import Settings
from tests.gateway.harness import ROUND, Harness, csrf_in, running_gateway
from tests.gateway.published import PAST_ROUND, PERIOD, WINNERS, publish_result, result
from tests.gateway.review_setup import SHEET_HIGH, ReviewRound, after_the_notice, review_round
from tests.gateway.test_publicity_photos import jpeg
from tests.support import eventually

pytestmark = pytest.mark.integration

# The union's stricter rule here: even the notice names nobody without consent.
STRICT = {**WITHOUT_CONSENT_DEFAULT, "notice": "none"}
CONSENTED, NOT_RECORDED, ROLL_ONLY = "张伟", "李娜", "刘洋"  # E100, E101, E201


def text_of(fmt: str, body: bytes) -> str:
    """What a download says, whatever its container (a picture is checked by its source)."""
    if fmt == "docx":
        return "\n".join(docx_text(body))
    if fmt == "zip":
        with zipfile.ZipFile(io.BytesIO(body)) as z:
            return "".join(
                z.read(n).decode("utf-8", "replace")
                for n in z.namelist()
                if n.endswith((".html", ".txt", ".md", ".json", ".svg"))
            )
    if fmt == "pdf":  # the notice's; the poster's PDF draws its letters as outlines
        return "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(body)).pages)
    return body.decode("utf-8")


async def round_on_notice(gateway: Harness) -> ReviewRound:
    """Three winners: 张伟 (striving, consented to all), 李娜 (reform, consent not recorded),
    刘洋 (dedication, whose unit records consent to the honor roll only, on its page)."""
    rr = await review_round(gateway, consents={"E101": None, "E201": {"uses": []}})
    cy = await gateway.signed_in("cy")
    page = await cy.get(f"/nominations/{rr.nominations['E201']}")
    assert "公开展示授权" in page.text
    changed = await cy.post(
        f"/nominations/{rr.nominations['E201']}/consent",
        data={"consent": ["honor_roll"], "csrf_token": csrf_in(page.text)},
    )
    assert changed.status_code == 303, changed.text
    item = await gateway.rpc.query(
        "nomination", "nomination", {"nomination_id": rr.nominations["E201"]}
    )
    assert item["consent"] == {"uses": ["honor_roll"]}

    await rr.accept_all()
    await rr.assign_panel()
    await rr.score_everything()
    for username in ("p_go", "p_fin", "p_em"):
        await rr.score(username, "E101", SHEET_HIGH)
        await rr.score(username, "E201", SHEET_HIGH)
    await rr.close_nominations()
    for category, employee_no in (
        ("striving", "E100"),
        ("reform", "E101"),
        ("dedication", "E201"),
    ):
        await rr.command(
            "leader",
            "decide_winners",
            category=category,
            winners=[rr.nominations[employee_no]],
        )
    await rr.command("office", "start_notice")
    return rr


async def test_winners_without_consent_are_withheld_from_every_public_surface(
    settings: Settings,
) -> None:
    strict = settings.model_copy(update={"public_without_consent": STRICT})
    async with running_gateway(strict) as gateway:
        rr = await round_on_notice(gateway)

        # The notice, to anyone: the page, the JSON and the printable PDF.
        async with gateway.client() as anyone:
            page = (await anyone.get(f"/gongshi/{ROUND}")).text
            as_json = (await anyone.get(f"/api/v1/public/notices/{ROUND}")).text
            pdf = (await anyone.get(f"/gongshi/{ROUND}/print.pdf")).content
        for shown in (page, as_json, text_of("pdf", pdf)):
            assert CONSENTED in shown
            assert NOT_RECORDED not in shown
            assert ROLL_ONLY not in shown
        assert page.count(WITHHELD_NAME_ZH) == 2
        assert "2 位拟表彰人选未同意公开" in page
        notices = json.loads(as_json)["notices"]
        assert [w["withheld"] for w in notices[0]["winners"]].count(True) == 2
        # The signed-in objection page follows the same rule.
        staff = await (await gateway.signed_in("staff")).get("/review/notice")
        assert CONSENTED in staff.text
        assert NOT_RECORDED not in staff.text
        assert staff.text.count(WITHHELD_NAME_ZH) == 2

        # Published: consent no longer changes; the drafts follow the consents.
        await after_the_notice(gateway)
        await rr.command("office", "publish_result")

        async def drafted() -> bool:
            drafts = await gateway.rpc.query("publicity", "drafts", {"round_id": ROUND})
            return len(drafts) >= 4

        await eventually(drafted, timeout=20, what="publicity to draft the materials")
        await assert_consent_is_fixed(gateway, rr)
        await assert_drafts_withhold(gateway)
        await assert_honor_roll_withholds(gateway)


async def assert_consent_is_fixed(gateway: Harness, rr: ReviewRound) -> None:
    wy = await gateway.signed_in("wy")
    token = gateway.csrf_for(wy)
    path = f"/api/v1/nominations/{rr.nominations['E101']}/consent"

    async def heard() -> bool:
        return bool(
            await gateway.nomination.store.pool.fetchval(
                "SELECT EXISTS (SELECT FROM results_published WHERE round_id = $1)", ROUND
            )
        )

    # Asked before nomination has heard of the publication, a change would still be taken.
    await eventually(heard, timeout=15, what="nomination to hear the result is published")
    answer = await wy.post(
        path, json={"consent": {"uses": ["notice"]}}, headers={"X-CSRF-Token": token}
    )
    assert answer.status_code == 409, answer.text
    assert answer.json()["code"] == "result_published"
    item = (await wy.get(f"/api/v1/nominations/{rr.nominations['E101']}")).json()
    assert item["consent"] is None  # still not recorded
    item = (await wy.get(f"/api/v1/nominations/{rr.nominations['E100']}")).json()
    assert len(item["consent"]["uses"]) == 5


async def assert_drafts_withhold(gateway: Harness) -> None:
    await gateway.account("pub", {"publicity"})
    pub = await gateway.signed_in("pub")
    drafts: list[dict[str, Any]] = await gateway.rpc.query(
        "publicity", "drafts", {"round_id": ROUND}
    )
    left_out = {"honor_roll": 1, "bulletin": 2, "official_account": 2, "storyboard": 2}
    for draft in drafts:
        kind, material_id = draft["kind"], draft["material_id"]
        note = (await pub.get(f"/publicity/drafts/{material_id}")).text
        assert f"{left_out[kind]} 位获奖者未同意公开，已按规定隐去" in note, kind
        assert NOT_RECORDED not in note, kind
        page = (await pub.get(f"/publicity/drafts/{material_id}/preview")).text
        assert NOT_RECORDED not in page, kind
        assert CONSENTED in page, kind
        assert (ROLL_ONLY in page) == (kind == "honor_roll"), kind
        for fmt in draft["formats"]:
            if fmt in ("png", "pdf"):
                continue  # the poster of the svg, drawn as pixels and outlines (no text)
            got = await pub.get(f"/publicity/drafts/{material_id}/download/{fmt}")
            assert got.status_code == 200, (kind, fmt)
            said = text_of(fmt, got.content)
            assert NOT_RECORDED not in said, (kind, fmt)
            assert (ROLL_ONLY in said) == (kind == "honor_roll"), (kind, fmt)


async def assert_honor_roll_withholds(gateway: Harness) -> None:
    staff = await gateway.signed_in("staff")
    roll = (await staff.get(f"/honor-roll?round_id={ROUND}")).text
    assert CONSENTED in roll
    assert ROLL_ONLY in roll
    assert NOT_RECORDED not in roll
    assert "另有 1 位获奖者未同意公开" in roll


async def test_a_winners_photo_shows_only_with_consent_to_that_use(settings: Settings) -> None:
    """张伟 consented to everything but the honor roll, which the rules then show `basic`:
    named there, but without the photo the office uploaded."""
    rules = {**WITHOUT_CONSENT_DEFAULT, "honor_roll": "basic"}
    async with running_gateway(
        settings.model_copy(update={"public_without_consent": rules})
    ) as gateway:
        await gateway.role_accounts()
        zhang = uuid.uuid5(uuid.NAMESPACE_URL, f"{PAST_ROUND}/{WINNERS[0][1]}")
        all_but_roll = PublicityConsent(
            uses=tuple(u for u in ConsentUse if u is not ConsentUse.HONOR_ROLL)
        )
        await publish_result(gateway, result(), PERIOD, {zhang: all_but_roll})
        office = await gateway.signed_in("office")
        page_url = f"/publicity/rounds/{PAST_ROUND}/photos"
        page = await office.get(page_url)
        sent = await office.post(
            f"{page_url}/{zhang}",
            data={"csrf_token": csrf_in(page.text)},
            files={"photo": ("张伟.jpg", jpeg(), "image/jpeg")},
        )
        assert sent.status_code == 303, sent.text
        staff = await gateway.signed_in("staff")
        roll = (await staff.get(f"/honor-roll?round_id={PAST_ROUND}")).text
        assert WINNERS[0][2] in roll  # basic: named
        src = f"/honor-roll/{PAST_ROUND}/photos/{zhang}.jpg"
        assert src not in roll
        assert (await staff.get(src)).status_code == 404
