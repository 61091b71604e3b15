"""Who looked: reading personal data through the event browser or a download leaves exactly one
access record (who, roles, what, round, employees, positions, when, from where); the office,
the administrator and the auditor list them, filtered; nobody else sees them; the record is
append-only and its hash chain shows a row changed behind the gateway's back."""

from __future__ import annotations

import asyncpg
import pytest

from services.gateway import access_log
from shared.settings import Settings
from tests.gateway.harness import ROUND, Harness
from tests.gateway.published import PAST_ROUND, PERIOD, WINNERS, publish_past_result
from tests.gateway.review_setup import review_round

pytestmark = pytest.mark.integration

WINNER_NOS = sorted(w[1] for w in WINNERS)


async def records(gateway: Harness) -> list[access_log.Access]:
    return await access_log.search(gateway.state.pool, access_log.AccessFilter())


async def test_browsing_the_event_log_leaves_one_record_per_read(gateway: Harness) -> None:
    await gateway.role_accounts()
    await publish_past_result(gateway)
    auditor = gateway.users["auditor"]
    client = await gateway.signed_in("auditor", ip="10.9.8.7")
    assert await records(gateway) == []

    page = await client.get(f"/audit/events?service=review&stream=review-{PAST_ROUND}")
    assert page.status_code == 200
    [browsed] = await records(gateway)
    assert browsed.what == "audit_events"
    assert browsed.viewer_id == str(auditor.user_id)
    assert browsed.viewer_name == "测试 auditor"
    assert browsed.viewer_roles == ("auditor",)
    assert browsed.client_ip == "10.9.8.7"
    assert browsed.round_id == PAST_ROUND
    # The ResultPublished names the three winners, sealed (README "Privacy"): the browser
    # showed their sealed values, and the record names them by pseudonym.
    assert len(browsed.subjects) == 3
    assert all(s.startswith("pii:") for s in browsed.subjects)
    assert browsed.detail["streams"] == [f"review-{PAST_ROUND}"]
    assert browsed.detail["positions"] == ["review:1"]
    assert browsed.detail["path"] == "/audit/events"
    assert browsed.at == gateway.clock.now()

    one = await client.get("/audit/events/rewards/1")
    assert one.status_code == 200
    latest, previous = await records(gateway)
    assert previous == browsed
    assert latest.what == "audit_event"
    assert latest.detail["positions"] == ["rewards:1"]
    # The award is sealed in rewards' log (README "Privacy"): the record names the winner by
    # pseudonym, as for the review's result above.
    assert len(latest.subjects) == 1
    assert latest.subjects[0].startswith("pii:")
    await client.aclose()

    # The API reads the same log and is recorded the same way.
    api = {"Authorization": f"Bearer {await gateway.token('auditor')}"}
    async with gateway.client(ip="10.1.1.1") as http:
        listed = await http.get("/api/v1/audit/events?service=rewards", headers=api)
        assert listed.status_code == 200
    newest = (await records(gateway))[0]
    assert (newest.what, newest.client_ip) == ("audit_events", "10.1.1.1")
    assert newest.detail["positions"] == [
        f"rewards:{i['position']}" for i in listed.json()["items"]
    ]
    assert len(await records(gateway)) == 3


async def test_a_payroll_export_leaves_one_record_naming_everyone_in_the_file(
    gateway: Harness,
) -> None:
    await gateway.role_accounts()
    await publish_past_result(gateway)
    client = await gateway.signed_in("payroll", ip="10.2.3.4")
    exported = await client.get(f"/payroll/periods/{PERIOD}/export?format=xlsx")
    assert exported.status_code == 200
    [record] = await records(gateway)
    assert record.what == "payroll_export"
    assert record.viewer_id == str(gateway.users["payroll"].user_id)
    assert record.viewer_roles == ("payroll",)
    assert record.client_ip == "10.2.3.4"
    assert record.round_id == PERIOD
    assert list(record.subjects) == WINNER_NOS
    assert record.detail["file"].startswith(f"薪酬调整_{PERIOD}")
    await client.aclose()


