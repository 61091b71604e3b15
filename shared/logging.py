"""structlog JSON logs carrying service, event id and correlation id (bound as contextvars).

No log line carries a personal value (issue 18): the code logs ids, pseudonyms and counts,
never a name or an employee number; and the values that error texts quote from their input
are masked in every line, exceptions included (`redact`).
"""

from __future__ import annotations

import logging
import re
import sys

import structlog

from shared.outage import is_outage


def _outage_in_one_line(record: logging.LogRecord) -> bool:
    """asyncpg's pool logs a traceback each time it fails to reconnect while PostgreSQL is
    down (1 s, 2 s, 4 s … apart): an outage needs no traceback, one line says it."""
    if record.exc_info and record.exc_info[1] is not None and is_outage(record.exc_info[1]):
        exc = record.exc_info[1]
        record.msg = f"{record.getMessage()}: {type(exc).__name__}: {exc}"
        record.args, record.exc_info, record.exc_text = None, None, None
    return True


REDACTED = "…"
# Error texts that quote the values they were given, whatever the value (a name, an employee
# number, a nominee's deeds): pydantic's `input_value=…`; PostgreSQL's DETAIL of a unique or
# foreign key violation, `Key (employee_no)=(HQ1004) already exists.`, and of a not-null or
# check violation, `Failing row contains (…).` (asyncpg puts DETAIL in the exception's text).
_QUOTED = (
    (
        re.compile(r"input_value=(?:.*?(?=, input_type=)|[^\]\n]*)"),
        f"input_value={REDACTED}",
    ),
    (
        re.compile(
            r"(Key \([^)]*\))=\(.*\)(?= already exists| is not present| is still| conflicts|\.?$)",
            re.MULTILINE,
        ),
        rf"\1=({REDACTED})",
    ),
    (
        re.compile(r"Failing row contains \(.*\)", re.MULTILINE),
        f"Failing row contains ({REDACTED})",
    ),
)


def redact(text: str) -> str:
    """`text` with the input values error messages quote masked."""
    for pattern, replacement in _QUOTED:
        text = pattern.sub(replacement, text)
    return text


def redact_quoted_values(
    _: object, __: str, event_dict: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    """The structlog processor: every string value of the line (the rendered exception too)."""
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = redact(value)
    return event_dict


class RedactingFormatter(logging.Formatter):
    """The standard library's lines (asyncpg, nats-py), their tracebacks included."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging(service: str, level: str = "INFO", json_output: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(message)s"))
    logging.basicConfig(handlers=[handler], level=level.upper())
    pool_log = logging.getLogger("asyncpg.pool")
    if _outage_in_one_line not in pool_log.filters:
        pool_log.addFilter(_outage_in_one_line)
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json_output
        else structlog.dev.ConsoleRenderer()
    )

    def add_service(
        _: object, __: str, event_dict: structlog.typing.EventDict
    ) -> structlog.typing.EventDict:
        event_dict.setdefault("service", service)
        return event_dict

    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            add_service,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_quoted_values,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
