"""Every draft of a fixed round rendered and compared with a checked-in file (golden tests),
plus what must hold in every rendering: escaping, the .docx, the .srt, inline styles.

Regenerate the expected files after an intended change of wording or layout with
`FLOWERS_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/publicity/test_rendering.py`,
then read the diff before committing it.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import zipfile
from datetime import datetime
from html.parser import HTMLParser
from io import BytesIO
from pathlib import Path
from uuid import UUID

import pytest

from services.publicity.domain import (
    PublicityPolicy,
    RoundPublicity,
    decide,
    draft_on_result,
    evolve,
    initial_state,
    react_to_revocation,
)
from services.publicity.rendering import (
    FORMATS,
    MaterialDoc,
    RenderSettings,
    RoundFacts,
    View,
    build_view,
    chunks,
    cues,
    docx_text,
    render,
)
from shared.contracts.publicity import material_id_for
from shared.contracts.publicity_commands import PUBLICITY, ApproveMaterial, PublishMaterial
from shared.events import DomainEvent
from tests.publicity.fixtures import (
    CONSENTED,
    DRAFTED_AT,
    HOSTILE_DEEDS,
    N_DEDICATION,
    N_REFORM,
    PUBLISHED_AT,
    RESULT,
    RESULT_EVENT_ID,
    ROUND,
    SH,
    WINNERS,
    revocation,
)

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("FLOWERS_UPDATE_GOLDEN") == "1"
POLICY = PublicityPolicy()
RS = RenderSettings()


def round_state() -> RoundPublicity:
    """The drafts, the honor roll and the bulletin published, then 赵强 revoked."""
    at = datetime(2026, 10, 9, 9, 0, tzinfo=SH)
    state = initial_state(ROUND)

    def apply(events: list[DomainEvent]) -> None:
        nonlocal state
        for event in events:
            state = evolve(state, event)

    apply([*draft_on_result(state, RESULT, RESULT_EVENT_ID, DRAFTED_AT, POLICY, CONSENTED)])
    for kind in ("honor_roll", "bulletin"):
        material_id = material_id_for(ROUND, kind)  # type: ignore[arg-type]
        apply(
            [
                *decide(
                    state,
                    ApproveMaterial(
                        actor="pm", roles=frozenset({PUBLICITY}), material_id=material_id
                    ),
                    at,
                    POLICY,
                )
            ]
        )
        apply(
            [
                *decide(
                    state,
                    PublishMaterial(
                        actor="pm",
                        roles=frozenset({PUBLICITY}),
                        material_id=material_id,
                        channel="bulletin",
                    ),
                    at,
                    POLICY,
                )
            ]
        )
    return state


DRAFTED = initial_state(ROUND)
for _event in draft_on_result(DRAFTED, RESULT, RESULT_EVENT_ID, DRAFTED_AT, POLICY, CONSENTED):
    DRAFTED = evolve(DRAFTED, _event)


def facts(state: RoundPublicity) -> RoundFacts:
    assert state.meeting_date is not None
    return RoundFacts(
        ROUND, PUBLISHED_AT, state.meeting_date, {w.nomination_id: w for w in state.winners}
    )


def view_of(state: RoundPublicity, material_id: UUID, issued_at: datetime | None = None) -> View:
    m = state.materials[material_id]
    doc = MaterialDoc(m.material_id, m.kind, m.revision, m.content, issued_at)
    return build_view(facts(state), doc, RS)


def correction_view() -> View:
    state = round_state()
    at = PUBLISHED_AT.replace(month=10, day=20)
    for event in react_to_revocation(state, revocation(N_REFORM, at), at, POLICY):
        state = evolve(state, event)
    return view_of(state, material_id_for(ROUND, "correction", N_REFORM), issued_at=at)


def all_views() -> dict[str, View]:
    views = {
        kind: view_of(DRAFTED, material_id_for(ROUND, kind))
        for kind in ("honor_roll", "bulletin", "official_account", "storyboard")
    }
    views["correction"] = correction_view()
    return views


def text_of(view: View, fmt: str) -> str:
    artefact = render(view, fmt, RS)
    if isinstance(artefact.content, bytes):
        assert fmt == "docx"
        return "\n".join(docx_text(artefact.content)) + "\n"
    return artefact.content


# Pictures and packages: tests/publicity/test_poster.py and test_article.py
PICTURES = ("png", "pdf", "zip")
CASES = [(k, fmt) for k, formats in FORMATS.items() for fmt in formats if fmt not in PICTURES]


@pytest.mark.parametrize(("kind", "fmt"), CASES, ids=[f"{k}.{f}" for k, f in CASES])
def test_each_draft_renders_as_its_checked_in_expected_file(kind: str, fmt: str) -> None:
    rendered = text_of(all_views()[kind], fmt)
    path = GOLDEN / f"{kind}.{fmt}{'.txt' if fmt == 'docx' else ''}"
    if UPDATE:
        path.write_text(rendered, encoding="utf-8")
    assert path.exists(), f"{path} missing: run with FLOWERS_UPDATE_GOLDEN=1 to create it"
    assert rendered == path.read_text(encoding="utf-8"), (
        f"{path.name} differs from the rendering; if intended, regenerate with "
        "FLOWERS_UPDATE_GOLDEN=1 and review the diff"
    )


# --- Escaping ---------------------------------------------------------------------------------


class Markup(HTMLParser):
    """The elements and the text a browser would see."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parsed(markup: str) -> Markup:
    parser = Markup()
    parser.feed(markup)
    parser.close()
    return parser


