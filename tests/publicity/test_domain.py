"""The publicity deciders as given / when / then: drafting, the workflow, revocations, the
meeting date. Pure: no servers."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import pytest

from services.publicity.domain import (
    MeetingRule,
    PublicityPolicy,
    RoundPublicity,
    decide,
    draft_on_result,
    evolve,
    initial_state,
    next_meeting,
    react_to_revocation,
    summarise,
)
from services.publicity.errors import CaptionTooLong, PublicityError
from services.publicity.handlers import policy_from_settings
from shared.calendar import WorkingCalendar, calendar_knows
from shared.contracts.publicity import (
    BASE_KINDS,
    CorrectionDrafted,
    HonorRollUpdated,
    MaterialApproved,
    MaterialEdited,
    MaterialPublished,
    MaterialRevised,
    MaterialsDrafted,
    PublicityEvent,
    WinnerRevocationRecorded,
    material_id_for,
    registry,
)
from shared.contracts.publicity_commands import (
    PUBLICITY,
    ApproveMaterial,
    EditMaterial,
    MaterialWorkflowCommand,
    PublishMaterial,
    SectionEdit,
)
from shared.events import DomainEvent
from shared.settings import Settings
from tests.publicity.fixtures import (
    CONSENTED,
    DRAFTED_AT,
    N_DEDICATION,
    N_REFORM,
    N_STRIVING,
    RESULT,
    RESULT_EVENT_ID,
    ROUND,
    SH,
    WINNERS,
    revocation,
)

POLICY = PublicityPolicy()
LATER = datetime(2026, 10, 9, 9, 0, tzinfo=SH)
EDITOR = frozenset({PUBLICITY})
HONOR_ROLL = material_id_for(ROUND, "honor_roll")
BULLETIN = material_id_for(ROUND, "bulletin")
OFFICIAL = material_id_for(ROUND, "official_account")
STORYBOARD = material_id_for(ROUND, "storyboard")


def given(*events: DomainEvent) -> RoundPublicity:
    state = initial_state(ROUND)
    for event in events:
        # Every event survives its trip through the registry (the log's JSON) unchanged.
        decoded = registry.decode(event.event_type, event.schema_version, event.to_data())
        assert decoded == event
        state = evolve(state, decoded)
    return state


def drafted() -> list[PublicityEvent]:
    return draft_on_result(
        initial_state(ROUND), RESULT, RESULT_EVENT_ID, DRAFTED_AT, POLICY, CONSENTED
    )


def when(state: RoundPublicity, cmd: MaterialWorkflowCommand) -> list[PublicityEvent]:
    return decide(state, cmd, LATER, POLICY)


def then_refused(state: RoundPublicity, cmd: MaterialWorkflowCommand, code: str) -> None:
    with pytest.raises(PublicityError) as caught:
        when(state, cmd)
    assert caught.value.code == code
    assert caught.value.message_zh
    assert caught.value.message_en


def approve(material_id: UUID, actor: str = "pm-1") -> ApproveMaterial:
    return ApproveMaterial(actor=actor, roles=EDITOR, material_id=material_id)


def publish(material_id: UUID, channel: str) -> PublishMaterial:
    return PublishMaterial(actor="pm-1", roles=EDITOR, material_id=material_id, channel=channel)  # type: ignore[arg-type]


def published(*pairs: tuple[UUID, str]) -> list[DomainEvent]:
    """The drafts, with each named material approved and published on its channel."""
    events: list[DomainEvent] = [*drafted()]
    for material_id, channel in pairs:
        state = given(*events)
        events += when(state, approve(material_id))
        events += when(given(*events), publish(material_id, channel))
    return events


# --- Drafting ---------------------------------------------------------------------------------


def test_a_published_result_drafts_every_material_once_in_chinese() -> None:
    events = drafted()
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, MaterialsDrafted)
    assert [m.kind for m in event.materials] == list(BASE_KINDS)
    assert event.result_event_id == RESULT_EVENT_ID
    for material in event.materials:
        assert material.material_id == material_id_for(ROUND, material.kind)
        assert "2026年第三季度" in material.content.title
        assert len(material.content.sections) == len(WINNERS)
    bulletin = next(m for m in event.materials if m.kind == "bulletin")
    assert bulletin.content.sections[0].text == WINNERS[0].deeds
    assert "共评选出“五朵金花”5名" in bulletin.content.lead


def test_the_same_result_delivered_again_drafts_nothing() -> None:
    state = given(*drafted())
    assert draft_on_result(state, RESULT, UUID(int=99), LATER, POLICY, CONSENTED) == []


def test_nothing_can_be_edited_approved_or_published_before_the_result() -> None:
    empty = initial_state(ROUND)
    for cmd in (
        EditMaterial(actor="pm-1", roles=EDITOR, material_id=BULLETIN, title="新标题"),
        approve(BULLETIN),
        publish(BULLETIN, "bulletin"),
    ):
        then_refused(empty, cmd, "material_not_found")


def test_the_storyboard_has_a_caption_a_duration_and_a_photo_slot_per_winner() -> None:
    state = given(*drafted())
    storyboard = state.materials[STORYBOARD]
    for section, winner in zip(storyboard.content.sections, WINNERS, strict=True):
        assert section.nomination_id == winner.nomination_id
        assert 0 < len(section.caption) <= 60
        assert winner.name in section.caption
        assert winner.category.label_zh in section.caption
        assert section.duration_s == POLICY.segment_s
        assert winner.name in section.photo_slot
        assert len(section.text) <= POLICY.summary_chars


def test_the_meeting_is_the_first_working_day_after_national_day() -> None:
    # Published on Monday 2026-09-28; October 1-7 are holidays, so the meeting is on the 8th.
    assert given(*drafted()).meeting_date == date(2026, 10, 8)


# --- The workflow -----------------------------------------------------------------------------


def test_the_publicity_role_edits_a_draft_and_each_change_is_named() -> None:
    state = given(*drafted())
    events = when(
        state,
        EditMaterial(
            actor="pm-1",
            roles=EDITOR,
            material_id=STORYBOARD,
            expected_revision=1,
            title="金花风采",
            sections=(
                SectionEdit(nomination_id=N_STRIVING, caption="拼搏之花张伟", duration_s=45),
            ),
        ),
    )
    assert len(events) == 1
    edited = events[0]
    assert isinstance(edited, MaterialEdited)
    assert edited.revision == 2
    assert edited.edited_by == "pm-1"
    assert edited.changed == (
        "title",
        f"sections.{N_STRIVING}.caption",
        f"sections.{N_STRIVING}.duration_s",
    )
    section = given(*drafted(), edited).materials[STORYBOARD].content.sections[0]
    assert (section.caption, section.duration_s) == ("拼搏之花张伟", 45)


def test_an_edit_that_changes_nothing_records_nothing() -> None:
    state = given(*drafted())
    title = state.materials[BULLETIN].content.title
    assert (
        when(state, EditMaterial(actor="pm-1", roles=EDITOR, material_id=BULLETIN, title=title))
        == []
    )


def test_only_the_publicity_role_edits_approves_and_publishes() -> None:
    state = given(*drafted())
    for cmd in (
        EditMaterial(actor="x", roles=frozenset({"office"}), material_id=BULLETIN, title="新"),
        ApproveMaterial(actor="x", roles=frozenset({"staff"}), material_id=BULLETIN),
        PublishMaterial(actor="x", material_id=BULLETIN, channel="bulletin"),
    ):
        then_refused(state, cmd, "not_publicity")


@pytest.mark.parametrize(
    ("edit", "code"),
    [
        (SectionEdit(nomination_id=N_STRIVING, caption="字" * 61), "caption_too_long"),
        (SectionEdit(nomination_id=N_STRIVING, duration_s=5), "duration_out_of_range"),
        (SectionEdit(nomination_id=N_STRIVING, duration_s=121), "duration_out_of_range"),
        (SectionEdit(nomination_id=N_STRIVING, text=""), "empty_text"),
        (SectionEdit(nomination_id=UUID(int=404), text="某某"), "unknown_section"),
    ],
)
def test_a_storyboard_edit_outside_the_rules_is_refused(edit: SectionEdit, code: str) -> None:
    cmd = EditMaterial(actor="pm-1", roles=EDITOR, material_id=STORYBOARD, sections=(edit,))
    then_refused(given(*drafted()), cmd, code)


def test_a_caption_of_exactly_sixty_characters_is_accepted() -> None:
    edit = SectionEdit(nomination_id=N_STRIVING, caption="字" * 60)
    cmd = EditMaterial(actor="pm-1", roles=EDITOR, material_id=STORYBOARD, sections=(edit,))
    assert len(when(given(*drafted()), cmd)) == 1


def test_a_bulletin_has_no_caption() -> None:
    edit = SectionEdit(nomination_id=N_STRIVING, caption="字幕")
    cmd = EditMaterial(actor="pm-1", roles=EDITOR, material_id=BULLETIN, sections=(edit,))
    then_refused(given(*drafted()), cmd, "field_not_for_kind")


def test_an_edit_against_an_old_revision_is_refused() -> None:
    first = EditMaterial(actor="pm-1", roles=EDITOR, material_id=BULLETIN, title="甲")
    events = [*drafted()]
    events += when(given(*events), first)
    stale = EditMaterial(
        actor="pm-2", roles=EDITOR, material_id=BULLETIN, expected_revision=1, title="乙"
    )
    then_refused(given(*events), stale, "stale_revision")


def test_an_approved_draft_is_published_per_channel_with_its_actor() -> None:
    events = [*drafted()]
    events += when(given(*events), approve(HONOR_ROLL, actor="pm-chief"))
    approved = events[-1]
    assert isinstance(approved, MaterialApproved)
    assert (approved.approved_by, approved.revision) == ("pm-chief", 1)
    for channel in ("bulletin", "official_account", "meeting"):
        events += when(given(*events), publish(HONOR_ROLL, channel))
        assert isinstance(events[-1], MaterialPublished)
        assert events[-1].channel == channel
    material = given(*events).materials[HONOR_ROLL]
    assert material.status == "published"
    assert {p.channel for p in material.publications} == {"bulletin", "official_account", "meeting"}


def test_a_draft_is_not_published_before_it_is_approved() -> None:
    then_refused(given(*drafted()), publish(BULLETIN, "bulletin"), "not_approved")


def test_a_material_is_published_only_on_its_own_channels() -> None:
    events = [*drafted()]
    events += when(given(*events), approve(STORYBOARD))
    then_refused(given(*events), publish(STORYBOARD, "official_account"), "channel_not_allowed")


def test_approving_or_publishing_again_changes_nothing() -> None:
    events = published((BULLETIN, "bulletin"))
    state = given(*events)
    assert when(state, approve(BULLETIN)) == []
    assert when(state, publish(BULLETIN, "bulletin")) == []


def test_an_edit_after_approval_needs_approving_again() -> None:
    events = [*drafted()]
    events += when(given(*events), approve(BULLETIN))
    events += when(
        given(*events),
        EditMaterial(actor="pm-1", roles=EDITOR, material_id=BULLETIN, lead="新导语"),
    )
    assert given(*events).materials[BULLETIN].status == "draft"
    then_refused(given(*events), publish(BULLETIN, "bulletin"), "not_approved")


def test_a_published_material_is_not_edited() -> None:
    state = given(*published((BULLETIN, "bulletin")))
    cmd = EditMaterial(actor="pm-1", roles=EDITOR, material_id=BULLETIN, title="改")
    then_refused(state, cmd, "already_published")


# --- Revocations ------------------------------------------------------------------------------


def test_a_revocation_before_publication_redrafts_without_a_correction() -> None:
    state = given(*drafted())
    events = react_to_revocation(state, revocation(N_REFORM), LATER, POLICY)
    types = [type(e) for e in events]
    assert types == [
        WinnerRevocationRecorded,
        HonorRollUpdated,
        MaterialRevised,
        MaterialRevised,
        MaterialRevised,
    ]
    after = given(*drafted(), *events)
    for material in after.materials.values():
        assert not material.features(N_REFORM)
        assert material.revision == 2
        assert len(material.content.sections) == 4
    # Untouched default wording follows the new count; no correction is needed.
    assert "共评选出“五朵金花”4名" in after.materials[BULLETIN].content.lead
    assert not any(isinstance(e, CorrectionDrafted) for e in events)


def test_a_revocation_after_publication_updates_the_honor_roll_and_drafts_a_correction() -> None:
    history = published((HONOR_ROLL, "bulletin"), (BULLETIN, "bulletin"))
    events = react_to_revocation(given(*history), revocation(N_REFORM), LATER, POLICY)
    types = [type(e) for e in events]
    assert types == [
        WinnerRevocationRecorded,
        HonorRollUpdated,
        MaterialRevised,  # the official-account article, not yet published
        MaterialRevised,  # the storyboard
        CorrectionDrafted,
    ]
    update = events[1]
    assert isinstance(update, HonorRollUpdated)
    assert update.was_published
    assert update.revision == 2
    assert N_REFORM not in {s.nomination_id for s in update.content.sections}
    correction = events[-1]
    assert isinstance(correction, CorrectionDrafted)
    assert correction.material_id == material_id_for(ROUND, "correction", N_REFORM)
    assert set(correction.corrects) == {HONOR_ROLL, BULLETIN}
    assert "赵强" in correction.content.lead
    assert "改革之花" in correction.content.title
    assert "业绩数据不实" in correction.content.sections[0].text
    after = given(*history, *events)
    # The published bulletin stays as published; the honor roll waits for approval again.
    assert after.materials[BULLETIN].features(N_REFORM)
    assert after.materials[HONOR_ROLL].status == "draft"
    assert after.materials[correction.material_id].status == "draft"


def test_a_revocation_delivered_twice_is_handled_once() -> None:
    events = drafted()
    first = react_to_revocation(given(*events), revocation(N_REFORM), LATER, POLICY)
    again = react_to_revocation(given(*events, *first), revocation(N_REFORM), LATER, POLICY)
    assert again == []


def test_a_revocation_that_arrives_before_the_result_keeps_the_winner_out_of_the_drafts() -> None:
    early = react_to_revocation(initial_state(ROUND), revocation(N_DEDICATION), LATER, POLICY)
    assert [type(e) for e in early] == [WinnerRevocationRecorded]
    state = given(*early)
    drafts = draft_on_result(state, RESULT, RESULT_EVENT_ID, DRAFTED_AT, POLICY, CONSENTED)
    after = given(*early, *drafts)
    assert all(not m.features(N_DEDICATION) for m in after.materials.values())
    assert all(len(m.content.sections) == 4 for m in after.materials.values())


# --- The meeting date and the text helpers --------------------------------------------------


@pytest.mark.parametrize(
    ("published_on", "rule", "lead_days", "meeting"),
    [
        # The default: the first working day of the next month.
        (datetime(2026, 11, 20, 10, 0, tzinfo=SH), "first_working_day", 0, date(2026, 12, 1)),
        # Published on the meeting day itself: the next month's meeting.
        (datetime(2026, 12, 1, 8, 0, tzinfo=SH), "first_working_day", 0, date(2027, 1, 1)),
        # 2026-02-14 is a make-up working Saturday; Spring Festival follows.
        (datetime(2026, 2, 2, 10, 0, tzinfo=SH), "working_day:3", 0, date(2026, 2, 4)),
        # Day 8 of November 2026 is a Sunday: moved to Monday the 9th.
        (datetime(2026, 11, 2, 10, 0, tzinfo=SH), "day:8", 0, date(2026, 11, 9)),
        # Lead days for making the video push it to the next month.
        (datetime(2026, 10, 30, 10, 0, tzinfo=SH), "first_working_day", 5, date(2026, 12, 1)),
    ],
)
def test_the_meeting_date_follows_the_rule(
    published_on: datetime, rule: str, lead_days: int, meeting: date
) -> None:
    policy = PublicityPolicy(meeting_rule=MeetingRule.parse(rule), meeting_lead_days=lead_days)
    assert next_meeting(published_on, policy) == meeting


@pytest.mark.skipif(calendar_knows(2027), reason="the calendar package now knows 2027")
def test_a_meeting_in_a_year_the_calendar_does_not_know_reports_the_fallback() -> None:
    years: list[int] = []
    meeting = next_meeting(
        datetime(2026, 12, 20, 10, 0, tzinfo=SH), PublicityPolicy(), years.append
    )
    assert meeting == date(2027, 1, 1)  # a weekday: without configured holidays, it counts
    assert 2027 in years
    configured = PublicityPolicy(calendar=WorkingCalendar.of([date(2027, 1, 1)]))
    assert next_meeting(datetime(2026, 12, 20, 10, 0, tzinfo=SH), configured) == date(2027, 1, 4)


def test_the_policy_comes_from_settings() -> None:
    settings = Settings(
        publicity_meeting_rule="day:5",
        publicity_segment_s=40,
        calendar_extra_holidays=["2027-01-01"],
    )
    policy = policy_from_settings(settings)
    assert policy.meeting_rule == MeetingRule("day", 5)
    assert policy.segment_s == 40
    assert not policy.calendar.is_working_day(date(2027, 1, 1))


def test_a_bad_meeting_rule_is_refused_by_settings() -> None:
    with pytest.raises(ValueError, match="meeting"):
        Settings(publicity_meeting_rule="every_monday")


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("短句。", 10, "短句。"),
        ("第一句话说完了。第二句话还很长很长很长。", 12, "第一句话说完了。"),
        ("没有标点的一段很长很长很长的文字", 8, "没有标点的一段很长很长很长的文字"),
        ("第一句很长很长很长很长。第二句。", 8, "第一句很长很长很长很长。"),
        ("第一行\n第二行", 20, "第一行第二行"),
    ],
)
def test_a_deeds_summary_keeps_whole_sentences(text: str, limit: int, expected: str) -> None:
    assert summarise(text, limit) == expected
    assert "…" not in summarise(text, limit)  # never cut inside a sentence


def test_domain_errors_carry_both_languages() -> None:
    error = CaptionTooLong(max=60, length=61)
    assert "60" in error.message_zh
    assert "61" in error.message_en
    assert error.to_dict()["code"] == "caption_too_long"
