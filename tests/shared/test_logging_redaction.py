"""No log line quotes a personal value an error text carries (shared/logging.py `redact`).

Pydantic's validation errors quote their input (`input_value='侯梓萱'`), and asyncpg puts
PostgreSQL's DETAIL in an exception's text (`Key (employee_no)=(HQ1004) already exists.`):
both reach a line through `log.exception` (the rendered traceback) or `error=str(exc)`, and
the standard library's lines (asyncpg's pool) through their formatter.
"""

from __future__ import annotations

import json
import logging
import sys

import asyncpg
import pytest
from pydantic import BaseModel, ValidationError

from shared.logging import REDACTED, RedactingFormatter, configure_logging, get_logger, redact
from tests.service_logs import structlog_restored

NAME, EMPLOYEE_NO = "侯梓萱", "HQ1004"


class Nominee(BaseModel):
    employee_no: int
    name: int


def validation_error() -> ValidationError:
    try:
        Nominee.model_validate({"employee_no": EMPLOYEE_NO, "name": NAME})
    except ValidationError as exc:
        return exc
    raise AssertionError("unreachable")


def unique_violation() -> asyncpg.UniqueViolationError:
    exc = asyncpg.UniqueViolationError('duplicate key value violates unique constraint "held_pk"')
    exc.detail = f"Key (round_id, employee_no)=(2026-Q3, {EMPLOYEE_NO}) already exists."
    return exc


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            f"[type=int_parsing, input_value='{NAME}', input_type=str]",
            f"[type=int_parsing, input_value={REDACTED}, input_type=str]",
        ),
        (
            f"[type=model_type, input_value={{'name': '{NAME}', 'no': '{EMPLOYEE_NO}'}}, "
            "input_type=dict]",
            f"[type=model_type, input_value={REDACTED}, input_type=dict]",
        ),
        (
            f"DETAIL:  Key (employee_no)=({EMPLOYEE_NO}) already exists.",
            f"DETAIL:  Key (employee_no)=({REDACTED}) already exists.",
        ),
        (
            'DETAIL:  Key (unit_code)=(张(三)) is not present in table "units".',
            f'DETAIL:  Key (unit_code)=({REDACTED}) is not present in table "units".',
        ),
        (
            f"DETAIL:  Failing row contains (1, {NAME}, null).",
            f"DETAIL:  Failing row contains ({REDACTED}).",
        ),
        ("consumer_fetch_failed: TimeoutError()", "consumer_fetch_failed: TimeoutError()"),
    ],
)
def test_the_values_an_error_text_quotes_are_masked(text: str, shown: str) -> None:
    assert redact(text) == shown


def test_a_service_line_and_its_traceback_name_no_one(capsys: pytest.CaptureFixture[str]) -> None:
    with structlog_restored():
        configure_logging("nomination")
        log = get_logger("test")
        for exc in (validation_error(), unique_violation()):
            assert EMPLOYEE_NO in str(exc)  # what the error text carries
            try:
                raise exc
            except Exception as raised:
                log.exception("request_failed", error=str(raised))
            log.warning("consumer_handler_failed", error=repr(exc))
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 4
    for line in lines:
        assert NAME not in line
        assert EMPLOYEE_NO not in line
    first = json.loads(lines[0])
    assert "Traceback" in first["exception"]  # the traceback is there, its values masked
    assert f"input_value={REDACTED}" in first["exception"]
    assert "held_pk" in json.loads(lines[2])["error"]  # what failed is still said


def test_a_library_line_names_no_one() -> None:
    try:
        raise unique_violation()
    except asyncpg.UniqueViolationError:
        record = logging.LogRecord(
            "asyncpg.pool", logging.ERROR, __file__, 1, "connection failed", None, sys.exc_info()
        )
    line = RedactingFormatter("%(message)s").format(record)
    assert "Traceback" in line
    assert "held_pk" in line
    assert EMPLOYEE_NO not in line
