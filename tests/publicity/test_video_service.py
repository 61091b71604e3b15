"""The meeting video rendered in the background by the service, against real NATS and
PostgreSQL: refused before approval, queued once, progress readable while ffmpeg runs, the MP4
downloadable when done (short 5-second segments at 2 frames a second: a lean render)."""

from __future__ import annotations

import asyncio
import base64
import io
import re
import subprocess
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client as NatsClient
from PIL import Image, ImageStat

from services.publicity.app import DRAFTS_CONSUMER, build_runtime
from services.publicity.video import PHOTO_BOX, ffmpeg
from shared.clock import FixedClock
from shared.contracts.publicity import material_id_for
from shared.rpc import RemoteError, RpcClient
from shared.service import ServiceRuntime
from shared.settings import PROJECT_ROOT, Settings
from tests.publicity.fixtures import N_STRIVING, RESULT, ROUND
from tests.publicity.test_service import (
    EDITOR,
    NOW,
    bus,  # noqa: F401  (the tests' hands on the bus)
    deliver,
    deliver_consents,
    seen,
)
from tests.support import eventually, rpc_client

pytestmark = pytest.mark.integration

ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "publicity"
BLUE = (20, 60, 200)


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[ServiceRuntime]:
    lean = settings.model_copy(
        update={"publicity_segment_s": 5, "publicity_title_card_s": 2, "publicity_video_fps": 2}
    )
    runtime = build_runtime(lean, clock=FixedClock(NOW))
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


@pytest.fixture
def rpc(nc: NatsClient) -> RpcClient:
    return rpc_client(nc, timeout=10)


async def test_the_meeting_video_renders_in_the_background_with_progress(
    service: ServiceRuntime, rpc: RpcClient, tmp_path: Path
) -> None:
    await deliver_consents(service)
    await deliver(service, RESULT)
    await eventually(lambda: seen(service, DRAFTS_CONSUMER) == 1, what="the result")
    storyboard = str(material_id_for(ROUND, "storyboard"))
    bulletin = str(material_id_for(ROUND, "bulletin"))

    none = await rpc.query("publicity", "video", {"material_id": storyboard})
    assert none["status"] == "none"
    with pytest.raises(RemoteError) as early:
        await rpc.command("publicity", "render_video", {**EDITOR, "material_id": storyboard})
    assert early.value.error.code == "storyboard_not_approved"
    assert "审核通过后" in early.value.error.message_zh
    with pytest.raises(RemoteError) as staff:
        await rpc.command(
            "publicity",
            "render_video",
            {"actor": "u1", "roles": ["staff"], "material_id": storyboard},
        )
    assert staff.value.error.code == "not_publicity"

    await rpc.command("publicity", "approve", {**EDITOR, "material_id": bulletin})
    with pytest.raises(RemoteError) as not_video:
        await rpc.command("publicity", "render_video", {**EDITOR, "material_id": bulletin})
    assert not_video.value.error.code == "not_a_storyboard"

    # The first winner's photo, given by the office: the video's winner segment shows it.
    blue = io.BytesIO()
    Image.new("RGB", (700, 900), BLUE).save(blue, "PNG")
    await rpc.command(
        "publicity",
        "attach_photo",
        {"actor": "office-1", "roles": ["office"], "round_id": ROUND,
         "nomination_id": str(N_STRIVING), "photo": base64.b64encode(blue.getvalue()).decode()},
    )  # fmt: skip

    await rpc.command("publicity", "approve", {**EDITOR, "material_id": storyboard})
    job = await rpc.command("publicity", "render_video", {**EDITOR, "material_id": storyboard})
    assert job["status"] in ("queued", "rendering")
    again = await rpc.command("publicity", "render_video", {**EDITOR, "material_id": storyboard})
    assert again["started_at"] == job["started_at"]  # one job, not two
    pool = service.store.pool
    assert await pool.fetchval("SELECT count(*) FROM videos") == 1

    progress: list[float] = []

    async def rendered() -> bool:
        state: dict[str, Any] = await rpc.query("publicity", "video", {"material_id": storyboard})
        assert state["status"] != "failed", state["error"]
        progress.append(state.get("progress", 0.0))
        return bool(state["status"] == "done")

    await eventually(rendered, timeout=240, interval=0.5, what="the video rendered")
    assert progress == sorted(progress)
    assert progress[-1] == 1.0

    done = await rpc.query("publicity", "video", {"material_id": storyboard, "content": True})
    assert done["media_type"] == "video/mp4"
    assert done["filename"] == f"{ROUND}-meeting-video-r1.mp4"
    path = tmp_path / done["filename"]
    path.write_bytes(base64.b64decode(done["content"]))
    assert done["size"] == path.stat().st_size
    probe = [ffmpeg(), "-hide_banner", "-i", str(path)]
    ran = await asyncio.to_thread(subprocess.run, probe, capture_output=True, text=True)
    info = ran.stderr
    match = re.search(r"Duration: 00:(\d+):(\d+\.\d+)", info)
    assert match
    seconds = int(match[1]) * 60 + float(match[2])
    assert seconds == pytest.approx(2 + 5 * 5 + 5, abs=0.6)  # opening, 5 winners, closing
    assert "1920x1080" in info

    # A frame in the first winner's segment (after the 2 s opening): the photo fills its box.
    frame_file = tmp_path / "frame.png"
    grab = [ffmpeg(), "-loglevel", "error", "-y", "-ss", "4.5", "-i", str(path),
            "-frames:v", "1", str(frame_file)]  # fmt: skip
    await asyncio.to_thread(subprocess.run, grab, check=True)
    frame = Image.open(frame_file).convert("RGB")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    frame.save(ARTIFACTS / "video-winner-photo-frame.png")
    left, top, right, bottom = PHOTO_BOX
    inside = ImageStat.Stat(frame.crop((left + 20, top + 20, right - 20, bottom - 20))).mean
    assert inside == pytest.approx(BLUE, abs=16), "the winner's photo is not in its box"
    outside = frame.getpixel((right + 200, top - 60))
    assert outside != pytest.approx(BLUE, abs=40)

    # A photo given after the rendering started: the page offers to render again.
    assert done["photos_changed"] is False
    assert isinstance(service.clock, FixedClock)
    service.clock.advance(timedelta(minutes=5))
    red = io.BytesIO()
    Image.new("RGB", (700, 900), (200, 30, 30)).save(red, "PNG")
    await rpc.command(
        "publicity",
        "attach_photo",
        {"actor": "office-1", "roles": ["office"], "round_id": ROUND,
         "nomination_id": str(N_STRIVING), "photo": base64.b64encode(red.getvalue()).decode()},
    )  # fmt: skip
    later = await rpc.query("publicity", "video", {"material_id": storyboard})
    assert later["status"] == "done"
    assert later["photos_changed"] is True