async def test_the_access_record_page_lists_and_filters_and_staff_cannot_see_it(
    gateway: Harness,
) -> None:
    await gateway.role_accounts()
    await publish_past_result(gateway)
    payroll = await gateway.signed_in("payroll", ip="10.2.3.4")
    await payroll.get(f"/payroll/periods/{PERIOD}/export?format=xlsx")
    await payroll.aclose()
    auditor = await gateway.signed_in("auditor", ip="10.9.8.7")
    await auditor.get(f"/audit/events?service=review&stream=review-{PAST_ROUND}")
    await auditor.aclose()
    browsed = next(r for r in await records(gateway) if r.what == "audit_events")
    sealed = browsed.subjects[0]
    assert sealed.startswith("pii:")  # the winners' values are sealed: named by pseudonym

    for reader in ("office", "admin", "auditor"):
        client = await gateway.signed_in(reader)
        page = await client.get("/personal-data/access?verify=1")
        assert page.status_code == 200, reader
        assert "个人信息访问记录" in page.text
        assert "导出薪酬调整文件" in page.text
        assert "审计：浏览事件日志" in page.text
        assert "2026年11月2日 10:00" in page.text  # Beijing time in Chinese form
        assert "10.2.3.4" in page.text
        assert "10.9.8.7" in page.text
        assert "记录链完整" in page.text
        await client.aclose()

    office = await gateway.signed_in("office")
    by_viewer = await office.get("/personal-data/access?viewer=payroll")
    assert "导出薪酬调整文件" in by_viewer.text
    assert "审计：浏览事件日志" not in by_viewer.text
    by_employee = await office.get(f"/personal-data/access?employee_no={sealed}")
    assert "审计：浏览事件日志" in by_employee.text
    assert "导出薪酬调整文件" not in by_employee.text
    same_day = await office.get("/personal-data/access?since=2026-11-02&until=2026-11-02")
    assert same_day.text.count('<tr id="access-') == 2
    later = await office.get("/personal-data/access?since=2026-11-03")
    assert "没有符合条件的记录" in later.text
    await office.aclose()

    for outsider in ("staff", "payroll", "publicity", "nominator", "leader"):
        client = await gateway.signed_in(outsider)
        assert (await client.get("/personal-data/access")).status_code == 403, outsider
        await client.aclose()

    async with gateway.client() as http:
        office_api = {"Authorization": f"Bearer {await gateway.token('office')}"}
        staff_api = {"Authorization": f"Bearer {await gateway.token('staff')}"}
        listed = await http.get("/api/v1/personal-data/access?employee_no=E100", headers=office_api)
        assert listed.status_code == 200
        body = listed.json()
        assert "payroll_export" in [i["what"] for i in body["items"]]
        # By number, and by the pseudonym the key store knows E100 by (the browsed result).
        pseudonym = await gateway.nomination.keys.subject_of("E100")  # type: ignore[union-attr]
        assert all({"E100", f"pii:{pseudonym}"} & set(i["subjects"]) for i in body["items"])
        assert {i["what"] for i in body["items"]} == {"payroll_export", "audit_events"}
        refused = await http.get("/api/v1/personal-data/access", headers=staff_api)
        assert refused.status_code == 403
        chain = await http.get("/api/v1/personal-data/access/verify", headers=office_api)
        assert chain.json() == {"ok": True, "records": 2, "first_break": None}


async def test_the_record_is_append_only_and_a_changed_row_breaks_its_chain(
    gateway: Harness, settings: Settings
) -> None:
    await gateway.role_accounts()
    await publish_past_result(gateway)
    client = await gateway.signed_in("auditor")
    for position in (1, 2, 3):
        await client.get(f"/audit/events/rewards/{position}")
    await client.aclose()
    assert (await access_log.verify(gateway.state.pool)).ok

    pool = gateway.state.pool  # the gateway's own run-time role
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await pool.execute("UPDATE personal_data_access SET client_ip = '1.1.1.1'")
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await pool.execute("DELETE FROM personal_data_access WHERE position = 2")
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await pool.execute("TRUNCATE personal_data_access")

    # The owner can switch the trigger off; the chain still tells.
    owner = await asyncpg.connect(settings.database_url_for("gateway", login="gateway_owner"))
    try:
        await owner.execute("ALTER TABLE personal_data_access DISABLE TRIGGER USER")
        await owner.execute(
            "UPDATE personal_data_access SET viewer_name = '别人' WHERE position = 2"
        )
    finally:
        await owner.close()
    check = await access_log.verify(pool)
    assert (check.ok, check.first_break, check.records) == (False, 2, 1)
    office = await gateway.signed_in("office")
    page = await office.get("/personal-data/access")
    assert "校验记录链" in page.text  # the walk is on demand
    page = await office.get("/personal-data/access?verify=1")
    assert "记录链在第 2 条处断裂" in page.text
    await office.aclose()


async def test_the_summary_sheet_and_publicity_files_each_leave_one_record(
    gateway: Harness,
) -> None:
    await review_round(gateway)  # four nominations of 2026-Q4 in the review
    published = await publish_past_result(gateway)
    await gateway.account("publicity", {"publicity"})
    office = await gateway.signed_in("office", ip="10.4.4.4")
    sheet = await office.get(f"/review/sheet/{ROUND}.xlsx")
    assert sheet.status_code == 200
    [summary] = await records(gateway)
    assert (summary.what, summary.round_id, summary.client_ip) == (
        "summary_sheet",
        ROUND,
        "10.4.4.4",
    )
    assert list(summary.subjects) == ["E100", "E101", "E200", "E201"]
    assert summary.detail["file"] == f"推荐汇总表-{ROUND}.xlsx"
    await office.aclose()

    publicity = await gateway.signed_in("publicity")
    bulletin = published["drafts"]["bulletin"]["material_id"]
    docx = await publicity.get(f"/publicity/drafts/{bulletin}/download/docx")
    assert docx.status_code == 200
    drafted = (await records(gateway))[0]
    assert (drafted.what, drafted.round_id) == ("publicity_draft", PAST_ROUND)
    assert list(drafted.subjects) == WINNER_NOS
    assert drafted.detail["material_id"] == bulletin
    report = await publicity.get(
        f"/publicity/reports/download?scope=round&round_id={PAST_ROUND}&format=csv"
    )
    assert report.status_code == 200
    reported = (await records(gateway))[0]
    assert (reported.what, reported.round_id) == ("publicity_report", PAST_ROUND)
    assert list(reported.subjects) == WINNER_NOS
    assert len(await records(gateway)) == 3
    await publicity.aclose()
