"""The employee-account sync's log line names no employee (issue 18: no log line in clear).

The sync (services/gateway/employees.py sync_loop) logs what it did as counts; the employee
numbers it could not use as user names are shown to the administrator only (the page and
`flowers users sync-employees` print `summary_zh`).
"""

from __future__ import annotations

import json

import pytest

from services.gateway.employees import ProvisionReport
from shared.logging import configure_logging, get_logger
from tests.service_logs import structlog_restored


def test_a_sync_is_logged_as_counts_without_the_employee_numbers_it_skipped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    report = ProvisionReport(created=3, deactivated=1, skipped=["HQ 1004", "工号1"])
    assert "HQ 1004" in report.summary_zh()  # the administrator's report names them
    with structlog_restored():
        configure_logging("gateway")
        get_logger("test").info("employee_accounts_synced", **report.counts())
    [line] = capsys.readouterr().err.splitlines()
    assert "HQ 1004" not in line
    assert "工号1" not in line
    logged = json.loads(line)
    assert {k: logged[k] for k in report.counts()} == {
        "created": 3,
        "updated": 0,
        "deactivated": 1,
        "reactivated": 0,
        "skipped": 2,
    }