@pytest.mark.parametrize("kind", ["honor_roll", "bulletin", "official_account", "storyboard"])
def test_a_script_in_deeds_is_shown_as_text_never_run(kind: str) -> None:
    view = all_views()[kind]
    for fmt in FORMATS[kind]:
        if fmt in PICTURES:
            continue
        artefact = render(view, fmt, RS)
        raw = artefact.content
        if isinstance(raw, bytes):  # .docx: the text lives in word/document.xml
            xml = zipfile.ZipFile(BytesIO(raw)).read("word/document.xml").decode()
            assert "<script" not in xml
            text = "".join(docx_text(raw))
            assert '"把病人当亲人"' in text
            assert '<script>alert("xss")</script>' in text
            continue
        assert "<script" not in raw.lower(), f"{kind}.{fmt} carries a live script tag"
        if fmt in ("html", "svg"):
            page = parsed(raw)
            assert "script" not in page.tags
            assert not any(name.startswith("on") for name, _ in page.attrs)
            seen = "".join(page.text)
            assert "<script>" in seen, f"{kind}.{fmt}: the deeds' text is not shown as text"
            assert '"' in seen
        if fmt == "srt":
            assert "＜script＞" in raw
        if fmt == "json":
            segment = json.loads(raw)["segments"][2]
            assert segment["summary"].startswith('她常说"把病人当亲人"')


def test_the_hostile_winner_is_the_one_featured_third() -> None:
    assert WINNERS[2].nomination_id == N_DEDICATION
    assert WINNERS[2].deeds == HOSTILE_DEEDS


def test_the_official_account_article_has_inline_styles_only() -> None:
    html = render(all_views()["official_account"], "html", RS).content
    assert isinstance(html, str)
    page = parsed(html)
    assert "style" not in page.tags
    assert "link" not in page.tags
    assert "class" not in {name for name, _ in page.attrs}
    assert "<html" not in html  # a fragment to paste, not a page
    styled = [t for t in page.tags if t in ("section", "h1", "p")]
    assert styled
    assert html.count('style="') >= len(styled)


# --- The .docx --------------------------------------------------------------------------------


def test_the_bulletin_docx_opens_and_names_every_winner() -> None:
    artefact = render(all_views()["bulletin"], "docx", RS)
    assert isinstance(artefact.content, bytes)
    assert artefact.filename == f"{ROUND}-bulletin.docx"
    text = "\n".join(docx_text(artefact.content))
    for w in WINNERS:
        assert w.name in text
        assert w.unit_name in text
        assert w.position in text
        assert w.category.label_zh in text
    assert zipfile.ZipFile(BytesIO(artefact.content)).testzip() is None


# --- The .srt ---------------------------------------------------------------------------------

