"""The gateway's nomination drafts go with the nominee's personal data (services/gateway/
drafts.py): an erasure through the API deletes the drafts naming the employee once it is
recorded (a refused one leaves them), a retention run deletes the drafts it outdates; and
every service, the notification service included, scrubs its projections on the erasure
(shared/scrub.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest

from services.gateway import drafts
from shared.contracts.nomination import ExpiredPersonalDataShredded, ShreddedSubject
from shared.settings import Settings
from tests.gateway.harness import NOW, UNIT_A, Harness, running_gateway
from tests.gateway.test_nominator_pages import form_data
from tests.support import until_scrubbed

pytestmark = pytest.mark.integration


@pytest.fixture
async def gateway(settings: Settings) -> AsyncIterator[Harness]:
    async with running_gateway(settings) as harness:
        yield harness


async def draft_of(gateway: Harness, username: str, employee_no: str) -> None:
    client = await gateway.signed_in(username)
    page = await client.get("/nominations/new")
    half = form_data(page.text, category="", recommendation="", action="draft")
    half["employee_no"] = employee_no
    saved = await client.post("/nominations/new", data=half)
    assert saved.status_code == 303


async def drafts_naming(gateway: Harness) -> list[str]:
    rows = await gateway.state.pool.fetch(
        "SELECT (form #>> '{}')::jsonb ->> 'employee_no' AS employee_no "
        "FROM nomination_drafts ORDER BY 1"
    )
    return [r["employee_no"] for r in rows]


async def test_an_erasure_deletes_the_drafts_naming_the_employee_and_every_service_scrubs(
    gateway: Harness,
) -> None:
    await gateway.account("wy", {"nominator"}, unit_code=UNIT_A)
    await gateway.account("wy2", {"nominator"}, unit_code=UNIT_A)
    await gateway.account("office", {"office"})
    await draft_of(gateway, "wy", "E100")
    await draft_of(gateway, "wy2", "E101")
    await gateway.account("wy3", {"nominator"}, unit_code=UNIT_A)
    await draft_of(
        gateway, "wy3", "E999"
    )  # one draft per nominator and round; nobody the services hold data of
    assert await drafts_naming(gateway) == ["E100", "E101", "E999"]

    token = await gateway.token("office")
    async with gateway.client() as client:
        refused = await client.post(
            "/api/v1/employees/E999/erasure",
            json={"reason": "本人书面申请删除"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert refused.status_code == 404, refused.text
        assert await drafts_naming(gateway) == ["E100", "E101", "E999"]  # refused: kept
        erased = await client.post(
            "/api/v1/employees/E100/erasure",
            json={"reason": "本人书面申请删除"},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert erased.status_code == 200, erased.text
    assert await drafts_naming(gateway) == ["E101", "E999"]  # someone else's drafts stay

    fact = await gateway.nomination.store.pool.fetchval(
        "SELECT event_id FROM events WHERE type = 'PersonalDataErased'"
    )
    services = [
        gateway.nomination,
        gateway.review,
        gateway.rewards,
        gateway.publicity,
        gateway.notification,
    ]
    await until_scrubbed([r for r in services if r is not None], fact)
    # The directory projection forgot the erased employee's number and name.
    held = await gateway.nomination.store.pool.fetchval(
        "SELECT count(*) FROM employees WHERE employee_no = 'E100'"
    )
    assert held == 0


async def test_a_retention_run_deletes_the_drafts_it_outdates(gateway: Harness) -> None:
    await gateway.account("wy", {"nominator"}, unit_code=UNIT_A)
    await draft_of(gateway, "wy", "E100")
    saved_at = await gateway.state.pool.fetchval("SELECT saved_at FROM nomination_drafts")
    assert saved_at == NOW
    result_at = NOW + timedelta(days=20)  # the round's result, after the draft was saved

    def run(expired_at: datetime) -> ExpiredPersonalDataShredded:
        return ExpiredPersonalDataShredded(
            subjects=(
                ShreddedSubject(
                    subject_id=uuid.uuid4(), rule="unsuccessful_nomination", expired_at=expired_at
                ),
            ),
            counts={"unsuccessful_nomination": 1},
            years={"unsuccessful_nomination": 3, "objection": 1, "payroll": 30},
            ran_at=NOW + timedelta(days=3 * 366),
        )

    # A run about nominations of a round whose result came before this draft: it stays.
    earlier = NOW - timedelta(days=1) + timedelta(days=3 * 365)
    assert await drafts.forget_expired(gateway.state.pool, run(earlier)) == 0
    # The run about this round (its result three calendar years before): the draft goes.
    later = result_at.replace(year=result_at.year + 3)
    assert await drafts.forget_expired(gateway.state.pool, run(later)) == 1
    assert await drafts_naming(gateway) == []
