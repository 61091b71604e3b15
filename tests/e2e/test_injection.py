"""Injection: hostile text in every text field is stored as text, shown as text, and never
breaks a page, the payroll CSV or the bulletin's .docx.

Hostile text: SQL metacharacters (`'; DROP TABLE candidates; --`), markup (`<script>`, an
attribute break-out `"><img onerror=…>`), a zero-width space (U+200B) and a right-to-left
override (U+202E), quotes and commas, and a name that looks like a spreadsheet formula.

It goes in through the real ways in, the gateway's API: the directory (a name, a unit name, a
position; as JSON rows, then again as an HR export CSV, which must parse to the very same
text) and a nomination (deeds, recommendation, a result's metric and unit, an evidence link).
The round is then played to publication in-process — audit, panel, scores, decision, public
notice, publication — so the winners' names travel through every service. Then:
- the queries give every value back identical (the gateway's API and the services' own);
- every page that shows them (the nomination, the audit list, the notice, the results, the
  honor roll, the payroll period, the bulletin draft, the auditor's event log) shows them as
  text: escaped in the HTML, no script element but the page's own, no event-handler
  attribute, the page whole to its footer;
- rewards' payroll export (`flowers.qry.rewards.export`, and the gateway's download) reads
  back with the csv module: one row per award, every row as wide as the header, the hostile
  name identical, the formula-looking name neutralised with a leading apostrophe; GBK, which
  cannot hold U+200B, is refused with a code rather than mangled;
- publicity's bulletin (`flowers.qry.publicity.artefact`, format docx) opens with python-docx
  and names both winners exactly; its XML carries the markup escaped; the honor roll's SVG and
  the bulletin's HTML parse, with no script element.
"""

from __future__ import annotations

import base64
import csv
import io
import uuid
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import docx
import httpx
import lxml.etree
import lxml.html
import pytest

from services.gateway.accounts import UserFields
from shared.rpc import RemoteError
from shared.settings import Settings
from tests.gateway.harness import DEEDS, PASSWORD, ROUND, UNIT_A, Harness, running_gateway
from tests.gateway.review_setup import (
    ACCOUNTS,
    SHEET_HIGH,
    ReviewRound,
    after_the_notice,
)
from tests.support import eventually

pytestmark = pytest.mark.integration

ZW, RLO, PDF = "\u200b", "\u202e", "\u202c"
SQL = "'; DROP TABLE candidates; --"
SCRIPT = "<script>alert('花')</script>"
BREAKOUT = '"><img src=x onerror=alert(1)>'

NAME = f'张{ZW}伟{RLO}{SCRIPT}{PDF}O"Brien, {SQL}'
FORMULA_NAME = '=HYPERLINK("http://example.com","李娜")'
UNIT_NAME = f"物业服务中心<b>{ZW}</b>"
POSITION = f"维修工{RLO}{BREAKOUT}"
HOSTILE_DEEDS = f"{DEEDS}{SQL}{SCRIPT}{BREAKOUT}{ZW}{RLO}右到左{PDF}结尾"
RECOMMENDATION = f"同意推荐{SCRIPT}{SQL}{ZW}{RLO}反向{PDF}"
METRIC = f"节约<i>成本</i>{ZW}'--"
UNIT = f"元{RLO}<b>'"
LINK = f"https://example.com/evidence?q=<script>alert(1)</script>&x=';--{ZW}"
STAFF = [("E100", NAME, "striving"), ("E101", FORMULA_NAME, "dedication")]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def signed_in(gateway: Harness, username: str) -> AsyncIterator[httpx.AsyncClient]:
    client = await gateway.signed_in(username)
    try:
        yield client
    finally:
        await client.aclose()


def shown_as_text(response: httpx.Response, *texts: str) -> str:
    """The page is whole, runs only its own script, and shows each text exactly."""
    assert response.status_code == 200, response.text[:500]
    html = response.text
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    page = lxml.html.fromstring(html)
    assert [s.get("src") for s in page.iter("script")] == ["/static/app.js"]
    handlers = [
        (element.tag, name)
        for element in page.iter()
        if isinstance(element.tag, str)
        for name in element.attrib
        if name.lower().startswith("on")
    ]
    assert handlers == []
    assert page.xpath("//body/footer[@class='footer']"), "the page ends early"
    assert page.xpath("//body/main"), "the page lost its main element"
    text = page.text_content()
    for expected in texts:
        assert expected in text, f"{expected!r} not shown on {response.url}"
    return html


