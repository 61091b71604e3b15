"""`flowers privacy export|correct|erase`: the office's requests from the command line, sent
over NATS as the operator acting for the office, against the real services and gateway
database; refusals in one line with their code."""

from __future__ import annotations

import asyncio
import getpass
from io import BytesIO
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner, Result

from deploy.cli import app
from services.gateway import access_log
from shared.settings import Settings
from tests.gateway.harness import UNIT_A, Harness, nomination_body

pytestmark = pytest.mark.integration


async def flowers(settings: Settings, *args: str, stdin: str | None = None) -> Result:
    """Run the CLI in a thread (it runs its own event loop), pointed at the test servers."""
    env = {
        "FLOWERS_NATS_URL": settings.nats_url,
        "FLOWERS_DATABASE_URL": settings.database_url,
        "FLOWERS_DATABASE_PREFIX": settings.database_prefix,
    }
    return await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env, input=stdin)


async def test_an_operator_exports_corrects_and_erases_for_the_office(
    gateway: Harness, settings: Settings, tmp_path: Path
) -> None:
    await gateway.account("wy", {"nominator"}, unit_code=UNIT_A)
    async with gateway.client() as api:
        auth = {"Authorization": f"Bearer {await gateway.token('wy')}"}
        submitted = await api.post("/api/v1/nominations", json=nomination_body(), headers=auth)
        assert submitted.status_code == 201, submitted.text
    nomination_id = submitted.json()["nomination_id"]
    keys = gateway.nomination.keys
    assert keys is not None
    pseudonym = await keys.subject_of("E100")

    target = tmp_path / "copy.xlsx"
    exported = await flowers(
        settings, "privacy", "export", "E100", "--reason", "本人申请查阅", "-o", str(target)
    )
    assert exported.exit_code == 0, exported.output
    book = load_workbook(BytesIO(target.read_bytes()))
    nominated = [[c.value for c in row] for row in book["被提名记录"].iter_rows()]
    assert any("张伟" in row for row in nominated)
    [record] = await access_log.search(gateway.state.pool, access_log.AccessFilter())
    assert record.what == "subject_export"
    assert record.viewer_id == f"cli:{getpass.getuser()}"
    assert set(record.viewer_roles) == {"operator", "office"}
    assert record.subjects == ("E100", f"pii:{pseudonym}")
    assert record.detail["reason"] == "本人申请查阅"

    corrected = await flowers(
        settings,
        "privacy",
        "correct",
        nomination_id,
        "--field",
        "position",
        "--value",
        "维修班长",
        "--reason",
        "本人申请更正岗位",
    )
    assert corrected.exit_code == 0, corrected.output
    assert "corrected nomination" in corrected.output
    position = await gateway.nomination.store.pool.fetchval(
        "SELECT position FROM nominations WHERE nomination_id = $1::uuid", nomination_id
    )
    assert position == "维修班长"

    declined = await flowers(settings, "privacy", "erase", "E100", "--reason", "x", stdin="n\n")
    assert declined.exit_code == 1
    assert "nothing erased" in declined.output
    assert await keys.subject_of("E100") == pseudonym

    erased = await flowers(
        settings, "privacy", "erase", "E100", "--reason", "本人书面申请删除", "--yes"
    )
    assert erased.exit_code == 0, erased.output
    assert f"erased E100: pseudonym {pseudonym}, key destroyed" in erased.output
    assert "the gateway deleted the drafts naming the employee" in erased.output
    assert await keys.subject_of("E100") is None

    again = await flowers(
        settings, "privacy", "erase", "E100", "--reason", "本人书面申请删除", "--yes"
    )
    assert again.exit_code == 1
    assert "(no_personal_data)" in again.output
    assert "没有职工 E100 的个人信息" in again.output
    assert "Traceback" not in again.output
