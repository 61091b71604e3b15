"""The meeting video's subtitles: broken between words (jieba), never inside one, never cut,
and the closing card timed like the rest."""

from __future__ import annotations

import itertools
import re
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from services.publicity.rendering import (
    _BREAKS,
    MaterialDoc,
    View,
    build_view,
    chunks,
    cues,
    poster_font,
    shots,
    subtitle_text,
    words,
)
from services.publicity.video import SIZE, TEXT_LEFT, ffmpeg, render_mp4, slides
from shared.contracts.publicity import material_id_for
from shared.settings import PROJECT_ROOT
from tests.publicity.fixtures import ROUND
from tests.publicity.test_rendering import DRAFTED, RS, all_views, facts

ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "publicity"


def word_ends(text: str) -> set[int]:
    """Where a line may end in `text`: after a word (jieba, numbers with their measure)."""
    ends: set[int] = set()
    at = 0
    for phrase in _phrases(text):
        for word in words(phrase):
            at += len(word)
            ends.add(at)
    return ends


def _phrases(text: str) -> list[str]:
    out, current = [], ""
    for char in text:
        current += char
        if char in _BREAKS:
            out.append(current)
            current = ""
    return [*out, current] if current else out


@pytest.mark.parametrize(
    ("text", "unbroken"),
    [
        (
            "为职工群众解决急难愁盼问题二十余件，维修响应时间缩短到平均四小时以内。",
            ["急难愁盼", "四小时"],
        ),
        (
            "库存周转天数由六十天缩短到二十五天，盘活闲置物资三百余万元。",
            ["二十五天", "三百余万元"],
        ),
        (
            "带领维修班完成老旧小区供暖管网改造，连续四十五天奋战在一线。",
            ["供暖", "管网", "四十五天"],
        ),
    ],
)
def test_no_subtitle_line_breaks_inside_a_word(text: str, unbroken: list[str]) -> None:
    lines = chunks(text, RS.subtitle_chars)
    assert "".join(lines) == text  # never truncated, never an ellipsis
    assert not any(line.endswith("…") for line in lines)
    ends = word_ends(text)
    at = 0
    for line in lines[:-1]:
        at += len(line)
        assert at in ends, f"{line!r} ends inside a word"
    for word in unbroken:
        assert any(word in line for line in lines), f"{word} broken across lines"
    assert all(len(line) <= RS.subtitle_chars + 1 for line in lines)


def test_every_cue_of_the_fixture_round_ends_at_a_word() -> None:
    view = all_views()["storyboard"]
    texts = [e.text for e in view.entries] + [view.closing]
    for text in texts:
        lines = chunks(text, RS.subtitle_chars)
        ends = word_ends(subtitle_text(text))
        for at in itertools.accumulate(len(line) for line in lines[:-1]):
            assert at in ends


def test_the_cues_cover_the_video_from_opening_title_to_closing_card() -> None:
    view = all_views()["storyboard"]
    timed = cues(view, RS)
    plan = shots(view)
    assert timed[0].start_ms == plan[0].start_ms == 0
    assert timed[-1].end_ms == plan[-1].end_ms == view.total_ms
    for shot, after in itertools.pairwise(plan):
        assert shot.end_ms == after.start_ms
    for cue, following in itertools.pairwise(timed):
        assert cue.end_ms == following.start_ms
    assert plan[-1].kind == "closing"
    assert any(c.start_ms >= plan[-1].start_ms for c in timed)


# --- The MP4 (ffmpeg of the imageio-ffmpeg wheel) -----------------------------------------


def short_view() -> View:
    """The fixture round's storyboard with 8-second segments: the same plan, a lean render."""
    m = DRAFTED.materials[material_id_for(ROUND, "storyboard")]
    content = m.content.model_copy(
        update={
            "sections": tuple(s.model_copy(update={"duration_s": 8}) for s in m.content.sections)
        }
    )
    return build_view(facts(DRAFTED), MaterialDoc(m.material_id, m.kind, m.revision, content), RS)


def probe(path: Path) -> tuple[float, list[str]]:
    """Duration (s) and stream descriptions, as `ffmpeg -i` reports them (the wheel has no
    ffprobe)."""
    out = subprocess.run(
        [ffmpeg(), "-hide_banner", "-i", str(path)], capture_output=True, text=True, check=False
    ).stderr
    match = re.search(r"Duration: (\d+):(\d+):(\d+\.\d+)", out)
    assert match, out
    h, m, s = match.groups()
    return int(h) * 3600 + int(m) * 60 + float(s), re.findall(r"Stream #0:\d+.*", out)


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> tuple[View, Path, list[float]]:
    view = short_view()
    seen: list[float] = []
    out = tmp_path_factory.mktemp("video") / "meeting.mp4"
    render_mp4(view, RS, poster_font(RS), {}, out, seen.append, fps=2, preset="ultrafast")
    return view, out, seen


@pytest.mark.integration  # runs ffmpeg (≈ 20 s on a busy machine)
def test_the_video_is_full_hd_h264_with_a_subtitle_track_as_long_as_the_plan(
    video: tuple[View, Path, list[float]],
) -> None:
    view, path, seen = video
    duration, streams = probe(path)
    assert duration == pytest.approx(view.total_ms / 1000, abs=0.6)
    assert len(streams) == 2
    assert "Video: h264" in streams[0]
    assert "1920x1080" in streams[0]
    assert "Subtitle: mov_text" in streams[1]
    assert seen[-1] == 1.0
    assert seen == sorted(seen)  # progress only goes forward


@pytest.mark.integration
def test_a_frame_in_a_winners_segment_shows_that_winner(
    video: tuple[View, Path, list[float]],
) -> None:
    view, path, _ = video
    entry = view.entries[0]
    at = (entry.start_ms + 1000) / 1000
    frame_file = path.parent / "frame.png"
    subprocess.run(
        [ffmpeg(), "-loglevel", "error", "-y", "-ss", f"{at}", "-i", str(path),
         "-frames:v", "1", str(frame_file)],
        check=True,
    )  # fmt: skip
    frame = Image.open(frame_file).convert("RGB")
    assert frame.size == SIZE
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    frame.save(ARTIFACTS / "video-winner-frame.png")
    expected = next(
        s for s in slides(view, poster_font(RS), {}) if s.shot.nomination_id == entry.nomination_id
    )
    region = (TEXT_LEFT, 150, SIZE[0] - 100, 600)  # flower, name, unit: above the subtitles
    diff = ImageChops.difference(frame.crop(region), expected.image.crop(region))
    mean = sum(ImageStat.Stat(diff).mean) / 3
    assert mean < 6, f"the frame's name region differs from {entry.name}'s slide ({mean:.1f})"
    other = next(
        s
        for s in slides(view, poster_font(RS), {})
        if s.shot.kind == "winner" and s.shot.nomination_id != entry.nomination_id
    )
    other_diff = ImageChops.difference(frame.crop(region), other.image.crop(region))
    assert sum(ImageStat.Stat(other_diff).mean) / 3 > mean + 2  # and not another winner's


@pytest.mark.integration
def test_hostile_text_in_the_video_captions_is_shown_never_interpreted(
    video: tuple[View, Path, list[float]],
) -> None:
    _, path, _ = video
    track = subprocess.run(
        [ffmpeg(), "-loglevel", "error", "-i", str(path), "-map", "0:s", "-f", "srt", "-"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "＜script＞alert" in track
    assert "<script" not in track


def test_subtitle_text_defuses_tags_and_libass_overrides() -> None:
    assert subtitle_text("<b>粗</b>{\\fs200}大") == "＜b＞粗＜/b＞｛\\fs200｝大"