async def accounts(gateway: Harness) -> ReviewRound:
    users = {}
    for username, (name, roles, unit, department, employee_no) in ACCOUNTS.items():
        users[username] = await gateway.state.accounts.create_user(
            username,
            PASSWORD,
            UserFields(name, frozenset(roles), unit, department, employee_no),
            actor="test",
        )
    for username, roles in (("admin", {"admin"}), ("payroll", {"payroll"})):
        users[username] = await gateway.account(username, roles)
    users["publicity"] = await gateway.account("publicity", {"publicity"})
    gateway.users.update(users)
    return ReviewRound(gateway, users)


async def test_hostile_text_is_stored_shown_and_exported_as_text(settings: Settings) -> None:
    async with running_gateway(settings) as gateway:
        rr = await accounts(gateway)
        tokens = {u: bearer(await gateway.token(u)) for u in ("admin", "wy", "payroll")}
        async with gateway.client() as api:
            await directory_with_hostile_names(api, tokens["admin"])
            ids = await hostile_nominations(api, tokens["wy"])
            rr.nominations.update(ids)
            await read_back_identical(gateway, api, tokens, ids)
            await pages_before_publication(gateway, ids)
            await play_to_publication(gateway, rr)
            period = await stored_in_rewards_and_publicity(gateway)
            await csv_export(gateway, api, tokens["payroll"], period)
            await bulletin_and_honor_roll(gateway)
            await pages_after_publication(gateway, period)


async def directory_with_hostile_names(api: httpx.AsyncClient, admin: dict[str, str]) -> None:
    rows = [
        {
            "unit_code": UNIT_A,
            "unit_name": UNIT_NAME,
            "employee_no": employee_no,
            "name": name,
            "position": POSITION,
        }
        for employee_no, name, _ in STAFF
    ]
    imported = await api.post("/api/v1/directory/import", json={"rows": rows}, headers=admin)
    assert imported.status_code == 200, imported.text
    assert imported.json()["changes"]
    # The same rows as an HR export (CSV): parsed to the very same text, so nothing changes.
    export = io.StringIO()
    writer = csv.writer(export)
    writer.writerow(["employee_no", "name", "unit_code", "unit_name", "position", "active"])
    for row in rows:
        writer.writerow(
            [row["employee_no"], row["name"], UNIT_A, row["unit_name"], row["position"], "true"]
        )
    again = await api.post(
        "/api/v1/directory/import.csv",
        files={"file": ("hr.csv", export.getvalue().encode("utf-8-sig"))},
        headers=admin,
    )
    assert again.status_code == 200, again.text
    assert again.json()["changes"] == {}
    listed = await api.get(
        "/api/v1/directory/employees", params={"unit_code": UNIT_A}, headers=admin
    )
    by_no = {e["employee_no"]: e for e in listed.json()}
    for employee_no, name, _ in STAFF:
        assert (by_no[employee_no]["name"], by_no[employee_no]["position"]) == (name, POSITION)
    units = (await api.get("/api/v1/directory/units", headers=admin)).json()
    assert {u["unit_code"]: u["name"] for u in units}[UNIT_A] == UNIT_NAME


async def hostile_nominations(api: httpx.AsyncClient, wy: dict[str, str]) -> dict[str, str]:
    refused = await api.post(
        "/api/v1/nominations",
        json=content("E100", "striving", links=["javascript:alert(1)"]),
        headers=wy,
    )
    assert refused.status_code == 422
    assert refused.json()["code"] == "invalid_link"
    ids: dict[str, str] = {}
    for employee_no, _, category in STAFF:
        reply = await api.post(
            "/api/v1/nominations", json=content(employee_no, category), headers=wy
        )
        assert reply.status_code == 201, reply.text
        ids[employee_no] = reply.json()["nomination_id"]
    return ids


def content(employee_no: str, category: str, links: list[str] | None = None) -> dict[str, Any]:
    return {
        "round_id": ROUND,
        "employee_no": employee_no,
        "category": category,
        "deeds": HOSTILE_DEEDS,
        "results": [{"metric": METRIC, "value": "120000", "unit": UNIT}],
        "evidence_links": [LINK] if links is None else links,
        "recommendation": RECOMMENDATION,
        "nomination_id": str(uuid.uuid4()),
        # Consent to every public use: the hostile names must reach every material.
        "consent": {
            "uses": ["notice", "honor_roll", "bulletin", "official_account", "poster_video"]
        },
    }


