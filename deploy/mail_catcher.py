"""`flowers up --mail-catcher`: an SMTP server of the embedded stack's own, for a trial.

A trial installation has no mail server; with this, the notification service's e-mails
land here instead (aiosmtpd on 127.0.0.1, a free port): each mail is kept as an .eml file
under `<data dir>/mail/`, and a small page on another free port lists them and shows each
one (subject, sender, recipients, time, the Chinese body with its link) in the browser.
Only when asked: the stack never sends mail anywhere by default.
"""

from __future__ import annotations

import email
import html
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session

from shared.clock import format_zh


class _Keeper:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.eml"
        (self.folder / name).write_bytes(content)
        return "250 OK"


@dataclass(frozen=True)
class CaughtMail:
    name: str
    subject: str
    sender: str
    to: str
    sent: str
    body: str


def read_mail(path: Path) -> CaughtMail:
    parsed = email.message_from_bytes(path.read_bytes(), policy=default)
    assert isinstance(parsed, EmailMessage)
    part = parsed.get_body(("plain", "html"))
    body = part.get_content() if part is not None else ""
    sent = ""
    if parsed["Date"]:
        try:
            sent = format_zh(parsedate_to_datetime(str(parsed["Date"])))
        except (TypeError, ValueError):
            sent = str(parsed["Date"])
    return CaughtMail(
        path.name,
        str(parsed["Subject"] or ""),
        str(parsed["From"] or ""),
        str(parsed["To"] or ""),
        sent,
        str(body),
    )


def mails(folder: Path) -> list[CaughtMail]:
    """The mails kept, newest first."""
    return [read_mail(p) for p in sorted(folder.glob("*.eml"), reverse=True)]


_STYLE = (
    "body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
    "table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;"
    "padding:.4rem;text-align:left}pre{white-space:pre-wrap;background:#f6f6f6;padding:1rem}"
)


def _page(title: str, body: str) -> bytes:
    return (
        f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>"
    ).encode()


def list_page(folder: Path) -> bytes:
    rows = "".join(
        f'<tr><td><a href="/mail/{html.escape(m.name)}">{html.escape(m.subject)}</a></td>'
        f"<td>{html.escape(m.to)}</td><td>{html.escape(m.sent)}</td></tr>"
        for m in mails(folder)
    )
    table = (
        f"<table><tr><th>主题</th><th>收件人</th><th>发送时间</th></tr>{rows}</table>"
        if rows
        else "<p>还没有收到邮件。</p>"
    )
    return _page(
        "邮件收件箱（试用）",
        "<h1>邮件收件箱（试用）</h1><p>本机试用环境发出的全部通知邮件都在这里，"
        f"不会发往真实邮箱。</p>{table}",
    )


def mail_page(folder: Path, name: str) -> bytes | None:
    path = folder / name
    if "/" in name or not name.endswith(".eml") or not path.is_file():
        return None
    m = read_mail(path)
    return _page(
        m.subject,
        f'<p><a href="/">← 返回收件箱</a></p><h1>{html.escape(m.subject)}</h1>'
        f"<p>发件人：{html.escape(m.sender)}<br>收件人：{html.escape(m.to)}<br>"
        f"发送时间：{html.escape(m.sent)}</p><pre>{html.escape(m.body)}</pre>",
    )


@dataclass
class MailCatcher:
    """The SMTP server and its page; `start` picks free ports on 127.0.0.1."""

    folder: Path
    host: str = "127.0.0.1"
    smtp_port: int = 0
    web_port: int = 0
    _controller: Controller | None = None
    _web: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.web_port}/"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        folder = self.folder
        if not self.smtp_port:  # aiosmtpd checks its port by connecting: it needs a real one
            with socket.socket() as probe:
                probe.bind((self.host, 0))
                self.smtp_port = probe.getsockname()[1]
        self._controller = Controller(_Keeper(folder), hostname=self.host, port=self.smtp_port)
        self._controller.start()

        class Pages(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_GET(self) -> None:
                path = unquote(self.path.split("?", 1)[0])
                data = (
                    list_page(folder)
                    if path == "/"
                    else mail_page(folder, path.removeprefix("/mail/"))
                    if path.startswith("/mail/")
                    else None
                )
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._web = ThreadingHTTPServer((self.host, self.web_port), Pages)
        self.web_port = self._web.server_address[1]
        self._thread = threading.Thread(
            target=self._web.serve_forever, args=(0.2,), name="mail-catcher", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._web is not None:
            self._web.shutdown()
            self._web.server_close()
            self._web = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def env(self) -> dict[str, str]:
        """The notification service's settings that send its mail here."""
        return {
            "FLOWERS_NOTIFY_SMTP_HOST": self.host,
            "FLOWERS_NOTIFY_SMTP_PORT": str(self.smtp_port),
            "FLOWERS_NOTIFY_SMTP_STARTTLS": "false",
            "FLOWERS_NOTIFY_SMTP_SENDER": "flowers@localhost",
        }
