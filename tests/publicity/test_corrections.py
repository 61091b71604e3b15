"""A correction notice (更正说明) of a published material, drafted from its page: given the
round with the honor roll and the bulletin published, when the department corrects one, then
a correction draft goes through the same workflow and the original stays as published."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import pytest

from services.publicity.domain import RoundPublicity, decide, evolve
from services.publicity.errors import CorrectionPending, NotPublicity, NotPublished
from services.publicity.rendering import MaterialDoc, build_view, render
from shared.contracts.publicity import (
    CorrectionNoteDrafted,
    PublicityEvent,
    correction_id_for,
    material_id_for,
)
from shared.contracts.publicity_commands import (
    PUBLICITY,
    ApproveMaterial,
    CorrectMaterial,
    PublishMaterial,
)
from shared.events import DomainEvent
from tests.publicity.fixtures import ROUND, SH
from tests.publicity.test_rendering import POLICY, RS, facts, round_state

AT = datetime(2026, 10, 12, 9, 0, tzinfo=SH)
BULLETIN = material_id_for(ROUND, "bulletin")
ROLES = frozenset({PUBLICITY})
WRONG = "第二段中“库存周转天数由六十天缩短到二十五天”应为“由六十天缩短到三十天”。<b>"


def apply(state: RoundPublicity, events: Sequence[DomainEvent]) -> RoundPublicity:
    for event in events:
        state = evolve(state, event)
    return state


def correct(
    state: RoundPublicity, material_id: UUID = BULLETIN, roles: frozenset[str] = ROLES
) -> list[PublicityEvent]:
    cmd = CorrectMaterial(actor="pm", roles=roles, material_id=material_id, correction=WRONG)
    return list(decide(state, cmd, AT, POLICY))


def test_a_published_material_gets_a_correction_draft_and_stays_as_it_was() -> None:
    state = round_state()
    original = state.materials[BULLETIN]
    events = correct(state)
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, CorrectionNoteDrafted)
    assert event.corrects == BULLETIN
    assert event.material_id == correction_id_for(ROUND, BULLETIN, 1)
    assert event.channels == ("bulletin",)  # where the original was published
    assert event.content.title == f"关于《{original.content.title}》的更正说明"
    assert WRONG in event.content.lead
    state = apply(state, events)
    assert state.materials[BULLETIN] == original
    note = state.materials[event.material_id]
    assert (note.kind, note.status, note.corrects) == ("correction", "draft", BULLETIN)


def test_one_open_correction_at_a_time_then_another_after_it_is_published() -> None:
    state = apply(round_state(), correct(round_state()))
    with pytest.raises(CorrectionPending):
        correct(state)
    note = correction_id_for(ROUND, BULLETIN, 1)
    state = apply(
        state,
        list(decide(state, ApproveMaterial(actor="pm", roles=ROLES, material_id=note), AT, POLICY)),
    )
    publish = PublishMaterial(actor="pm", roles=ROLES, material_id=note, channel="bulletin")
    state = apply(state, list(decide(state, publish, AT, POLICY)))
    assert state.materials[note].status == "published"
    second = correct(state)[0]
    assert isinstance(second, CorrectionNoteDrafted)
    assert second.material_id == correction_id_for(ROUND, BULLETIN, 2)


@pytest.mark.parametrize(
    ("material_id", "roles", "error"),
    [
        (material_id_for(ROUND, "official_account"), ROLES, NotPublished),  # a draft: edit it
        (BULLETIN, frozenset({"staff"}), NotPublicity),
    ],
)
def test_refused_corrections(material_id, roles, error) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error):
        correct(round_state(), material_id, roles)


def test_the_correction_renders_with_the_text_escaped() -> None:
    state = apply(round_state(), correct(round_state()))
    note = state.materials[correction_id_for(ROUND, BULLETIN, 1)]
    view = build_view(
        facts(state), MaterialDoc(note.material_id, note.kind, note.revision, note.content, AT), RS
    )
    html = render(view, "html", RS).content
    assert isinstance(html, str)
    assert "&lt;b&gt;" in html
    assert "<b>" not in html
    assert isinstance(render(view, "docx", RS).content, bytes)
