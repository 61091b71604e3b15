"""Consent to publicity (issue 18, item 2) as given / when / then tables: recorded with the
nomination, changed by the unit until the result is published, read from old logs as "not
recorded"; and the rule of what a public use may show with and without it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import pytest
from pydantic import ValidationError

from services.nomination.domain import decide_round, round_from
from services.nomination.errors import NominationError
from shared.contracts.nomination import (
    WITHOUT_CONSENT_DEFAULT,
    ConsentUse,
    NominationSubmitted,
    PublicityConsent,
    PublicityConsentRecorded,
    disclosure,
    registry,
)
from shared.contracts.nomination_commands import RecordConsent
from shared.events import DomainEvent
from tests.nomination.test_domain import (
    DIRECTORY,
    DURING,
    FIRST_LATE_SECOND,
    N1,
    NOMINATOR,
    OFFICE,
    POLICY,
    ROUND,
    closed,
    opened,
    submit,
    submitted,
    withdrawn,
)

ALL = PublicityConsent.to_all()
NOTICE_ONLY = PublicityConsent(uses=(ConsentUse.NOTICE,))
NONE = PublicityConsent()


def record(
    consent: PublicityConsent,
    *,
    nomination_id: UUID = N1,
    actor_unit: str = "U1",
    roles: frozenset[str] = NOMINATOR,
) -> RecordConsent:
    return RecordConsent(
        actor=f"nominator-{actor_unit}",
        roles=roles,
        actor_unit_code=actor_unit,
        nomination_id=nomination_id,
        consent=consent,
    )


def recorded(consent: PublicityConsent, at: datetime = DURING) -> PublicityConsentRecorded:
    return PublicityConsentRecorded(
        nomination_id=N1,
        round_id=ROUND,
        employee_no="E101",
        consent=consent,
        recorded_by="nominator-U1",
        recorded_at=at,
    )


def decide(
    given: Sequence[DomainEvent],
    when: RecordConsent,
    at: datetime = DURING,
    *,
    result_published: bool = False,
) -> list[DomainEvent]:
    return decide_round(
        round_from(given),
        when,
        at,
        directory=DIRECTORY,
        policy=POLICY,
        result_published=result_published,
    )


# --- Recorded with the nomination ------------------------------------------------------------


@pytest.mark.parametrize(
    ("consent", "expected"),
    [(ALL, ALL), (NOTICE_ONLY, NOTICE_ONLY), (NONE, NONE), (None, None)],
    ids=["to_all", "to_the_notice_only", "refused", "not_asked"],
)
def test_the_nomination_carries_the_nominees_consent_as_given(
    consent: PublicityConsent | None, expected: PublicityConsent | None
) -> None:
    cmd = submit("E101").model_copy(update={"consent": consent})
    [event] = decide_round(round_from([opened()]), cmd, DURING, directory=DIRECTORY, policy=POLICY)
    assert isinstance(event, NominationSubmitted)
    assert event.consent == expected
    state = round_from([opened(), event])
    assert state is not None
    assert state.nominations[N1].consent == expected


def test_consent_uses_are_kept_in_one_order_once() -> None:
    twice = PublicityConsent(uses=(ConsentUse.POSTER_VIDEO, ConsentUse.NOTICE, ConsentUse.NOTICE))
    assert twice.uses == (ConsentUse.NOTICE, ConsentUse.POSTER_VIDEO)
    assert twice == PublicityConsent(uses=(ConsentUse.NOTICE, ConsentUse.POSTER_VIDEO))
    with pytest.raises(ValidationError):
        PublicityConsent.model_validate({"uses": ["tv_interview"]})


# --- Changed later, until the result is published -------------------------------------------


def test_the_unit_records_consent_after_the_nomination() -> None:
    assert decide([opened(), submitted()], record(ALL)) == [recorded(ALL)]


def test_the_unit_changes_consent_after_the_deadline_while_the_result_is_pending() -> None:
    given = [opened(), submitted(), recorded(ALL, DURING), closed(submitted())]
    assert decide(given, record(NOTICE_ONLY), FIRST_LATE_SECOND) == [
        recorded(NOTICE_ONLY, FIRST_LATE_SECOND)
    ]


def test_the_same_consent_again_records_nothing() -> None:
    assert decide([opened(), submitted(), recorded(NONE)], record(NONE)) == []


def test_folding_a_change_replaces_the_consent_whole() -> None:
    state = round_from([opened(), submitted(), recorded(ALL), recorded(NOTICE_ONLY)])
    assert state is not None
    assert state.nominations[N1].consent == NOTICE_ONLY


@pytest.mark.parametrize(
    ("given", "when", "published", "code"),
    [
        ([opened(), submitted()], record(ALL), True, "result_published"),
        ([opened(), submitted()], record(ALL, actor_unit="U2"), False, "not_own_unit"),
        ([opened(), submitted()], record(ALL, roles=OFFICE), False, "not_a_nominator"),
        ([opened(), submitted(), withdrawn()], record(ALL), False, "nomination_withdrawn"),
        ([opened()], record(ALL), False, "nomination_not_found"),
    ],
    ids=[
        "after_the_result_is_published",
        "by_another_unit",
        "by_the_office",
        "of_a_withdrawn_nomination",
        "of_an_unknown_nomination",
    ],
)
def test_consent_cannot_be_recorded(
    given: list[DomainEvent], when: RecordConsent, published: bool, code: str
) -> None:
    with pytest.raises(NominationError) as refused:
        decide(given, when, result_published=published)
    assert refused.value.code == code
    assert refused.value.message_zh


# --- Old logs: version 1 reads as "not recorded" --------------------------------------------


def test_a_version_1_nomination_is_upcast_to_consent_not_recorded() -> None:
    v1 = submitted().to_data()
    del v1["consent"]
    event = registry.decode("NominationSubmitted", 1, v1)
    assert isinstance(event, NominationSubmitted)
    assert event.consent is None
    assert event == submitted()
    assert NominationSubmitted.schema_version == 2


def test_version_2_reads_its_consent_as_written() -> None:
    event = submitted().model_copy(update={"consent": NOTICE_ONLY})
    assert registry.decode("NominationSubmitted", 2, event.to_data()) == event
    assert event.to_data()["consent"] == {"uses": ["notice"]}


def test_version_1_with_a_consent_field_is_refused_by_the_upcaster() -> None:
    with pytest.raises(ValidationError):
        registry.decode("NominationSubmitted", 1, submitted().to_data())


# --- What a use shows, with and without consent ---------------------------------------------

RULES = WITHOUT_CONSENT_DEFAULT


@pytest.mark.parametrize(
    ("consent", "use", "shown"),
    [
        (ALL, ConsentUse.POSTER_VIDEO, "full"),
        (NOTICE_ONLY, ConsentUse.NOTICE, "full"),
        (NOTICE_ONLY, ConsentUse.OFFICIAL_ACCOUNT, "none"),
        (NONE, ConsentUse.NOTICE, "basic"),
        (NONE, ConsentUse.HONOR_ROLL, "none"),
        (None, ConsentUse.NOTICE, "basic"),
        (None, ConsentUse.BULLETIN, "none"),
    ],
    ids=[
        "consented_to_all",
        "notice_consented",
        "article_not_consented",
        "notice_without_consent_by_the_rules",
        "honor_roll_without_consent",
        "notice_not_recorded",
        "bulletin_not_recorded",
    ],
)
def test_a_use_shows_everything_with_consent_and_what_the_rules_allow_without(
    consent: PublicityConsent | None, use: ConsentUse, shown: str
) -> None:
    assert disclosure(consent, use, RULES) == shown


def test_the_union_can_require_consent_for_the_notice_too() -> None:
    strict = {**RULES, "notice": "none"}
    assert disclosure(None, ConsentUse.NOTICE, strict) == "none"
    assert disclosure(ALL, ConsentUse.NOTICE, strict) == "full"
