"""The JSON API's own documents and the operational endpoints."""

from __future__ import annotations

import pytest

from services.gateway.demo import DEMO_ACCOUNTS, DEMO_PASSWORD, seed_demo_accounts
from shared.settings import Settings
from tests.gateway.harness import ROUND, UNIT_A, Harness, nomination_body

pytestmark = pytest.mark.integration


async def test_a_payroll_client_uses_a_bearer_token_and_the_api_round_trip_works(
    gateway: Harness,
) -> None:
    await gateway.account("wy", {"nominator"}, unit_code=UNIT_A)
    auth = {"Authorization": f"Bearer {await gateway.token('wy')}"}
    async with gateway.client() as client:
        rounds = (await client.get("/api/v1/rounds?status=open", headers=auth)).json()
        assert [r["round_id"] for r in rounds] == [ROUND]
        submitted = await client.post("/api/v1/nominations", json=nomination_body(), headers=auth)
        assert submitted.status_code == 201
        nomination_id = submitted.json()["nomination_id"]
        retry = await client.post(  # the same id again: harmless
            "/api/v1/nominations",
            json=nomination_body(nomination_id=nomination_id),
            headers=auth,
        )
        assert retry.status_code == 201
        assert retry.json()["events"] == []
        quota = (await client.get(f"/api/v1/rounds/{ROUND}/quota", headers=auth)).json()
        assert {c["category"]: c["used"] for c in quota["categories"]}["striving"] == 1
        detail = (await client.get(f"/api/v1/nominations/{nomination_id}", headers=auth)).json()
        assert detail["history"][0]["actor"] == str(gateway.users["wy"].user_id)
        withdrawn = await client.post(
            f"/api/v1/nominations/{nomination_id}/withdraw", json={"reason": "重复"}, headers=auth
        )
        assert withdrawn.json()["events"] == ["NominationWithdrawn"]


async def test_the_openapi_document_lists_the_api_and_no_pages(gateway: Harness) -> None:
    async with gateway.client() as client:
        document = (await client.get("/api/v1/openapi.json")).json()
    paths = set(document["paths"])
    assert {
        "/api/v1/nominations",
        "/api/v1/rounds",
        "/api/v1/rounds/{round_id}/quota",
        "/api/v1/directory/import.csv",
        "/api/v1/me",
    } <= paths
    assert all(p.startswith("/api/v1/") for p in paths)


async def test_metrics_and_health_are_served(gateway: Harness) -> None:
    async with gateway.client() as client:
        await client.get("/login")
        metrics = await client.get("/metrics")
        health = await client.get("/healthz")
    assert 'flowers_gateway_http_requests_total{method="GET",route="/login"' in metrics.text
    assert "flowers_gateway_service_calls_total" in metrics.text
    assert {s["status"] for s in health.json()["services"].values()} == {"ok"}
    assert health.status_code == 200  # the harness runs every service


async def test_the_demo_accounts_are_seeded_once_and_can_sign_in(
    gateway: Harness, settings: Settings
) -> None:
    created = await seed_demo_accounts(settings, gateway.state.gateway)
    assert len(created) == len(DEMO_ACCOUNTS)
    assert await seed_demo_accounts(settings, gateway.state.gateway) == []
    roles = set().union(*(d.roles for d in DEMO_ACCOUNTS))
    assert roles == {
        "staff",
        "nominator",
        "office",
        "panelist",
        "discipline",
        "leader",
        "publicity",
        "payroll",
        "auditor",
        "admin",
    }
    async with gateway.client() as client:
        signed_in = await gateway.sign_in(client, "nominator", DEMO_PASSWORD)
        assert signed_in.status_code == 303
        home = await client.get("/")
        assert "物业服务中心 李静" in home.text
