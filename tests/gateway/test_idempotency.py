"""A command sent again with its idempotency key gets its first outcome, never a second act:
a form posted twice, an API request retried, and a submit that timed out at the gateway while
the service still carried it out (through the real stack: gateway, NATS, the nomination
service and its PostgreSQL)."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from tests.gateway.harness import UNIT_A, Harness, csrf_in, nomination_body
from tests.gateway.test_directory_files import workbook
from tests.gateway.test_nominator_pages import form_data
from tests.support import eventually

pytestmark = pytest.mark.integration


def key_in(html: str) -> str:
    match = re.search(r'name="idempotency_key" value="([^"]+)"', html)
    assert match, "the form carries no idempotency key"
    return match.group(1)


async def submitted(gateway: Harness) -> int:
    """How many NominationSubmitted events the nomination service's log holds."""
    count = await gateway.nomination.store.pool.fetchval(
        "SELECT count(*) FROM events WHERE type = 'NominationSubmitted'"
    )
    return int(count)


async def test_a_form_posted_twice_records_one_nomination_and_answers_both_alike(
    gateway: Harness,
) -> None:
    await gateway.account("wy", {"nominator"}, unit_code=UNIT_A)
    client = await gateway.signed_in("wy")
    page = await client.get("/nominations/new")
    data = {**form_data(page.text), "idempotency_key": key_in(page.text)}

    first = await client.post("/nominations/new", data=data)
    again = await client.post("/nominations/new", data=data)  # a double click, a reload

    assert first.status_code == again.status_code == 303
    assert first.headers["location"].split("?")[0] == again.headers["location"].split("?")[0]
    assert await submitted(gateway) == 1
    # A new form has a new key.
    assert key_in((await client.get("/nominations/new")).text) != data["idempotency_key"]


async def test_an_api_submit_retried_with_its_idempotency_key_gets_the_first_answer(
    gateway: Harness,
) -> None:
    await gateway.account("wy", {"nominator"}, unit_code=UNIT_A)
    auth = {"Authorization": f"Bearer {await gateway.token('wy')}"}
    async with gateway.client() as client:
        # The body names no nomination id: the gateway makes a new one for each request.
        body = nomination_body()
        keyed = {**auth, "Idempotency-Key": str(uuid.uuid4())}
        first = await client.post("/api/v1/nominations", json=body, headers=keyed)
        again = await client.post("/api/v1/nominations", json=body, headers=keyed)
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json()
        assert await submitted(gateway) == 1

        # Without a key the same request is a second command: the service decides on it
        # (here it refuses, the employee being nominated already) instead of answering.
        unkeyed = await client.post("/api/v1/nominations", json=body, headers=auth)
        assert unkeyed.status_code == 409, unkeyed.text
        assert await submitted(gateway) == 1


async def test_a_refused_command_is_decided_again_when_sent_again_with_its_key(
    gateway: Harness,
) -> None:
    await gateway.account("wy", {"nominator"}, unit_code=UNIT_A)
    auth = {"Authorization": f"Bearer {await gateway.token('wy')}"}
    keyed = {**auth, "Idempotency-Key": "form-1"}
    async with gateway.client() as client:
        refused = await client.post(
            "/api/v1/nominations", json=nomination_body(employee_no="NOBODY"), headers=keyed
        )
        assert refused.status_code >= 400
        corrected = await client.post("/api/v1/nominations", json=nomination_body(), headers=keyed)
        assert corrected.status_code == 201, corrected.text
        assert await submitted(gateway) == 1


async def test_a_submit_that_times_out_says_it_is_being_processed_and_a_retry_gets_its_outcome(
    gateway: Harness,
) -> None:
    await gateway.account("wy", {"nominator"}, unit_code=UNIT_A)
    client = await gateway.signed_in("wy")
    page = await client.get("/nominations/new")
    data = {**form_data(page.text), "idempotency_key": key_in(page.text)}
    gateway.state.rpc.timeout = 0.5
    # The log's head row held by another transaction: the service's append waits for it,
    # longer than the gateway waits for the answer.
    pool = gateway.nomination.store.pool
    async with pool.acquire() as blocker:
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("SELECT 1 FROM event_log_head FOR UPDATE")
        try:
            slow = await client.post("/nominations/new", data=data)
        finally:
            await transaction.rollback()

    assert slow.status_code == 422  # the form again, with the notice above it
    assert "系统仍在处理中，请勿重复提交" in slow.text
    assert "我的提名" in slow.text
    assert key_in(slow.text) == data["idempotency_key"]  # the form keeps its key

    gateway.state.rpc.timeout = 5.0
    retried = await _post_until_answered(client, data)
    assert retried.status_code == 303
    assert await submitted(gateway) == 1


async def _post_until_answered(client: httpx.AsyncClient, data: dict[str, str]) -> httpx.Response:
    """Post the form again; while the first is still being carried out the service says so."""
    answers: list[httpx.Response] = []

    async def answered() -> bool:
        answers.append(await client.post("/nominations/new", data=data))
        return "正在处理中" not in answers[-1].text

    await eventually(answered, what="the first submission finished")
    return answers[-1]


async def test_a_page_shown_after_a_carried_out_post_offers_its_form_with_a_new_key(
    gateway: Harness,
) -> None:
    """The directory page answers its post with the page itself (no redirect): the form it
    shows again must carry a new key, or the next import would get the first one's answer."""
    await gateway.account("admin", {"admin"})
    client = await gateway.signed_in("admin")
    page = await client.get("/admin/directory")
    first_key = key_in(page.text)
    first = await client.post(
        "/admin/directory",
        data={"csrf_token": csrf_in(page.text), "idempotency_key": first_key},
        files={"file": ("名册.xlsx", workbook(("H010", "郑洁", "HW", "后勤服务部", "库管", "是")))},
    )
    assert "新增职工 1 名；新增单位 1 个" in first.text
    second_key = key_in(first.text)
    assert second_key != first_key
    second = await client.post(
        "/admin/directory",
        data={"csrf_token": csrf_in(first.text), "idempotency_key": second_key},
        files={"file": ("名册.xlsx", workbook(("H010", "郑洁", "HW", "后勤服务部", "队长", "是")))},
    )
    assert "更新 1 名" in second.text, second.text[-2000:]

    # A refused post shows its form again with the key it was posted with.
    refused = await client.post(
        "/admin/directory",
        data={"csrf_token": csrf_in(second.text), "idempotency_key": "kept-1"},
        files={"file": ("名册.xlsx", workbook(("H011", "", "HW", "后勤服务部", "库管", "是")))},
    )
    assert "未导入任何数据" in refused.text
    assert key_in(refused.text) == "kept-1"
