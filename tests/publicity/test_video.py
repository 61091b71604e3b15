"""The meeting video's subtitles: broken between words (jieba), never inside one, never cut,
and the closing card timed like the rest."""

from __future__ import annotations

import itertools

import pytest

from services.publicity.rendering import _BREAKS, chunks, cues, shots, subtitle_text, words
from tests.publicity.test_rendering import RS, all_views


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