async def read_back_identical(
    gateway: Harness, api: httpx.AsyncClient, tokens: dict[str, dict[str, str]], ids: dict[str, str]
) -> None:
    names = dict((no, name) for no, name, _ in STAFF)
    for employee_no, nomination_id in ids.items():
        via_api = (
            await api.get(f"/api/v1/nominations/{nomination_id}", headers=tokens["wy"])
        ).json()
        via_service = await gateway.rpc.query(
            "nomination", "nomination", {"nomination_id": nomination_id}
        )
        for item in (via_api, via_service):
            assert item["name"] == names[employee_no]
            assert item["unit_name"] == UNIT_NAME
            assert item["position"] == POSITION
            assert item["deeds"] == HOSTILE_DEEDS
            assert item["recommendation"] == RECOMMENDATION
            assert [(r["metric"], r["unit"]) for r in item["results"]] == [(METRIC, UNIT)]
            assert item["evidence_links"] == [LINK]

    async def in_review() -> bool:
        rows = await gateway.rpc.query("review", "candidates", {"round_id": ROUND})
        return len(rows) == len(ids)

    await eventually(in_review, timeout=15, what="the nominations to reach the review")
    rows = await gateway.rpc.query("review", "candidates", {"round_id": ROUND})
    for row in rows:  # review's own copy, made from the event on the bus
        assert row["name"] == names[row["employee_no"]]
        assert (row["unit_name"], row["position"]) == (UNIT_NAME, POSITION)
        assert (row["deeds"], row["recommendation"]) == (HOSTILE_DEEDS, RECOMMENDATION)
        assert row["evidence_links"] == [LINK]


async def pages_before_publication(gateway: Harness, ids: dict[str, str]) -> None:
    async with signed_in(gateway, "wy") as wy:
        html = shown_as_text(
            await wy.get(f"/nominations/{ids['E100']}"),
            NAME,
            HOSTILE_DEEDS,
            RECOMMENDATION,
            METRIC,
            UNIT,
            LINK,
            POSITION,
        )
        link = lxml.html.fromstring(html).xpath("//a[@href=$link]", link=LINK)
        assert len(link) == 1  # the link is an attribute value, whole, not markup
        shown_as_text(await wy.get("/nominations"), NAME, FORMULA_NAME)
    async with signed_in(gateway, "office") as office:
        shown_as_text(await office.get("/review/audits"), NAME, FORMULA_NAME)


async def play_to_publication(gateway: Harness, rr: ReviewRound) -> None:
    await rr.accept_all()
    await rr.assign_panel()
    for panelist in ("p_go", "p_fin", "p_em"):
        for employee_no, _, _ in STAFF:
            await rr.score(panelist, employee_no, SHEET_HIGH)
    await rr.close_nominations()
    for employee_no, _, category in STAFF:
        await rr.command(
            "leader",
            "decide_winners",
            category=category,
            winners=[rr.nominations[employee_no]],
        )
    await rr.command("office", "start_notice")
    async with signed_in(gateway, "staff") as staff:
        shown_as_text(await staff.get("/review/notice"), NAME, FORMULA_NAME)
    async with signed_in(gateway, "leader") as leader:
        shown_as_text(await leader.get("/review/ranking"), NAME, FORMULA_NAME)
    await after_the_notice(gateway)
    published = await rr.command("office", "publish_result")
    assert published["events"] == ["ResultPublished"]


async def stored_in_rewards_and_publicity(gateway: Harness) -> str:
    rpc = gateway.rpc

    async def paid() -> bool:
        feed = await rpc.query("rewards", "adjustments", {"after": 0})
        return len(feed["items"]) == len(STAFF)

    async def drafted() -> bool:
        return len(await rpc.query("publicity", "drafts", {"round_id": ROUND})) >= 4

    await eventually(paid, timeout=20, what="rewards to issue the adjustments")
    await eventually(drafted, timeout=20, what="publicity to draft the materials")
    feed = await rpc.query("rewards", "adjustments", {"after": 0})
    assert sorted(i["name"] for i in feed["items"]) == sorted(n for _, n, _ in STAFF)
    assert {i["unit_name"] for i in feed["items"]} == {UNIT_NAME}
    roll = await rpc.query("publicity", "honor_roll", {"round_id": ROUND})
    assert sorted(w["name"] for w in roll["winners"]) == sorted(n for _, n, _ in STAFF)
    periods = {i["period"] for i in feed["items"]}
    assert len(periods) == 1
    return periods.pop()


