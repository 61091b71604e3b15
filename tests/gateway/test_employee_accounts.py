"""Every employee signs in: accounts made from the directory (employee number as user name,
role employee, deactivated when they leave), activated with a one-time code from the unit's
printable sheet (stored hashed, single use, expiring), with a password meeting the policy."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import httpx
import pytest
from typer.testing import CliRunner

from deploy.cli import app
from services.gateway.auth import SESSION_COOKIE
from services.gateway.employees import (
    CODE_ALPHABET,
    ProvisionReport,
    code_digest,
    new_code,
    normalise_code,
    username_for,
)
from shared.settings import Settings
from tests.gateway.harness import FAST_HASHING, Harness, csrf_in, running_gateway
from tests.support import eventually

STRONG = "marigold-lantern-river-42"
CODE_ON_SHEET = re.compile(r'class="activation-code">([A-Z0-9-]+)<')


def test_a_code_is_ten_unambiguous_characters_in_two_groups_and_typed_loosely() -> None:
    code = new_code()
    assert re.fullmatch(r"[A-Z2-9]{5}-[A-Z2-9]{5}", code)
    assert set(code.replace("-", "")) <= set(CODE_ALPHABET)
    assert not set("01OI") & set(CODE_ALPHABET)
    assert normalise_code(" " + code.lower().replace("-", " ") + " ") == code.replace("-", "")
    assert code_digest(code.lower()) == code_digest(code)


def test_an_employee_number_is_the_user_name_when_it_can_be_one() -> None:
    assert username_for("HQ1001") == "hq1001"
    assert username_for("E 1") is None
    assert username_for("工号1") is None
    report = ProvisionReport(created=3, deactivated=1, skipped=["工号1"])
    assert report.summary_zh() == (
        "新建职工账户 3 个，更新 0 个，停用 1 个，重新启用 0 个；1 个工号不能用作用户名：工号1。"
    )


async def activate(
    client: httpx.AsyncClient,
    employee_no: str,
    code: str,
    password: str = STRONG,
    repeat: str | None = None,
) -> httpx.Response:
    page = await client.get("/activate")
    return await client.post(
        "/activate",
        data={
            "csrf_token": csrf_in(page.text),
            "employee_no": employee_no,
            "code": code,
            "password": password,
            "password2": password if repeat is None else repeat,
        },
    )


@pytest.mark.integration
async def test_a_unit_prints_codes_and_its_employees_activate_sign_in_and_lose_access_on_leaving(
    gateway: Harness,
) -> None:
    await gateway.role_accounts()
    wy = await gateway.signed_in("nominator")  # unit WY: 张伟 E100, 李娜 E101, 王芳 E102
    page = await wy.get("/employees/activation")
    assert page.status_code == 200
    assert '<option value="WY">' in page.text
    assert 'value="CY"' not in page.text
    token = csrf_in(page.text)
    other = await wy.post("/employees/activation", data={"csrf_token": token, "unit_code": "CY"})
    assert other.status_code == 403

    sheet = await wy.post("/employees/activation", data={"csrf_token": token, "unit_code": "WY"})
    assert sheet.status_code == 200
    codes = dict(
        zip(
            re.findall(r"用户名（工号）：<strong>(E\d+)</strong>", sheet.text),
            CODE_ON_SHEET.findall(sheet.text),
            strict=True,
        )
    )
    assert sorted(codes) == ["E100", "E101", "E102"]
    assert "赵强" not in sheet.text  # CY's employee
    assert "/activate" in sheet.text

    # Codes are kept as digests only.
    pool = gateway.state.pool
    stored = [r["code_hash"] for r in await pool.fetch("SELECT code_hash FROM activation_codes")]
    assert len(stored) == 3
    dump = " ".join(str(r) for r in await pool.fetch("SELECT * FROM activation_codes"))
    for code in codes.values():
        assert code not in dump
        assert code.replace("-", "") not in dump
    accounts = {
        r["username"]: r
        for r in await pool.fetch("SELECT * FROM users WHERE provisioned ORDER BY username")
    }
    # The sync made every employee's account (CY's too), none usable before activation.
    assert sorted(accounts) == ["e100", "e101", "e102", "e200", "e201"]
    assert all(r["roles"] == ["employee"] for r in accounts.values())
    assert accounts["e100"]["display_name"] == "张伟"
    assert accounts["e100"]["unit_code"] == "WY"
    anonymous = gateway.client(ip="10.7.0.1")
    refused = await gateway.sign_in(anonymous, "E101", "!unset")
    assert refused.status_code == 401

    # Activation: a wrong code, a weak password, different repeats are refused in Chinese.
    wrong = await activate(anonymous, "E100", "ABCDE-FGHJK")
    assert wrong.status_code == 422
    assert "激活码不正确" in wrong.text
    weak = await activate(anonymous, "E100", codes["E100"], "password12")
    assert weak.status_code == 422
    assert "密码过于常见或容易猜到" in weak.text
    differ = await activate(anonymous, "E100", codes["E100"], STRONG, STRONG + "x")
    assert "两次输入的密码不一致" in differ.text

    # The right code, typed in lower case without the dash, with a good password.
    typed = codes["E100"].lower().replace("-", "")
    done = await activate(anonymous, "e100", typed)
    assert done.status_code == 303
    assert done.headers["location"] == "/login?next=/&msg=activated"
    again = await activate(anonymous, "E100", codes["E100"], "another-" + STRONG)
    assert again.status_code == 422  # a code is used once

    employee = gateway.client(ip="10.7.0.2")
    signed = await gateway.sign_in(employee, "E100", STRONG)
    assert signed.status_code == 303
    home = await employee.get("/")
    assert home.status_code == 200
    assert 'data-role="employee"' in home.text
    assert (await employee.get("/gongshi")).status_code == 200
    assert (await employee.get("/review/notice")).status_code == 200  # may object by name
    assert (await employee.get("/employees/activation")).status_code == 403
    assert (await employee.get("/nominations/new")).status_code == 403

    # Codes expire: 李娜's, fifteen days on, no longer works.
    gateway.clock.advance(timedelta(days=15))
    late = await activate(gateway.client(ip="10.7.0.3"), "E101", codes["E101"])
    assert late.status_code == 422
    gateway.clock.advance(timedelta(days=-15))

    # Guessing is throttled like signing in (3 failures per number and address here).
    guesser = gateway.client(ip="10.7.0.4")
    for _ in range(2):
        assert (await activate(guesser, "E102", "ZZZZZ-ZZZZZ")).status_code == 422
    locked = await activate(guesser, "E102", "ZZZZZ-ZZZZZ")
    assert locked.status_code == 429
    assert "尝试次数过多" in locked.text
    still = await activate(guesser, "E102", codes["E102"])
    assert still.status_code == 429  # even with the right code, for a while

    # 张伟 leaves the directory: the administrator's sync deactivates his account at once.
    admin_rpc = {"actor": "test", "roles": ["admin"]}
    await gateway.rpc.command(
        "nomination",
        "import_directory",
        {
            **admin_rpc,
            "rows": [
                {
                    "unit_code": "WY",
                    "unit_name": "物业服务中心",
                    "employee_no": "E100",
                    "name": "张伟",
                    "position": "维修工",
                    "active": False,
                }
            ],
        },
    )
    admin = await gateway.signed_in("admin")
    page = await admin.get("/employees/activation")
    synced = await admin.post("/admin/employees/sync", data={"csrf_token": csrf_in(page.text)})
    assert synced.status_code == 200
    assert "新建职工账户 0 个，更新 0 个，停用 1 个，重新启用 0 个。" in synced.text
    gone = await employee.get("/")
    assert gone.status_code == 303  # his session ended
    assert SESSION_COOKIE in employee.cookies
    after = await gateway.sign_in(gateway.client(ip="10.7.0.5"), "E100", STRONG)
    assert after.status_code == 401


@pytest.mark.integration
async def test_the_operator_syncs_every_employee_account_from_the_command_line(
    gateway: Harness, settings: Settings
) -> None:
    env = {
        "FLOWERS_NATS_URL": settings.nats_url,
        "FLOWERS_DATABASE_URL": settings.database_url,
        "FLOWERS_DATABASE_PREFIX": settings.database_prefix,
    }
    runner = CliRunner()
    first = await asyncio.to_thread(runner.invoke, app, ["users", "sync-employees"], env=env)
    assert first.exit_code == 0, first.output
    assert "新建职工账户 5 个，更新 0 个，停用 0 个，重新启用 0 个。" in first.output
    again = await asyncio.to_thread(runner.invoke, app, ["users", "sync-employees"], env=env)
    assert "新建职工账户 0 个，更新 0 个，停用 0 个，重新启用 0 个。" in again.output
    listed = await asyncio.to_thread(runner.invoke, app, ["users", "list"], env=env)
    assert "e201" in listed.output
    assert "employee" in listed.output


@pytest.mark.integration
async def test_the_gateway_deactivates_a_leaver_by_itself_within_its_sync_interval(
    settings: Settings,
) -> None:
    quick = FAST_HASHING.model_copy(update={"employee_sync_interval_s": 0.2})
    async with running_gateway(settings, quick) as gateway:
        pool = gateway.state.pool

        async def accounts() -> dict[str, bool]:
            rows = await pool.fetch("SELECT username, active FROM users WHERE provisioned")
            return {r["username"]: r["active"] for r in rows}

        async def made() -> bool:
            return len(await accounts()) == 5

        await eventually(made, what="the employees' accounts to be made")
        await gateway.rpc.command(
            "nomination",
            "import_directory",
            {
                "actor": "test",
                "roles": ["admin"],
                "rows": [
                    {
                        "unit_code": "CY",
                        "unit_name": "餐饮服务中心",
                        "employee_no": "E201",
                        "name": "刘洋",
                        "position": "面点师",
                        "active": False,
                    }
                ],
            },
        )

        async def left() -> bool:
            return (await accounts()).get("e201") is False

        await eventually(left, what="刘洋's account to be deactivated")
        assert sum((await accounts()).values()) == 4


@pytest.mark.integration
async def test_a_leaver_in_the_administrators_import_loses_access_at_once(
    gateway: Harness,
) -> None:
    await gateway.role_accounts()
    pool = gateway.state.pool
    admin = await gateway.signed_in("admin")
    sync_page = await admin.get("/employees/activation")
    await admin.post("/admin/employees/sync", data={"csrf_token": csrf_in(sync_page.text)})
    assert await pool.fetchval("SELECT active FROM users WHERE username = 'e101'") is True

    # HR's export says 李娜 has left; the import's reply comes after her account is stopped.
    bearer = {"Authorization": f"Bearer {await gateway.token('admin')}"}
    leaver = {
        "unit_code": "WY",
        "unit_name": "物业服务中心",
        "employee_no": "E101",
        "name": "李娜",
        "position": "保洁员",
        "active": False,
    }
    response = await gateway.client().post(
        "/api/v1/directory/import", json={"rows": [leaver]}, headers=bearer
    )
    assert response.status_code == 200, response.text
    assert await pool.fetchval("SELECT active FROM users WHERE username = 'e101'") is False
    assert await pool.fetchval("SELECT active FROM users WHERE username = 'e100'") is True
