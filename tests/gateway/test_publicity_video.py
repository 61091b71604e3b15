"""The meeting video through the pages: the storyboard approved, the video asked for, its
progress shown (the page refreshing itself meanwhile), then played and downloaded as an MP4.
Short segments at 2 frames a second keep the render lean."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from shared.settings import Settings
from tests.gateway.harness import Harness, csrf_in, running_gateway
from tests.gateway.published import publish_past_result
from tests.support import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
async def gateway(settings: Settings) -> AsyncIterator[Harness]:
    lean = settings.model_copy(
        update={"publicity_segment_s": 5, "publicity_title_card_s": 2, "publicity_video_fps": 2}
    )
    async with running_gateway(lean) as harness:
        yield harness


async def test_the_meeting_video_is_rendered_with_progress_and_downloaded(
    gateway: Harness,
) -> None:
    await gateway.role_accounts()
    drafts = (await publish_past_result(gateway))["drafts"]
    storyboard = drafts["storyboard"]["material_id"]
    client = await gateway.signed_in("publicity")

    draft = await client.get(f"/publicity/drafts/{storyboard}")
    assert f'href="/publicity/drafts/{storyboard}/video"' in draft.text
    page = await client.get(f"/publicity/drafts/{storyboard}/video")
    assert page.status_code == 200
    assert 'data-status="none"' in page.text
    assert "分镜脚本审核通过后才能生成视频" in page.text
    token = csrf_in(page.text)

    early = await client.post(f"/publicity/drafts/{storyboard}/video", data={"csrf_token": token})
    assert early.status_code == 409
    assert "审核通过后" in early.text

    approved = await client.post(
        f"/publicity/drafts/{storyboard}/approve",
        data={"csrf_token": token, "expected_revision": "1"},
    )
    assert approved.status_code == 303
    asked = await client.post(f"/publicity/drafts/{storyboard}/video", data={"csrf_token": token})
    assert asked.status_code == 303
    assert asked.headers["location"].startswith(f"/publicity/drafts/{storyboard}/video")
    progress = await client.get(asked.headers["location"])
    assert "已开始生成视频" in progress.text
    status = re.search(r'data-status="(\w+)"', progress.text)
    assert status
    if status[1] in ("queued", "rendering"):
        assert progress.headers["refresh"] == "3"
        assert 'id="video-progress"' in progress.text

    async def done() -> bool:
        page = await client.get(f"/publicity/drafts/{storyboard}/video")
        assert 'data-status="failed"' not in page.text, page.text
        return 'data-status="done"' in page.text

    await eventually(done, timeout=240, interval=1.0, what="the video rendered")
    page = await client.get(f"/publicity/drafts/{storyboard}/video")
    assert "refresh" not in page.headers
    assert f'src="/publicity/drafts/{storyboard}/video.mp4"' in page.text  # the <video> player

    video = await client.get(f"/publicity/drafts/{storyboard}/video.mp4")
    assert video.status_code == 200
    assert video.headers["content-type"] == "video/mp4"
    assert "attachment" in video.headers["content-disposition"]
    assert video.content[4:8] == b"ftyp"  # an MP4 file

    auditor = await gateway.signed_in("auditor")
    read_only = await auditor.get(f"/publicity/drafts/{storyboard}/video")
    assert 'data-status="done"' in read_only.text
    assert 'id="video-render"' not in read_only.text
