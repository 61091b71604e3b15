"""The office reminds a panelist to score: recorded in the round's log with how many
nominations were waiting; only for an active panelist with something left to score."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from shared.contracts.review import PanelistReminded
from shared.contracts.review_commands import Command, RemindPanelist
from tests.review.test_domain import (
    LEADER,
    OFFICE,
    REVIEWING,
    ROUND,
    Story,
    Then,
    audited,
    check,
    nominated,
    published,
    row,
    scored,
    table_test,
)


def remind(panelist: str, **actor: object) -> RemindPanelist:
    return RemindPanelist(round_id=ROUND, **(actor or OFFICE), panelist_id=panelist)


@table_test(
    [
        row(audited, remind("p-go"), (PanelistReminded,), id="the office reminds a panelist"),
        row(
            scored,
            remind("p-pm"),
            (PanelistReminded,),
            id="a panelist who has not scored everything is reminded",
        ),
        row(scored, remind("p-go"), "nothing_to_score", id="nothing waits: no reminder"),
        row(nominated, remind("p-go"), "nothing_to_score", id="nothing accepted yet"),
        row(audited, remind("p-xx"), "unknown_panelist", id="only a panelist of the round"),
        row(audited, remind("p-go", **LEADER), "not_permitted", id="only the office reminds"),
        row(published, remind("p-pm"), "already_published", id="not after publication"),
    ]
)
def test_the_office_reminds_a_panelist_to_score(
    history: Callable[[], Story], when: Command, now: datetime, then: Then
) -> None:
    check(history, when, now, then)


def test_a_reminder_records_how_many_nominations_were_waiting_and_when() -> None:
    (event,) = check(audited, remind("p-go"), REVIEWING, (PanelistReminded,))
    assert isinstance(event, PanelistReminded)
    assert (event.waiting, event.reminded_by, event.reminded_at) == (5, "office-1", REVIEWING)
