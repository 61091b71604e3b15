"""Who looked, item 5 of issue 18: the auditor's event browser shows sealed personal data as
〔加密个人信息·<pseudonym>〕 until the auditor asks to see it ("查看"); each opening is recorded in
the access record (who, which event, which data subjects by pseudonym, when), and the access
record is found by the employee's number, mapped to the pseudonym through the key store."""

from __future__ import annotations

from datetime import datetime

import pytest

from services.gateway import access_log
from shared.clock import SHANGHAI
from tests.gateway.harness import Harness
from tests.gateway.published import PAST_ROUND, publish_past_result

pytestmark = pytest.mark.integration


async def records(gateway: Harness) -> list[access_log.Access]:
    return await access_log.search(gateway.state.pool, access_log.AccessFilter())


async def test_an_auditor_opens_one_events_sealed_values_and_the_opening_is_recorded(
    gateway: Harness,
) -> None:
    await gateway.role_accounts()
    await publish_past_result(gateway)  # review:1 is the ResultPublished naming three winners
    auditor = await gateway.signed_in("auditor", ip="10.9.8.7")

    sealed = await auditor.get("/audit/events/review/1")
    assert sealed.status_code == 200
    assert "〔加密个人信息·" in sealed.text
    assert "张伟" not in sealed.text
    assert 'action="/audit/events/review/1/open"' in sealed.text
    assert "查看" in sealed.text
    [looked] = await records(gateway)
    assert looked.what == "audit_event"
    assert len(looked.subjects) == 3  # the sealed winners, named by pseudonym
    assert all(s.startswith("pii:") for s in looked.subjects)

    opened = await auditor.post(
        "/audit/events/review/1/open", data={"csrf_token": gateway.csrf_for(auditor)}
    )
    assert opened.status_code == 200, opened.text
    for name in ("张伟", "李娜", "赵强"):
        assert name in opened.text
    assert "〔加密个人信息·" not in opened.text
    assert "本次查看已记入个人信息访问记录" in opened.text
    record, before = await records(gateway)
    assert before == looked
    assert record.what == "audit_event_opened"
    assert record.viewer_id == str(gateway.users["auditor"].user_id)
    assert record.viewer_roles == ("auditor",)
    assert record.client_ip == "10.9.8.7"
    assert record.round_id == PAST_ROUND
    assert record.at == gateway.clock.now()
    assert record.subjects == looked.subjects  # by pseudonym, never the opened values
    assert record.detail["positions"] == ["review:1"]
    assert record.detail["streams"] == [f"review-{PAST_ROUND}"]
    assert record.detail["path"] == "/audit/events/review/1/open"
    assert "E100" not in str(record.to_json())
    assert "张伟" not in str(record.to_json())

    # Without the CSRF token nothing opens and nothing is recorded.
    forged = await auditor.post("/audit/events/review/1/open", data={})
    assert forged.status_code == 403
    assert len(await records(gateway)) == 2
    await auditor.aclose()

    # Only the auditor opens sealed values.
    for other in ("office", "admin", "staff"):
        client = await gateway.signed_in(other)
        refused = await client.post(
            "/audit/events/review/1/open", data={"csrf_token": gateway.csrf_for(client)}
        )
        assert refused.status_code == 403, other
        await client.aclose()
    assert len(await records(gateway)) == 2

    # The office finds both records by the employee's number (the key store maps it to the
    # pseudonym the records name); another employee's number finds neither.
    office = await gateway.signed_in("office")
    by_number = await office.get("/personal-data/access?employee_no=E100")
    assert "审计：查看单条事件中的加密个人信息" in by_number.text
    assert "审计：查看单条事件" in by_number.text
    assert by_number.text.count('<tr id="access-') == 2
    nobody = await office.get("/personal-data/access?employee_no=E102")
    assert "没有符合条件的记录" in nobody.text
    by_pseudonym = await office.get(f"/personal-data/access?employee_no={looked.subjects[0]}")
    assert by_pseudonym.text.count('<tr id="access-') == 2
    api = await office.get("/api/v1/personal-data/access?employee_no=E200")
    assert api.status_code == 200
    assert {r["what"] for r in api.json()["items"]} == {"audit_event", "audit_event_opened"}

    # Erased, a subject's values read 已删除 when opened, and the page says whose. E200 won:
    # the payroll facts hold their data until the end of 2056 (会计档案管理办法), then it goes.
    await office.aclose()
    gateway.clock.set(datetime(2057, 1, 1, 9, 0, tzinfo=SHANGHAI))
    office = await gateway.signed_in("office")
    erased = await office.post(
        "/api/v1/employees/E200/erasure",
        json={"reason": "本人申请删除"},
        headers={"X-CSRF-Token": gateway.csrf_for(office)},
    )
    assert erased.status_code == 200, erased.text
    await office.aclose()
    auditor = await gateway.signed_in("auditor")
    again = await auditor.post(
        "/audit/events/review/1/open", data={"csrf_token": gateway.csrf_for(auditor)}
    )
    assert again.status_code == 200
    assert "赵强" not in again.text
    assert "已删除" in again.text
    assert erased.json()["subject_id"] in again.text
    latest = (await records(gateway))[0]
    assert latest.detail["erased"] == [erased.json()["subject_id"]]
    await auditor.aclose()

    # The API opens the same way and is recorded the same way.
    async with gateway.client() as http:
        bearer = {"Authorization": f"Bearer {await gateway.token('auditor')}"}
        answer = await http.post("/api/v1/audit/events/review/1/open", headers=bearer)
        assert answer.status_code == 200, answer.text
        names = {w["name"] for w in answer.json()["data"]["winners"]}
        assert names == {"张伟", "李娜", "已删除"}
        assert answer.json()["erased"] == [erased.json()["subject_id"]]
    newest = (await records(gateway))[0]
    assert newest.what == "audit_event_opened"
    assert newest.subjects == looked.subjects
