"""Fixtures of the end-to-end tests."""

from tests.service_logs import service_logs

__all__ = ["service_logs"]
