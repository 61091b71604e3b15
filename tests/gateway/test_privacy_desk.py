"""The office's desk for a data subject's requests (个人信息请求, issue 18 item 4 for people):
look an employee up by number and see what is held, export it, correct a nominee's name in a
chosen nomination, erase with a reason after a confirmation step; refusals shown in Chinese as
a message, never a stack trace; every lookup recorded in the access record."""

from __future__ import annotations

import uuid

import pytest

from services.gateway import access_log
from services.gateway.subject_export import XLSX
from tests.gateway.harness import UNIT_A, Harness, nomination_body

pytestmark = pytest.mark.integration


def form(gateway: Harness, client: object, **fields: str) -> dict[str, str]:
    """A form as the page posts it: its CSRF token and a fresh idempotency key."""
    return {
        "csrf_token": gateway.csrf_for(client),  # type: ignore[arg-type]
        "idempotency_key": str(uuid.uuid4()),
        **fields,
    }


async def test_the_office_looks_up_corrects_and_erases_an_employees_data_on_request(
    gateway: Harness,
) -> None:
    await gateway.account("office", {"office"})
    await gateway.account("wy", {"nominator"}, unit_code=UNIT_A)
    await gateway.account("auditor", {"auditor"})
    async with gateway.client() as api:
        auth = {"Authorization": f"Bearer {await gateway.token('wy')}"}
        submitted = await api.post("/api/v1/nominations", json=nomination_body(), headers=auth)
        assert submitted.status_code == 201, submitted.text
    nomination_id = submitted.json()["nomination_id"]

    office = await gateway.signed_in("office")
    home = await office.get("/")
    assert 'href="/personal-data"' in home.text  # the menu
    assert 'action="/personal-data"' in home.text  # the home panel's lookup
    empty = await office.get("/personal-data")
    assert empty.status_code == 200
    assert "个人信息请求" in empty.text

    # Looking up: what is held, in Chinese, times in Beijing time; the lookup is recorded.
    page = await office.get("/personal-data?employee_no=E100")
    assert page.status_code == 200
    assert "张伟" in page.text
    assert "维修工" in page.text
    assert "物业服务中心" in page.text
    assert "2026年11月2日 10:00" in page.text
    assert f'<option value="{nomination_id}"' in page.text
    assert 'action="/personal-data/export"' in page.text
    pseudonym = await gateway.nomination.keys.subject_of("E100")  # type: ignore[union-attr]
    assert str(pseudonym) in page.text
    [looked] = await access_log.search(gateway.state.pool, access_log.AccessFilter())
    assert looked.what == "privacy_desk"
    assert looked.subjects == ("E100", f"pii:{pseudonym}")

    # The export from the desk: the workbook.
    exported = await office.post(
        "/personal-data/export",
        data=form(gateway, office, employee_no="E100", reason="本人申请查阅"),
    )
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith(XLSX)

    # Correcting: a missing value is named beside its field; then the name is corrected.
    incomplete = await office.post(
        "/personal-data/correction",
        data=form(
            gateway,
            office,
            employee_no="E100",
            nomination_id=nomination_id,
            field="name",
            value="",
            reason="本人书面申请更正姓名",
        ),
    )
    assert incomplete.status_code == 422
    assert "请填写更正后的内容" in incomplete.text
    corrected = await office.post(
        "/personal-data/correction",
        data=form(
            gateway,
            office,
            employee_no="E100",
            nomination_id=nomination_id,
            field="name",
            value="张玮",
            reason="本人书面申请更正姓名",
        ),
    )
    assert corrected.status_code == 303, corrected.text
    assert corrected.headers["location"] == "/personal-data?employee_no=E100&msg=nominee_corrected"
    after = await office.get(corrected.headers["location"])
    assert "已更正" in after.text
    assert "张玮" in after.text
    unknown = await office.post(
        "/personal-data/correction",
        data=form(
            gateway,
            office,
            employee_no="E100",
            nomination_id=str(uuid.uuid4()),
            field="position",
            value="班长",
            reason="本人申请",
        ),
    )
    assert unknown.status_code == 422
    assert "找不到该推荐" in unknown.text  # the service's refusal, in Chinese, beside the field
    assert "Traceback" not in unknown.text

    # Erasing: the reason is needed; then a confirmation page; only the confirmed post erases.
    no_reason = await office.post(
        "/personal-data/erasure", data=form(gateway, office, employee_no="E100", reason="")
    )
    assert no_reason.status_code == 422
    assert "请写明删除事由" in no_reason.text
    asked = await office.post(
        "/personal-data/erasure",
        data=form(gateway, office, employee_no="E100", reason="本人书面申请删除"),
    )
    assert asked.status_code == 200
    assert "确认删除" in asked.text
    assert 'name="confirm" value="yes"' in asked.text
    assert await gateway.nomination.keys.subject_of("E100") == pseudonym  # type: ignore[union-attr]
    confirmed = await office.post(
        "/personal-data/erasure",
        data=form(gateway, office, employee_no="E100", reason="本人书面申请删除", confirm="yes"),
    )
    assert confirmed.status_code == 303, confirmed.text
    assert confirmed.headers["location"] == (
        f"/personal-data?employee_no=E100&erased={pseudonym}&msg=personal_data_erased"
    )
    assert await gateway.nomination.keys.subject_of("E100") is None  # type: ignore[union-attr]
    result = await office.get(confirmed.headers["location"])
    assert "已删除该职工的个人信息" in result.text
    assert str(pseudonym) in result.text
    assert "自动重建其查询表" in result.text  # no one rebuilds by hand any more

    # Erased again: the service's refusal, as a message in Chinese, not a stack trace.
    again = await office.post(
        "/personal-data/erasure",
        data=form(gateway, office, employee_no="E100", reason="本人书面申请删除", confirm="yes"),
    )
    assert again.status_code == 422
    assert "没有职工 E100 的个人信息（从未记录，或已删除）" in again.text
    assert "Traceback" not in again.text
    await office.aclose()

    # The desk is the office's.
    auditor = await gateway.signed_in("auditor")
    assert (await auditor.get("/personal-data?employee_no=E101")).status_code == 403
    refused = await auditor.post(
        "/personal-data/erasure",
        data=form(gateway, auditor, employee_no="E101", reason="x", confirm="yes"),
    )
    assert refused.status_code == 403
    await auditor.aclose()
    assert await gateway.nomination.keys.subject_of("E101") is not None  # type: ignore[union-attr]
