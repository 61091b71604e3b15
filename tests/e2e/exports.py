"""The files the system makes from a round, as people take them away (tests/e2e/test_erasure.py).

The gateway runs in-process (its real app and lifespan, through httpx) in front of the
round's services: the office downloads the 推荐汇总表 (.xlsx), the public notice (its PDF
and the public API's JSON), every publicity draft of the round in the cheap formats, and
another employee's personal-data export; the auditor's `flowers audit events` output (table
and JSON lines, keys read as the auditor) comes from shared/audit_log.py as the CLI builds it.
Each file is given with what a byte-wise search must also see in it (`opened`).
"""

from __future__ import annotations

import html
import io
import zipfile
from datetime import UTC, datetime

import asyncpg
import httpx
import pypdf

from services.gateway.accounts import UserFields
from services.gateway.app import create_app
from services.nomination.app import build_runtime as nomination_runtime
from services.notification.app import build_runtime as notification_runtime
from services.publicity.app import build_runtime as publicity_runtime
from services.review.app import build_runtime as review_runtime
from services.rewards.app import build_runtime as rewards_runtime
from shared import audit_log
from shared.clock import FixedClock
from shared.database_roles import AUDITOR
from shared.keystore import open_keystore
from shared.personal_data import KEYRING
from shared.postgres import create_pool
from shared.settings import Settings
from tests.gateway.harness import FAST_HASHING, PASSWORD

# The drafts' text formats (the rest are rendered pictures, PDFs, packages and video).
DRAFT_FORMATS = ("html", "json", "docx", "srt")


def opened(content: bytes) -> bytes:
    """The bytes a search must see, with the file as it is kept beside them: a zip's (.xlsx,
    .docx) members decompressed and their XML character references (openpyxl writes every
    Chinese character as `&#20399;`) resolved; a PDF's text as pypdf extracts it."""
    if content.startswith(b"%PDF"):
        text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(content)).pages)
        return content + b"\n" + text.encode()
    if not content.startswith(b"PK"):
        return content
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        members = [archive.read(name) for name in archive.namelist()]
    xml = [html.unescape(m.decode()).encode() for m in members if m.lstrip().startswith(b"<")]
    return b"\n".join([*members, *xml])


async def audit_events(settings: Settings, services: tuple[str, ...]) -> dict[str, bytes]:
    """`flowers audit events` (the table, and `--json`) over every store, as the auditor."""
    keys = await open_keystore(settings, login=AUDITOR)
    KEYRING.install(keys)
    pools: dict[str, asyncpg.Pool] = {}
    try:
        for service in services:
            pools[service] = await create_pool(
                settings.database_url_for(service, login=AUDITOR), max_size=2
            )
        found = await audit_log.find_events(pools, audit_log.EventFilter(limit=100_000))
    finally:
        for pool in pools.values():
            await pool.close()
        KEYRING.uninstall(keys)
        await keys.pool.close()
    assert found
    return {
        "flowers audit events": audit_log.render_table(found).encode(),
        "flowers audit events --json": audit_log.render_json_lines(found).encode(),
    }


async def round_exports(settings: Settings, round_id: str, employee_no: str) -> dict[str, bytes]:
    """Every file below of the round; `employee_no`'s personal-data export. Each must be
    there (a 200 with content), so an empty search proves nothing by accident."""
    clock = FixedClock(datetime.now(UTC))
    runtimes = [
        build(settings, clock=clock)
        for build in (
            nomination_runtime,
            review_runtime,
            rewards_runtime,
            publicity_runtime,
            notification_runtime,
        )
    ]
    files: dict[str, bytes] = {}
    try:
        for runtime in runtimes:
            await runtime.start()
        app = create_app(settings, FAST_HASHING, clock)
        async with app.router.lifespan_context(app):
            accounts = app.state.gw.accounts
            office = await accounts.create_user(
                "exports-office",
                PASSWORD,
                UserFields("导出核对", frozenset({"office", "publicity"})),
                actor="test",
            )
            _, token = await accounts.create_token(office.user_id, "exports", actor="test")
            transport = httpx.ASGITransport(app=app, client=("10.0.0.1", 50000))
            async with httpx.AsyncClient(
                transport=transport,
                base_url="http://testserver",
                headers={"Authorization": f"Bearer {token}"},
            ) as client:

                async def get(name: str, path: str) -> None:
                    response = await client.get(path)
                    assert response.status_code == 200, (path, response.text[:500])
                    assert response.content, path
                    files[name] = opened(response.content)

                await get("推荐汇总表.xlsx", f"/review/sheet/{round_id}.xlsx")
                await get("公示.pdf", f"/gongshi/{round_id}/print.pdf")
                await get("公示.json", f"/api/v1/public/notices/{round_id}")
                publicity = runtimes[3].store.pool
                drafts = await publicity.fetch(
                    "SELECT material_id FROM materials WHERE round_id = $1", round_id
                )
                assert drafts
                for row in drafts:  # each kind has some of the formats (422: not this kind's)
                    taken = 0
                    for fmt in DRAFT_FORMATS:
                        path = f"/publicity/drafts/{row['material_id']}/download/{fmt}"
                        response = await client.get(path)
                        assert response.status_code in (200, 422), (path, response.status_code)
                        if response.status_code == 200:
                            files[f"draft {row['material_id']}.{fmt}"] = opened(response.content)
                            taken += 1
                    assert taken, row["material_id"]
                response = await client.post(
                    "/api/v1/personal-data/exports",
                    json={"employee_no": employee_no, "reason": "本人申请查阅（个保法第四十五条）"},
                )
                assert response.status_code == 200, response.text[:500]
                files[f"个人信息导出-{employee_no}.xlsx"] = opened(response.content)
    finally:
        for runtime in reversed(runtimes):
            if runtime.pool is not None:
                await runtime.stop()
    return files
