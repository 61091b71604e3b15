"""Fixtures of the notification tests: the SMTP server and the robots' HTTP server."""

from tests.notification.servers import robots, smtp_server, tls_smtp_server

__all__ = ["robots", "smtp_server", "tls_smtp_server"]
