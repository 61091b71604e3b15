"""/api/v1/review: the review's whole path as an API client plays it, problem+json refusals,
and what the gateway adds: the signed-in user as the viewer, the objector's name from the
account, raisers' identities for the office only, no score on a conflicted nomination."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from services.gateway.auth import Principal
from services.gateway.state import Services
from shared.contracts.review_commands import SubmitScore
from shared.rpc import RemoteError
from tests.gateway.harness import ROUND, Harness
from tests.gateway.review_setup import SHEET_HIGH, SHEET_LOW, after_the_notice, review_round

pytestmark = pytest.mark.integration
API = f"/api/v1/review/rounds/{ROUND}"


class As:
    """An API client acting with one account's bearer token."""

    def __init__(self, client: httpx.AsyncClient, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    async def get(self, path: str) -> httpx.Response:
        return await self.client.get(path, headers=self.headers)

    async def post(self, path: str, body: Any = None) -> httpx.Response:
        return await self.client.post(path, json=body, headers=self.headers)

    async def put(self, path: str, body: Any) -> httpx.Response:
        return await self.client.put(path, json=body, headers=self.headers)


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


async def test_a_round_is_reviewed_through_the_api_from_audit_to_publication(
    gateway: Harness,
) -> None:
    rr = await review_round(gateway)
    n = rr.nominations
    async with gateway.client() as client:
        who = {u: As(client, await gateway.token(u)) for u in rr.users}
        office, leader, staff = who["office"], who["leader"], who["staff"]

        pending = (await office.get("/api/v1/review/audits/pending")).json()
        assert {p["nomination_id"] for p in pending} == set(n.values())
        problem(
            await office.post(f"{API}/nominations/{n['E101']}/reject", {}), 422, "invalid_input"
        )
        rejected = await office.post(f"{API}/nominations/{n['E101']}/reject", {"reason": "缺盖章"})
        assert rejected.json()["events"] == ["NominationRejected"]
        for employee_no in ("E100", "E200", "E201"):
            accepted = await office.post(f"{API}/nominations/{n[employee_no]}/accept")
            assert accepted.json()["events"] == ["NominationAccepted"]
        problem(await office.post(f"{API}/nominations/{n['E100']}/accept"), 409, "already_audited")
        own_unit = (await who["wy"].get(f"{API}/candidates")).json()
        assert {c["employee_no"]: c["audit"] for c in own_unit} == {
            "E100": "accepted",
            "E101": "rejected",
        }
        assert [c["rejection_reason"] for c in own_unit if c["audit"] == "rejected"] == ["缺盖章"]
        problem(await who["wy"].get(f"{API}/candidates?unit_code=CY"), 403, "not_own_unit")

        # The panel, from the panelist accounts; the missing employee number is asked for.
        accounts = (await office.get("/api/v1/review/panelist-accounts")).json()
        assert {a["display_name"] for a in accounts} >= {"财务部 刘芳", "工会 孙丽"}
        panel_path = f"{API}/panel"
        problem(
            await office.post(panel_path, {"user_id": rr.id("p_fin")}), 422, "employee_no_required"
        )
        problem(
            await office.post(panel_path, {"user_id": rr.id("p_go"), "employee_no": "X"}),
            422,
            "employee_no_mismatch",
        )
        for username, number in (("p_go", None), ("p_fin", "P002"), ("p_em", None), ("p_wy", None)):
            assigned = await office.post(
                panel_path, {"user_id": rr.id(username), "employee_no": number}
            )
            assert assigned.status_code == 201, assigned.text
        problem(await office.post(panel_path, {"user_id": rr.id("p_go")}), 409, "already_assigned")
        panel = (await leader.get(panel_path)).json()
        assert {(p["name"], p["department"]) for p in panel} >= {("工会 孙丽", "union")}

        # Scoring: the WY panelist is never offered WY's nominee, and is refused it.
        sheet = (await who["p_wy"].get("/api/v1/review/scoring")).json()
        assert {p["nominee"]["employee_no"] for p in sheet["pending"]} == {"E200", "E201"}
        assert sheet["rubric"] == {
            "achievements": "40",
            "exemplary_role": "30",
            "innovation": "20",
            "recognition": "10",
        }
        score_path = f"{API}/nominations/{n['E100']}/score"
        problem(await who["p_wy"].put(score_path, {"criteria": SHEET_HIGH}), 403, "not_scorable")
        problem(
            await who["p_go"].put(score_path, {"criteria": {**SHEET_HIGH, "innovation": "101"}}),
            422,
            "invalid_score",
        )
        problem(
            await who["p_go"].put(score_path, {"criteria": {"achievements": "90"}}),
            422,
            "invalid_score",
        )
        first = await who["p_go"].put(score_path, {"criteria": SHEET_HIGH, "comment": "突出"})
        assert first.json()["total"] == "91.8000"

        # No anchoring: the viewer is the signed-in panelist, whatever the request says.
        scores_path = f"{API}/nominations/{n['E100']}/scores"
        spoofed = await who["p_fin"].get(f"{scores_path}?viewer={rr.id('office')}")
        assert spoofed.json()["visible"] is False
        assert spoofed.json()["scores"] == []
        problem(await who["p_fin"].get(f"{API}/ranking"), 403, "forbidden")
        for username in ("p_fin", "p_em"):
            await who[username].put(score_path, {"criteria": SHEET_HIGH})
            await who[username].put(f"{API}/nominations/{n['E200']}/score", {"criteria": SHEET_LOW})
        await who["p_go"].put(f"{API}/nominations/{n['E200']}/score", {"criteria": SHEET_LOW})
        seen = (await who["p_fin"].get(scores_path)).json()
        assert seen["visible"] is True
        assert len(seen["scores"]) == 3

        await rr.close_nominations()
        # Veto; the leader's ranking (raw scores, method) and decision.
        vetoed = await who["discipline"].post(
            f"{API}/nominations/{n['E201']}/veto", {"reason": "违纪"}
        )
        assert vetoed.json()["events"] == ["NominationVetoed"]
        ranking = (await leader.get(f"{API}/ranking?category=striving")).json()
        [striving] = ranking
        assert [e["nominee"]["employee_no"] for e in striving["entries"]] == ["E100", "E200"]
        assert len(striving["entries"][0]["raw_scores"]) == 3
        assert striving["method"]["min_scores"] == 3
        problem(
            await leader.post(f"{API}/decisions", {"category": "striving", "winners": [n["E200"]]}),
            422,
            "reason_required",
        )
        decided = await leader.post(
            f"{API}/decisions", {"category": "striving", "winners": [n["E100"]]}
        )
        assert decided.status_code == 201
        problem(await who["p_go"].put(score_path, {"criteria": SHEET_LOW}), 403, "not_scorable")

        # The notice; a real-name objection, named from the account only.
        started = await office.post(f"{API}/notices")
        assert started.status_code == 201
        assert started.json()["notice"]["categories"] == ["striving"]
        [notice] = (await staff.get(f"{API}/notices")).json()
        assert notice["status"] == "running"
        assert [w["nominee"]["name"] for w in notice["winners"]] == ["张伟"]
        objection = {"nomination_id": n["E100"], "text": "数据与台账不符。"}
        problem(
            await staff.post(f"{API}/objections", {**objection, "raiser_name": "冒名"}),
            422,
            "invalid_input",
        )
        raised = await staff.post(f"{API}/objections", objection)
        assert raised.status_code == 201
        assert raised.json()["objection_no"] == 1
        problem(await office.post(f"{API}/publish"), 409, "notice_running")

        # Who raised it: the office only; the raiser sees their own; others nothing.
        [by_office] = (await office.get(f"{API}/objections")).json()
        assert (by_office["raiser_name"], by_office["raised_by"]) == ("张小伟", rr.id("staff"))
        for overseer in ("leader", "discipline", "auditor"):
            [seen_by] = (await who[overseer].get(f"{API}/objections")).json()
            assert "raiser_name" not in seen_by
            assert "raised_by" not in seen_by
            assert seen_by["text"] == "数据与台账不符。"
        [own] = (await staff.get(f"{API}/objections")).json()
        assert own["mine"] is True
        assert (await who["cy"].get(f"{API}/objections")).json() == []

        noted = await office.post(f"{API}/objections/1/notes", {"note": "已调阅台账。"})
        assert noted.json()["events"] == ["ObjectionNoteRecorded"]
        problem(
            await office.post(
                f"{API}/objections/1/resolve", {"outcome": "maybe", "resolution": "x"}
            ),
            422,
            "invalid_input",
        )
        resolved = await office.post(
            f"{API}/objections/1/resolve", {"outcome": "dismissed", "resolution": "数据无误。"}
        )
        assert resolved.json()["events"] == ["ObjectionResolved"]
        summary = (await office.get(f"{API}/summary")).json()
        assert summary["publish_blocker"]["code"] == "notice_running"

        await after_the_notice(gateway)
        assert (await office.get(f"{API}/summary")).json()["publishable"] is True
        published = await office.post(f"{API}/publish")
        assert published.json()["events"] == ["ResultPublished"]
        [result] = (await staff.get("/api/v1/review/results")).json()
        assert [(w["name"], w["category"]) for w in result["winners"]] == [("张伟", "striving")]
        revoked = await leader.post(f"{API}/nominations/{n['E100']}/revoke", {"reason": "造假"})
        assert revoked.json()["events"] == ["WinnerRevoked"]
        assert (await staff.get(f"{API}/result")).json()["winners"][0]["revoked"] is True
        rounds = (await staff.get("/api/v1/review/rounds")).json()
        assert [(r["round_id"], r["published"]) for r in rounds] == [(ROUND, True)]

        # Every one of these is in the OpenAPI document, under the review's tag.
        document = (await client.get("/api/v1/openapi.json")).json()
        review_paths = {p for p in document["paths"] if p.startswith("/api/v1/review/")}
        assert len(review_paths) == 26
        assert {
            "/api/v1/review/rounds/{round_id}/panel/progress",
            "/api/v1/review/rounds/{round_id}/panel/{panelist_id}/remind",
        } <= review_paths
        assert all(
            "review" in operation["tags"]
            for path in review_paths
            for operation in document["paths"][path].values()
        )


async def test_a_panelist_can_never_score_a_conflicted_nomination_even_past_the_gateway(
    gateway: Harness,
) -> None:
    rr = await review_round(gateway)
    await rr.accept_all()
    await rr.assign_panel()
    # 张伟 (WY) may not be scored by the WY panelist: refused by the gateway (not on the
    # panelist's own sheet) ...
    async with gateway.client() as client:
        wy = As(client, await gateway.token("p_wy"))
        crafted = await wy.put(
            f"{API}/nominations/{rr.nominations['E100']}/score",
            {"criteria": SHEET_HIGH, "panelist_id": rr.id("p_go")},
        )
        problem(crafted, 422, "invalid_input")  # no field names another panelist
        refused = await wy.put(
            f"{API}/nominations/{rr.nominations['E100']}/score", {"criteria": SHEET_HIGH}
        )
        problem(refused, 403, "not_scorable")
    # ... and by the review service itself, should the gateway's check ever be bypassed.
    services = Services(gateway.rpc, Principal(rr.users["p_wy"], "token"), "test")
    with pytest.raises(RemoteError) as caught:
        await services.command(
            "review",
            "submit_score",
            SubmitScore,
            round_id=ROUND,
            nomination_id=rr.nominations["E100"],
            criteria=SHEET_HIGH,
        )
    assert caught.value.error.code == "conflict_of_interest"
    assert caught.value.error.details["conflict"] == "own_unit"
    sheet = await rr.query("pending_scores", panelist_id=rr.id("p_wy"), viewer=rr.id("p_wy"))
    assert sheet["scored"] == []