SRT_BLOCK = re.compile(
    r"(?P<index>\d+)\n(?P<start>\d{2}:\d{2}:\d{2},\d{3}) --> (?P<end>\d{2}:\d{2}:\d{2},\d{3})\n"
    r"(?P<text>[^\n]+)\n"
)


def ms(stamp: str) -> int:
    hms, millis = stamp.split(",")
    h, m, s = (int(x) for x in hms.split(":"))
    return ((h * 60 + m) * 60 + s) * 1000 + int(millis)


def test_the_srt_parses_and_its_times_add_up() -> None:
    view = all_views()["storyboard"]
    srt = render(view, "srt", RS).content
    assert isinstance(srt, str)
    blocks = srt.split("\n\n")
    parsed_cues = []
    for block in blocks:
        match = SRT_BLOCK.fullmatch(block if block.endswith("\n") else block + "\n")
        assert match, f"not an SRT cue: {block!r}"
        parsed_cues.append(
            (int(match["index"]), ms(match["start"]), ms(match["end"]), match["text"])
        )
    assert [c[0] for c in parsed_cues] == list(range(1, len(parsed_cues) + 1))
    assert parsed_cues[0][1] == 0
    for (_, _, end, _), (_, start, _, _) in itertools.pairwise(parsed_cues):
        assert start == end, "cues follow each other without gap or overlap"
    for _, start, end, text in parsed_cues:
        assert end > start
        assert text.strip()
    # The opening title, the segments, then the closing card, timed too: the last cue ends
    # with the video.
    total_ms = sum(e.duration_s for e in view.entries) * 1000
    assert view.entries[0].start_ms == view.opening_ms == RS.title_card_s * 1000
    assert view.closing_start_ms == view.opening_ms + total_ms
    assert parsed_cues[-1][2] == view.total_ms > view.closing_start_ms
    closing = "".join(c[3] for c in parsed_cues if c[1] >= view.closing_start_ms)
    assert closing == view.closing
    # Each segment starts with its caption, at the segment's start.
    starts = {c[1]: c[3] for c in parsed_cues}
    for entry in view.entries:
        assert starts[entry.start_ms] == entry.caption.replace("<", "＜").replace(">", "＞")


def test_every_subtitle_line_fits_and_every_segment_fills_its_duration() -> None:
    view = all_views()["storyboard"]
    for cue in cues(view, RS):
        assert len(cue.text) <= max(RS.subtitle_chars + 1, 60)
    for entry in view.entries:
        inside = [c for c in cues(view, RS) if entry.start_ms <= c.start_ms < entry.end_ms]
        assert inside[0].start_ms == entry.start_ms
        assert inside[-1].end_ms == entry.end_ms


@pytest.mark.parametrize(
    "text",
    ["带领维修班完成老旧小区供暖管网改造，连续四十五天奋战在一线。", "没有标点" * 20, "短。"],
)
def test_subtitle_lines_keep_every_character(text: str) -> None:
    lines = chunks(text, 16)
    assert "".join(lines) == text
    assert all(len(line) <= 17 for line in lines)


def test_the_storyboard_json_lists_one_segment_per_winner() -> None:
    data = json.loads(render(all_views()["storyboard"], "json", RS).content)
    assert [s["title_card"]["name"] for s in data["segments"]] == [w.name for w in WINNERS]
    segments_s = sum(s["duration_s"] for s in data["segments"])
    assert data["total_s"] > segments_s
    assert [s["kind"] for s in data["shots"]] == ["opening", *["winner"] * len(WINNERS), "closing"]
    for shot in data["shots"]:
        assert all(shot[k] for k in ("shot_size", "picture", "narration", "music"))
    assert 60 <= data["total_s"] <= 180  # 1–3 minutes at the meeting
    assert all(len(s["caption"]) <= 60 for s in data["segments"])
    assert data["meeting_date"] == "2026-10-08"
    assert data["meeting_date_zh"] == "2026年10月8日"


def test_the_correction_names_the_revoked_winner_and_the_published_materials() -> None:
    html = render(correction_view(), "html", RS).content
    assert isinstance(html, str)
    assert "赵强" in html
    assert "撤销" in html
    assert "光荣榜、简报" in html
