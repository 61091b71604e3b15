"""Consent to publicity in the drafts (issue 18, item 2): each material shows a winner only as
far as their consent, or the union's rules without it, allow; the lead's count keeps them."""

from __future__ import annotations

from dataclasses import replace

import pytest

from services.publicity.domain import (
    KIND_USES,
    Consents,
    PublicityPolicy,
    draft_on_result,
    initial_state,
    react_to_revocation,
    state_from,
)
from shared.contracts.nomination import ConsentUse, PublicityConsent
from shared.contracts.publicity import (
    BASE_KINDS,
    MaterialContent,
    MaterialRevised,
    MaterialsDrafted,
)
from tests.publicity.fixtures import (
    CONSENTED,
    DRAFTED_AT,
    N_REFORM,
    N_STRIVING,
    RESULT,
    RESULT_EVENT_ID,
    WINNERS,
    revocation,
)

POLICY = PublicityPolicy()
ZHANG = next(w for w in WINNERS if w.nomination_id == N_STRIVING)  # 张伟


def drafted(consents: Consents, policy: PublicityPolicy = POLICY) -> dict[str, MaterialContent]:
    [event] = draft_on_result(
        initial_state(RESULT.round_id), RESULT, RESULT_EVENT_ID, DRAFTED_AT, policy, consents
    )
    assert isinstance(event, MaterialsDrafted)
    return {m.kind: m.content for m in event.materials}


def ids(content: MaterialContent) -> set[object]:
    return {s.nomination_id for s in content.sections}


def words(content: MaterialContent) -> str:
    return content.model_dump_json()


def test_with_consent_to_everything_every_material_features_every_winner() -> None:
    for kind, content in drafted(CONSENTED).items():
        assert ids(content) == {w.nomination_id for w in WINNERS}, kind


@pytest.mark.parametrize(
    "consent",
    [None, PublicityConsent(), PublicityConsent(uses=(ConsentUse.NOTICE,))],
    ids=["not_recorded", "refused", "notice_only"],
)
def test_without_consent_a_winner_is_left_out_of_every_material_and_still_counted(
    consent: PublicityConsent | None,
) -> None:
    consents = {**CONSENTED, N_STRIVING: consent}
    with_all = drafted(CONSENTED)
    for kind, content in drafted(consents).items():
        assert N_STRIVING not in ids(content), kind
        assert len(content.sections) == len(WINNERS) - 1
        assert ZHANG.deeds.strip()[:20] not in words(content)
        assert "张伟" not in words(content)
        assert content.lead == with_all[kind].lead  # "以下{n}名…": the count keeps them


def test_a_winner_unknown_to_publicity_counts_as_not_consenting() -> None:
    consents = {k: v for k, v in CONSENTED.items() if k != N_STRIVING}
    for kind, content in drafted(consents).items():
        assert N_STRIVING not in ids(content), kind


@pytest.mark.parametrize("kind", BASE_KINDS)
def test_consent_to_one_use_shows_the_winner_in_that_material_only(kind: str) -> None:
    use = KIND_USES[kind]  # type: ignore[index]
    contents = drafted({**CONSENTED, N_STRIVING: PublicityConsent(uses=(use,))})
    for other, content in contents.items():
        assert (N_STRIVING in ids(content)) == (other == kind), other


def test_rules_allowing_basic_facts_show_name_unit_and_flower_without_deeds_or_photo() -> None:
    rules = {u.value: "basic" for u in ConsentUse}
    contents = drafted({**CONSENTED, N_STRIVING: None}, replace(POLICY, without_consent=rules))
    for kind, content in contents.items():
        [section] = [s for s in content.sections if s.nomination_id == N_STRIVING]
        assert section.text == "", kind
        assert section.photo_slot == "", kind
        assert ZHANG.deeds.strip()[:20] not in words(content)
    [segment] = [s for s in contents["storyboard"].sections if s.nomination_id == N_STRIVING]
    assert "张伟" in segment.caption
    assert segment.duration_s > 0


def test_a_revocation_redrafts_the_count_which_still_includes_the_winners_left_out() -> None:
    consents = {**CONSENTED, N_STRIVING: None}
    drafted_events = draft_on_result(
        initial_state(RESULT.round_id), RESULT, RESULT_EVENT_ID, DRAFTED_AT, POLICY, consents
    )
    state = state_from(RESULT.round_id, drafted_events)
    revised = [
        e
        for e in react_to_revocation(state, revocation(N_REFORM), DRAFTED_AT, POLICY)
        if isinstance(e, MaterialRevised)
    ]
    assert revised
    n = len(WINNERS)
    for event in revised:
        if event.kind != "storyboard":  # its lead names no count
            assert f"{n - 1}" in event.content.lead, event.kind
            assert f"{n}名" not in event.content.lead, event.kind
        assert {s.nomination_id for s in event.content.sections}.isdisjoint({N_REFORM, N_STRIVING})
