"""`flowers up --mail-catcher`'s SMTP server and page: a notification mail sent to it is kept
and readable in the browser (subject, recipient, Chinese body, link)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from deploy.mail_catcher import MailCatcher
from services.notification.channels import SmtpSettings, compose_email, send_email
from tests.notification.test_channels import BASE, NOTE


@pytest.fixture
def catcher(tmp_path: Path) -> Iterator[MailCatcher]:
    catcher = MailCatcher(tmp_path / "mail")
    catcher.start()
    try:
        yield catcher
    finally:
        catcher.stop()


async def test_a_mail_sent_to_the_catcher_is_listed_and_shown_in_the_browser(
    catcher: MailCatcher,
) -> None:
    env = catcher.env()
    smtp = SmtpSettings(
        host=env["FLOWERS_NOTIFY_SMTP_HOST"],
        port=int(env["FLOWERS_NOTIFY_SMTP_PORT"]),
        sender=env["FLOWERS_NOTIFY_SMTP_SENDER"],
    )
    async with httpx.AsyncClient(base_url=catcher.url) as web:
        assert "还没有收到邮件。" in (await web.get("/")).text
        at = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
        await send_email(smtp, compose_email(NOTE, ["zhangsan@example.cn"], smtp.sender, BASE, at))
        listing = (await web.get("/")).text
        assert NOTE.subject in listing
        assert "zhangsan@example.cn" in listing
        assert "2026年12月1日 10:00" in listing
        [name] = [p.name for p in (catcher.folder).glob("*.eml")]
        page = await web.get(f"/mail/{name}")
        assert page.status_code == 200
        assert NOTE.body in page.text
        assert f"请点击办理：{BASE}/gongshi/2026-Q4" in page.text
        assert (await web.get("/mail/../secrets")).status_code == 404