async def csv_export(
    gateway: Harness, api: httpx.AsyncClient, payroll: dict[str, str], period: str
) -> None:
    data = await gateway.rpc.query("rewards", "export", {"period": period, "encoding": "utf-8-sig"})
    content = base64.b64decode(data["content_base64"])
    downloaded = await api.get(f"/api/v1/payroll/periods/{period}/export", headers=payroll)
    assert downloaded.status_code == 200
    assert downloaded.content == content
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))
    header, lines = rows[0], rows[1:]
    assert len(lines) == len(STAFF)
    assert all(len(line) == len(header) for line in lines)  # quoting held: no cell split
    by_no = {line[header.index("工号")]: line for line in lines}
    name, unit_name = header.index("姓名"), header.index("单位")
    assert by_no["E100"][name] == NAME  # identical, zero-width and right-to-left included
    assert by_no["E101"][name] == "'" + FORMULA_NAME  # a formula is never a formula
    assert {line[unit_name] for line in lines} == {UNIT_NAME}
    assert not any(cell.startswith(("=", "+", "-", "@")) for line in lines for cell in line)

    with pytest.raises(RemoteError) as refused:  # GBK has no U+200B: refused, not mangled
        await gateway.rpc.query("rewards", "export", {"period": period, "encoding": "gbk"})
    assert refused.value.error.code
    assert 400 <= refused.value.error.status < 500
    gbk = await api.get(
        f"/api/v1/payroll/periods/{period}/export", params={"encoding": "gbk"}, headers=payroll
    )
    assert 400 <= gbk.status_code < 500
    assert gbk.headers["content-type"].startswith("application/problem+json")


async def bulletin_and_honor_roll(gateway: Harness) -> None:
    drafts = {
        d["kind"]: d["material_id"]
        for d in await gateway.rpc.query("publicity", "drafts", {"round_id": ROUND})
    }

    async def artefact(kind: str, fmt: str) -> dict[str, Any]:
        reply: dict[str, Any] = await gateway.rpc.query(
            "publicity", "artefact", {"material_id": drafts[kind], "format": fmt}
        )
        return reply

    raw = base64.b64decode((await artefact("bulletin", "docx"))["content"])
    document = docx.Document(io.BytesIO(raw))
    texts = [p.text for p in document.paragraphs]
    texts += [cell.text for table in document.tables for row in table.rows for cell in row.cells]
    whole = "\n".join(texts)
    assert NAME in whole
    assert FORMULA_NAME in whole
    xml = zipfile.ZipFile(io.BytesIO(raw)).read("word/document.xml").decode()
    assert "<script" not in xml
    assert "&lt;script&gt;" in xml

    bulletin = lxml.html.fromstring((await artefact("bulletin", "html"))["content"])
    assert list(bulletin.iter("script")) == []
    assert NAME in bulletin.text_content()
    svg = lxml.etree.fromstring((await artefact("honor_roll", "svg"))["content"].encode())
    assert svg.xpath("//*[local-name()='script']") == []
    assert not [a for e in svg.iter() for a in e.attrib if a.lower().startswith("on")]
    assert NAME in "".join(svg.itertext())


async def pages_after_publication(gateway: Harness, period: str) -> None:
    async with signed_in(gateway, "staff") as staff:
        shown_as_text(await staff.get("/honor-roll"), NAME, FORMULA_NAME, UNIT_NAME)
        shown_as_text(await staff.get("/review/results"), NAME, FORMULA_NAME)
    async with signed_in(gateway, "payroll") as payroll:
        shown_as_text(await payroll.get(f"/payroll/periods/{period}"), NAME, FORMULA_NAME)
    drafts = {
        d["kind"]: d["material_id"]
        for d in await gateway.rpc.query("publicity", "drafts", {"round_id": ROUND})
    }
    async with signed_in(gateway, "publicity") as publicity:
        shown_as_text(await publicity.get(f"/publicity/drafts/{drafts['bulletin']}"))
        preview = await publicity.get(f"/publicity/drafts/{drafts['bulletin']}/preview")
        assert preview.status_code == 200
        assert "sandbox" in preview.headers["content-security-policy"]
        assert "<script>alert" not in preview.text
    async with signed_in(gateway, "auditor") as auditor:
        # The event log: a unit's hostile name found by a search and shown as text.
        listed = shown_as_text(
            await auditor.get(
                "/audit/events",
                params={"service": "nomination", "text": "<b>"},
            ),
            "Unit",
        )
        links = lxml.html.fromstring(listed).xpath(
            "//a[starts-with(@href, '/audit/events/nomination/')]/@href"
        )
        assert len(links) >= 1
        shown_as_text(await auditor.get(links[0]), UNIT_NAME)
        # The nominees' hostile names and deeds are personal data, sealed in the log
        # (README "Privacy"): the browser shows them sealed, never their text.
        submitted = shown_as_text(
            await auditor.get(
                "/audit/events", params={"service": "nomination", "type": "NominationSubmitted"}
            ),
            "NominationSubmitted",
        )
        links = lxml.html.fromstring(submitted).xpath(
            "//a[starts-with(@href, '/audit/events/nomination/')]/@href"
        )
        assert len(links) >= len(STAFF)
        sealed = shown_as_text(await auditor.get(links[0]), "加密个人信息")
        assert "DROP TABLE" not in sealed
