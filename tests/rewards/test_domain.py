"""The rewards deciders as given / when / then tables: no servers.

Times are Asia/Shanghai wall-clock times; the cut-off day is the 20th unless a test says so.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from services.rewards.domain import (
    EMPTY_PERIOD,
    AwardState,
    IssuedAdjustment,
    PacesetterPolicy,
    RecordedAcknowledgement,
    RewardsPolicy,
    decide_acknowledge,
    decide_grant,
    decide_revoke,
    evolve_award,
    evolve_period,
)
from services.rewards.errors import (
    AcknowledgementConflict,
    AwardNotGranted,
    NotPayroll,
    PeriodRequired,
)
from services.rewards.handlers import pacesetter_policy_from_settings, rewards_policy_from_settings
from services.rewards.reconciliation import AckFact, AdjustmentFact, AwardFact, reconcile
from services.rewards.standings import Flower, pacesetter_standings
from shared.contracts.common import Category
from shared.contracts.nomination import MeasurableResult
from shared.contracts.review import PublishedWinner, ResultPublished, WinnerRevoked
from shared.contracts.rewards import (
    REWARDS_NAMESPACE,
    AwardGranted,
    AwardRevoked,
    PayrollAdjustmentAcknowledged,
    PayrollAdjustmentIssued,
    PayrollAdjustmentReversed,
    adjustment_id_for,
    award_id_for,
)
from shared.contracts.rewards_commands import AcknowledgeAdjustment
from shared.events import DomainEvent, EventMetadata, NewEvent, RecordedEvent
from shared.eventstore import fold
from shared.settings import Settings

SH = ZoneInfo("Asia/Shanghai")
ROUND = "2026-Q4"
PUBLISHED = datetime(2027, 1, 12, 10, 0, tzinfo=SH)  # before the cut-off: January
NOW = datetime(2027, 1, 12, 10, 0, 5, tzinfo=SH)
RESULT_EVENT = uuid.UUID(int=77)
POLICY = RewardsPolicy()


def winner(
    n: int = 1, category: Category = Category.STRIVING, name: str = "张伟"
) -> PublishedWinner:
    return PublishedWinner(
        category=category,
        nomination_id=uuid.UUID(int=n),
        employee_no=f"E{n:04d}",
        name=name,
        unit_code="PS",
        unit_name="物业服务中心",
        position="维修工",
        deeds="带领班组连续三个月零投诉，节约维修费用十二万元。" * 3,
        results=(MeasurableResult(metric="节约成本", value=Decimal("120000"), unit="元"),),
        score=Decimal("91.50"),
    )


def grant(
    state: AwardState | None = None,
    w: PublishedWinner | None = None,
    *,
    published_at: datetime = PUBLISHED,
    closed: frozenset[str] = frozenset(),
    policy: RewardsPolicy = POLICY,
) -> list[DomainEvent]:
    return list(
        decide_grant(
            state,
            round_id=ROUND,
            winner=w or winner(),
            published_at=published_at,
            result_event_id=RESULT_EVENT,
            now=NOW,
            policy=policy,
            closed_periods=closed,
        )
    )


def granted_state(**kw: object) -> AwardState:
    state = fold(evolve_award, None, grant(**kw))  # type: ignore[arg-type]
    assert state is not None
    return state


def revocation(at: datetime, w: PublishedWinner | None = None) -> WinnerRevoked:
    w = w or winner()
    return WinnerRevoked(
        round_id=ROUND,
        category=w.category,
        nomination_id=w.nomination_id,
        employee_no=w.employee_no,
        name=w.name,
        reason="事迹材料失实",
        revoked_by="leader-1",
        revoked_at=at,
    )


def revoke(
    state: AwardState | None, at: datetime, closed: frozenset[str] = frozenset()
) -> list[DomainEvent]:
    return list(
        decide_revoke(
            state,
            revocation=revocation(at),
            revocation_event_id=uuid.UUID(int=88),
            now=at,
            policy=POLICY,
            closed_periods=closed,
        )
    )


# --- Awards ------------------------------------------------------------------------------------


def test_each_winner_gets_one_award_paid_by_one_taxable_adjustment() -> None:
    granted, issued = grant()
    assert isinstance(granted, AwardGranted)
    assert isinstance(issued, PayrollAdjustmentIssued)
    award_id = uuid.uuid5(REWARDS_NAMESPACE, "2026-Q4|striving|E0001")
    assert granted.award_id == award_id == award_id_for(ROUND, "striving", "E0001")
    assert granted.adjustment_id == issued.adjustment_id == adjustment_id_for(award_id, "award")
    assert (issued.amount, issued.currency) == (Decimal("500.00"), "CNY")
    assert issued.to_data()["amount"] == "500.00"  # a string in JSON, never a float
    assert issued.period == granted.period == "2027-01"
    assert issued.tax_treatment == "taxable_earning"
    assert issued.reason_code == "FLOWER_AWARD"
    assert issued.description_zh == "2026年第四季度 拼搏之花 特殊贡献奖"
    assert (issued.employee_no, issued.name) == ("E0001", "张伟")


def test_a_winner_seen_again_is_not_awarded_again() -> None:
    assert grant(granted_state()) == []


def test_the_same_winner_always_names_the_same_award_and_adjustment() -> None:
    first, second = grant(), grant(published_at=datetime(2027, 1, 25, tzinfo=SH))
    assert first[0].award_id == second[0].award_id  # type: ignore[attr-defined]
    assert first[1].adjustment_id == second[1].adjustment_id  # type: ignore[attr-defined]


def test_the_award_amount_and_currency_come_from_the_settings() -> None:
    policy = rewards_policy_from_settings(
        Settings(award_amount=Decimal("800"), award_currency="CNY")
    )
    assert policy.award_amount == Decimal("800.00")
    _, issued = grant(policy=policy)
    assert issued.to_data()["amount"] == "800.00"
    with pytest.raises(ValueError, match="two decimals"):
        RewardsPolicy(award_amount=Decimal("500.001"))
    with pytest.raises(ValueError, match="positive"):
        RewardsPolicy(award_amount=Decimal("0"))


@pytest.mark.parametrize(
    ("published_at", "closed", "period"),
    [
        (datetime(2027, 1, 20, 23, 59, tzinfo=SH), frozenset(), "2027-01"),
        (datetime(2027, 1, 21, 0, 0, tzinfo=SH), frozenset(), "2027-02"),
        (datetime(2026, 12, 28, 9, 0, tzinfo=SH), frozenset(), "2027-01"),
        # Payroll already acknowledged something in the month: the award goes to the next.
        (datetime(2027, 1, 12, 9, 0, tzinfo=SH), frozenset({"2027-01"}), "2027-02"),
    ],
)
def test_an_award_is_paid_in_the_first_open_period_from_its_publication(
    published_at: datetime, closed: frozenset[str], period: str
) -> None:
    _, issued = grant(published_at=published_at, closed=closed)
    assert issued.period == period  # type: ignore[attr-defined]


# --- Revocation --------------------------------------------------------------------------------


def test_a_revocation_before_payroll_acknowledged_the_period_reverses_in_that_period() -> None:
    state = granted_state()
    revoked, reversed_ = revoke(state, datetime(2027, 1, 15, tzinfo=SH))
    assert isinstance(revoked, AwardRevoked)
    assert isinstance(reversed_, PayrollAdjustmentReversed)
    assert reversed_.period == revoked.reversal_period == "2027-01"
    assert reversed_.amount == Decimal("-500.00")
    assert reversed_.reverses_adjustment_id == state.granted.adjustment_id
    assert reversed_.adjustment_id == adjustment_id_for(state.granted.award_id, "reversal")
    assert reversed_.reason_code == "FLOWER_AWARD_REVERSAL"
    assert reversed_.description_zh == "冲销：2026年第四季度 拼搏之花 特殊贡献奖（荣誉撤销）"
    assert reversed_.tax_treatment == "taxable_earning"


def test_a_revocation_after_payroll_acknowledged_the_period_reverses_in_the_next_open_one() -> None:
    state = granted_state()
    at = datetime(2027, 1, 15, tzinfo=SH)
    _, reversed_ = revoke(state, at, closed=frozenset({"2027-01"}))
    assert reversed_.period == "2027-02"  # type: ignore[attr-defined]
    _, reversed_ = revoke(state, at, closed=frozenset({"2027-01", "2027-02"}))
    assert reversed_.period == "2027-03"  # type: ignore[attr-defined]


def test_a_late_revocation_reverses_in_the_period_of_the_revocation() -> None:
    _, reversed_ = revoke(granted_state(), datetime(2027, 12, 22, tzinfo=SH))
    assert reversed_.period == "2028-01"  # type: ignore[attr-defined]


def test_the_original_adjustment_is_never_edited_by_a_revocation() -> None:
    state = granted_state()
    after: AwardState | None = state
    after = fold(evolve_award, after, revoke(state, datetime(2027, 1, 15, tzinfo=SH)))
    assert after is not None
    assert after.issued == state.issued
    assert after.issued is not None
    assert after.issued.amount == Decimal("500.00")


def test_an_award_is_revoked_once() -> None:
    state: AwardState | None = granted_state()
    state = fold(evolve_award, state, revoke(state, datetime(2027, 1, 15, tzinfo=SH)))
    assert revoke(state, datetime(2027, 1, 16, tzinfo=SH)) == []


def test_a_revocation_before_its_award_waits_for_it() -> None:
    with pytest.raises(AwardNotGranted):
        revoke(None, datetime(2027, 1, 15, tzinfo=SH))


# --- Acknowledgements ----------------------------------------------------------------------------

ADJ = uuid.UUID(int=501)
ISSUED = IssuedAdjustment(ADJ, uuid.UUID(int=502), "2027-01", Decimal("500.00"), "CNY")
ACK_AT = datetime(2027, 1, 28, 17, 0, tzinfo=SH)


def ack(**kw: object) -> AcknowledgeAdjustment:
    values: dict[str, object] = {"actor": "payroll-1", "roles": {"payroll"}, "adjustment_id": ADJ}
    return AcknowledgeAdjustment.model_validate({**values, **kw})


def acknowledge(
    cmd: AcknowledgeAdjustment,
    state: object = EMPTY_PERIOD,
    issued: IssuedAdjustment | None = ISSUED,
    recorded: RecordedAcknowledgement | None = None,
) -> list[DomainEvent]:
    return list(
        decide_acknowledge(state, cmd, issued=issued, recorded=recorded, now=ACK_AT)  # type: ignore[arg-type]
    )


def test_payroll_acknowledges_an_adjustment_as_issued() -> None:
    (event,) = acknowledge(ack())
    assert isinstance(event, PayrollAdjustmentAcknowledged)
    assert (event.period, event.amount, event.currency, event.known) == (
        "2027-01",
        Decimal("500.00"),
        "CNY",
        True,
    )
    assert fold(evolve_period, EMPTY_PERIOD, [event]).closed


def test_acknowledging_twice_changes_nothing() -> None:
    state = fold(evolve_period, EMPTY_PERIOD, acknowledge(ack()))
    assert acknowledge(ack(), state) == []
    assert acknowledge(ack(period="2027-01", amount="500.00"), state) == []


def test_a_different_acknowledgement_of_the_same_adjustment_is_refused() -> None:
    state = fold(evolve_period, EMPTY_PERIOD, acknowledge(ack()))
    with pytest.raises(AcknowledgementConflict):
        acknowledge(ack(amount="400.00"), state)
    recorded_elsewhere = RecordedAcknowledgement("2027-02", Decimal("500.00"), "CNY")
    with pytest.raises(AcknowledgementConflict):
        acknowledge(ack(), recorded=recorded_elsewhere)
    assert acknowledge(ack(period="2027-02"), recorded=recorded_elsewhere) == []


def test_an_acknowledgement_of_an_unknown_adjustment_is_kept_for_reconciliation() -> None:
    (event,) = acknowledge(ack(period="2027-01", amount="500.00"), issued=None)
    assert isinstance(event, PayrollAdjustmentAcknowledged)
    assert event.known is False
    assert event.award_id is None
    with pytest.raises(PeriodRequired):
        acknowledge(ack(), issued=None)


def test_only_payroll_acknowledges() -> None:
    with pytest.raises(NotPayroll):
        acknowledge(ack(roles={"office"}))


def test_an_acknowledged_amount_is_never_a_float() -> None:
    with pytest.raises(ValueError, match="float"):
        ack(amount=500.0)


# --- Reconciliation ------------------------------------------------------------------------------

P = "2027-01"


def award_fact(n: int, **kw: object) -> AwardFact:
    values: dict[str, object] = {
        "award_id": uuid.UUID(int=n),
        "employee_no": f"E{n:04d}",
        "name": f"员工{n}",
        "amount": Decimal("500.00"),
        "currency": "CNY",
        "adjustment_id": uuid.UUID(int=100 + n),
        "period": P,
    }
    return AwardFact(**{**values, **kw})  # type: ignore[arg-type]


def adjustment_fact(n: int, amount: str = "500.00", **kw: object) -> AdjustmentFact:
    values: dict[str, object] = {
        "adjustment_id": uuid.UUID(int=100 + n),
        "kind": "award",
        "award_id": uuid.UUID(int=n),
        "employee_no": f"E{n:04d}",
        "name": f"员工{n}",
        "amount": Decimal(amount),
        "currency": "CNY",
        "period": P,
    }
    return AdjustmentFact(**{**values, **kw})  # type: ignore[arg-type]


def ack_fact(adjustment: int, amount: str = "500.00", period: str = P) -> AckFact:
    return AckFact(uuid.UUID(int=adjustment), period, Decimal(amount), "CNY")


def kinds(report: object) -> list[tuple[str, str | None]]:
    return [(m.kind, m.employee_no) for m in report.mismatches]  # type: ignore[attr-defined]


def test_a_fully_acknowledged_period_reconciles_to_zero() -> None:
    report = reconcile(
        P, [award_fact(1), award_fact(2)], [adjustment_fact(1), adjustment_fact(2)],
        [ack_fact(101), ack_fact(102)],
    )  # fmt: skip
    assert report.balanced
    assert (report.awards, report.issued_amount, report.acknowledged_amount) == (
        2,
        Decimal("1000.00"),
        Decimal("1000.00"),
    )


def test_reconciliation_catches_a_missing_acknowledgement() -> None:
    report = reconcile(
        P, [award_fact(1), award_fact(2)], [adjustment_fact(1), adjustment_fact(2)],
        [ack_fact(101)],
    )  # fmt: skip
    assert kinds(report) == [("missing_acknowledgement", "E0002")]
    assert report.mismatches[0].adjustment_id == uuid.UUID(int=102)


def test_reconciliation_catches_an_unknown_acknowledgement() -> None:
    report = reconcile(P, [award_fact(1)], [adjustment_fact(1)], [ack_fact(101), ack_fact(999)])
    assert kinds(report) == [("unknown_acknowledgement", None)]
    assert report.mismatches[0].adjustment_id == uuid.UUID(int=999)


def test_reconciliation_catches_amounts_and_periods_that_disagree() -> None:
    report = reconcile(
        P,
        [award_fact(1), award_fact(2), award_fact(3)],
        [adjustment_fact(1, "400.00"), adjustment_fact(2), adjustment_fact(3)],
        [ack_fact(101, "400.00"), ack_fact(102, "450.00"), ack_fact(103, period="2027-02")],
    )
    assert sorted(kinds(report)) == [
        ("acknowledged_amount_mismatch", "E0002"),
        ("acknowledged_in_other_period", "E0003"),
        ("adjustment_amount_mismatch", "E0001"),
    ]
    other = reconcile(
        "2027-02", [award_fact(3)], [adjustment_fact(3)], [ack_fact(103, period="2027-02")]
    )
    assert kinds(other) == [("acknowledgement_of_other_period", "E0003")]


def test_reconciliation_catches_an_award_without_adjustment_and_a_revocation_without_reversal() -> (
    None
):
    revoked = award_fact(
        2, revoked=True, reversal_adjustment_id=uuid.UUID(int=202), reversal_period=P
    )
    report = reconcile(P, [award_fact(1), revoked], [adjustment_fact(2)], [ack_fact(102)])
    assert sorted(kinds(report)) == [
        ("award_without_adjustment", "E0001"),
        ("revocation_without_reversal", "E0002"),
    ]


def test_a_reversal_in_the_period_is_reconciled_like_any_adjustment() -> None:
    revoked = award_fact(
        1, revoked=True, reversal_adjustment_id=uuid.UUID(int=201), reversal_period="2027-02"
    )
    reversal = adjustment_fact(
        1, "-500.00", adjustment_id=uuid.UUID(int=201), kind="reversal", period="2027-02"
    )
    report = reconcile(
        "2027-02", [revoked], [adjustment_fact(1), reversal], [ack_fact(201, "-500.00", "2027-02")]
    )
    assert report.balanced
    assert (report.reversals, report.net_amount) == (1, Decimal("-500.00"))


# --- Pacesetter standings ----------------------------------------------------------------------


def flower(
    employee: str, round_id: str, category: Category, score: str = "90", **kw: object
) -> Flower:
    values: dict[str, object] = {
        "award_id": uuid.uuid4(),
        "employee_no": employee,
        "name": {"E1": "张伟", "E2": "李静", "E3": "王芳", "E4": "赵强"}[employee],
        "unit_code": "PS",
        "unit_name": "物业服务中心",
        "round_id": round_id,
        "category": category,
        "deeds": f"{employee} 的事迹",
        "score": Decimal(score),
    }
    return Flower(**{**values, **kw})  # type: ignore[arg-type]


S, V, D, R = Category.STRIVING, Category.VALUE_CREATION, Category.DEDICATION, Category.REFORM


def test_standings_order_employees_by_flowers_with_their_categories_rounds_and_deeds() -> None:
    standings = pacesetter_standings(
        [
            flower("E1", "2026-Q1", S),
            flower("E1", "2026-Q3", V),
            flower("E2", "2026-Q2", D),
        ],
        PacesetterPolicy(),
    )
    assert [(s.rank, s.employee_no, s.weighted) for s in standings] == [
        (1, "E1", Decimal(2)),
        (2, "E2", Decimal(1)),
    ]
    first = standings[0].to_dict()
    assert [c["label_zh"] for c in first["categories"]] == ["拼搏之花", "创效之花"]
    assert first["rounds"] == ["2026-Q1", "2026-Q3"]
    assert first["awards"][0]["deeds"] == "E1 的事迹"
    assert standings[0].tie_break_zh is None


def test_the_weighting_from_the_settings_decides_the_order() -> None:
    flowers = [flower("E1", "2026-Q1", S), flower("E1", "2026-Q2", S), flower("E2", "2026-Q2", R)]
    policy = pacesetter_policy_from_settings(
        Settings(pacesetter_category_weights={"reform": Decimal("3")})
    )
    assert [s.employee_no for s in pacesetter_standings(flowers, policy)] == ["E2", "E1"]
    with pytest.raises(ValueError, match="unknown flower"):
        pacesetter_policy_from_settings(Settings(pacesetter_category_weights={"rose": Decimal(1)}))
    with pytest.raises(ValueError, match="tie-break"):
        PacesetterPolicy(tie_breaks=("height",))


def test_a_tie_on_weighted_flowers_is_broken_by_the_next_rule_and_explained() -> None:
    standings = pacesetter_standings(
        [
            flower("E1", "2026-Q1", S),
            flower("E1", "2026-Q2", S),
            flower("E2", "2026-Q1", S),
            flower("E2", "2026-Q2", V),
        ],
        PacesetterPolicy(),
    )
    assert [(s.rank, s.employee_no) for s in standings] == [(1, "E2"), (2, "E1")]
    assert standings[1].tie_break_zh == "与E2加权花数相同（2），按花类数排在其后（2 > 1）"
    assert standings[1].tie_break_en is not None
    assert "different flowers" in standings[1].tie_break_en


def test_employees_equal_on_every_rule_share_a_rank_and_name_each_other() -> None:
    standings = pacesetter_standings(
        [
            flower("E3", "2026-Q1", S, "95"),
            flower("E1", "2026-Q1", D, "88"),
            flower("E2", "2026-Q2", R, "88"),
            flower("E4", "2026-Q3", V, "80"),
        ],
        PacesetterPolicy(),
    )
    assert [(s.rank, s.employee_no) for s in standings] == [
        (1, "E3"),
        (2, "E1"),
        (2, "E2"),
        (4, "E4"),
    ]
    assert standings[1].tied_with == ("E2",)
    assert standings[2].tied_with == ("E1",)
    assert standings[1].tie_break_zh is not None
    assert standings[1].tie_break_zh.endswith(
        "与E2并列第2名：加权花数、获花数、花类数、评审平均分均相同"
    )
    assert "评审平均分排在其后（95.00 > 88.00）" in standings[1].tie_break_zh


def test_revoked_flowers_do_not_count_but_are_shown() -> None:
    standings = pacesetter_standings(
        [
            flower("E1", "2026-Q1", S, revoked=True),
            flower("E1", "2026-Q2", V),
            flower("E2", "2026-Q1", D, revoked=True),
        ],
        PacesetterPolicy(),
    )
    assert [(s.employee_no, len(s.flowers), s.revoked_flowers) for s in standings] == [("E1", 1, 1)]


# --- The event rewards consumes ----------------------------------------------------------------


def test_a_result_with_200_winners_is_one_event_that_fits_a_nats_message() -> None:
    """NATS refuses messages over max_payload (1 MB by default): measure the envelope."""
    deeds = (
        "带领班组完成井下供电系统改造，连续四十天坚守一线，节约成本十二万元。" * 12
    )  # ~400 chars
    winners = tuple(
        winner(n, list(Category)[n % 5]).model_copy(update={"deeds": deeds}) for n in range(200)
    )
    result = ResultPublished(
        round_id=ROUND,
        categories=tuple(Category),
        winners=winners,
        published_by="office-1",
        published_at=PUBLISHED,
    )
    new = NewEvent.of(result, EventMetadata(actor="office-1"))
    envelope = RecordedEvent(
        position=1,
        stream_id=f"review-{ROUND}",
        version=1,
        event_id=new.event_id,
        type=new.type,
        schema_version=new.schema_version,
        data=new.data,
        metadata=new.metadata,
        recorded_at=datetime.now(UTC),
        prev_hash="0" * 64,
        hash="0" * 64,
    )
    size = len(envelope.model_dump_json().encode())
    assert size < 1024 * 1024 // 2, size  # ~1.5 kB per winner with 400-character deeds
