"""structlog JSON logs carrying service, event id and correlation id (bound as contextvars)."""

from __future__ import annotations

import logging
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


def configure_logging(service: str, level: str = "INFO", json_output: bool = True) -> None:
    logging.basicConfig(format="%(message)s", stream=sys.stderr, level=level.upper())
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
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
