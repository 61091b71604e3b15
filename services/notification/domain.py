"""Who hears what: the notification rules as pure functions (no I/O, no settings).

The facts the other services publish are folded into one `RoundFacts` per round (`evolve`);
`decide(facts, event_id, event, policy)` turns a consumed fact into notifications, each with
its Chinese wording and the link to the page that needs action. Two rules are not caused by
one fact but by the calendar (`deadline_reminders`, `panel_digests`): a daily tick supplies
`today` and the read-model counts, and a cause id derived from the round and the day.

A notification's id is uuid5(cause, recipient, rule): a redelivered fact, a tick run twice or
an instance replaying its feed yields the same ids, and the store keeps each once.

Recipients are addressed as text: ``role:office``, ``role:leader``, ``role:payroll``,
``role:publicity``, ``unit:<code>``, ``user:<id>`` (a signed-in user, e.g. a panelist or an
objector), ``employee:<no>`` and ``everyone``. Links are the gateway's pages (paths only: the
channels prefix the site's address).

A notification names at most one person, `about` (their employee number, or an objector's
data subject): their key seals its recipient, title and body in the log (NotificationIssued),
so a shred reads 已删除 there too. A text to many (the 公示's announcement) names nobody: the
notice page shows each winner as their consent allows.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from uuid import UUID

from shared.calendar import WorkingCalendar
from shared.clock import SHANGHAI, format_zh, format_zh_date
from shared.contracts.nomination import DeadlineExtended, RoundOpened
from shared.contracts.notification import (
    DeliveryAttempted,
    DeliveryDeadLettered,
    NotificationDelivered,
)
from shared.contracts.publicity import MaterialsDrafted
from shared.contracts.review import (
    CandidateRecorded,
    NominationAccepted,
    NominationRejected,
    NominationVetoed,
    ObjectionRaised,
    ObjectionResolved,
    PanelistAssigned,
    PanelistReminded,
    PanelistRemoved,
    PublicNoticeStarted,
    ResultPublished,
    ScoreSubmitted,
)
from shared.contracts.rewards import AwardGranted, PayrollAdjustmentIssued
from shared.events import DomainEvent

NAMESPACE = uuid.UUID("5b0e3c1e-7f0a-4c55-9d3e-6a1f2b7c9e11")

Channel = Literal["inbox", "email", "wecom", "dingtalk"]
CHANNELS: tuple[Channel, ...] = ("inbox", "email", "wecom", "dingtalk")

Rule = Literal[
    "quota_reminder",
    "panelist_assigned",
    "panelist_reminded",
    "panel_digest",
    "scores_complete",
    "objection_raised",
    "ranking_complete",
    "notice_started",
    "objection_resolved",
    "nomination_rejected",
    "nomination_vetoed",
    "nomination_won",
    "winner_published",
    "award_on_payroll",
    "payroll_period_pending",
    "drafts_ready",
]

OFFICE = "role:office"
LEADER = "role:leader"
PAYROLL = "role:payroll"
PUBLICITY = "role:publicity"
EVERYONE = "everyone"


def unit(code: str) -> str:
    return f"unit:{code}"


def user(user_id: str) -> str:
    return f"user:{user_id}"


def employee(employee_no: str) -> str:
    return f"employee:{employee_no}"


def notification_id(cause_id: UUID, recipient: str, rule: Rule) -> UUID:
    """The one id of what `rule` tells `recipient` because of `cause_id`."""
    return uuid.uuid5(NAMESPACE, f"{cause_id}|{recipient}|{rule}")


def tick_cause(round_id: str, rule: Rule, day: date) -> UUID:
    """The cause of a calendar rule's notifications on `day` (a tick run twice: same ids)."""
    return uuid.uuid5(NAMESPACE, f"tick|{round_id}|{rule}|{day.isoformat()}")


@dataclass(frozen=True)
class Notification:
    notification_id: UUID
    rule: Rule
    recipient: str
    round_id: str
    subject: str
    body: str
    link: str
    cause_id: UUID
    about: str | None = None  # the one person it names (their data subject), if any


def _notify(
    cause_id: UUID,
    rule: Rule,
    recipient: str,
    round_id: str,
    subject: str,
    body: str,
    link: str,
    about: str | None = None,
) -> Notification:
    return Notification(
        notification_id(cause_id, recipient, rule),
        rule,
        recipient,
        round_id,
        subject,
        body,
        link,
        cause_id,
        about,
    )


# --- the facts of a round, folded from what the other services publish -------------------


@dataclass(frozen=True)
class RoundFacts:
    round_id: str
    deadline: datetime | None = None
    unit_deadlines: Mapping[str, datetime] = field(default_factory=dict)
    nominee_units: Mapping[UUID, str] = field(default_factory=dict)  # nomination -> unit code
    nominee_names: Mapping[UUID, str] = field(default_factory=dict)
    nominee_employees: Mapping[UUID, str] = field(default_factory=dict)  # -> employee number
    accepted: frozenset[UUID] = frozenset()
    vetoed: frozenset[UUID] = frozenset()
    panelists: Mapping[str, str | None] = field(default_factory=dict)  # id -> own unit code
    scored: frozenset[tuple[UUID, str]] = frozenset()  # (nomination, panelist)
    scores_complete: bool = False
    objectors: Mapping[int, str] = field(default_factory=dict)  # objection no -> user id
    objector_subjects: Mapping[int, str] = field(default_factory=dict)  # -> data subject
    payroll_periods: frozenset[str] = frozenset()  # periods payroll has been told of
    scoring_over: bool = False  # a 公示 started or the result is out: no more digests


def initial_facts(round_id: str) -> RoundFacts:
    return RoundFacts(round_id)


def expected_scores(facts: RoundFacts) -> frozenset[tuple[UUID, str]]:
    """Every accepted, not vetoed nomination by every panelist not of the nominee's unit."""
    return frozenset(
        (n, p)
        for n in facts.accepted - facts.vetoed
        for p, own_unit in facts.panelists.items()
        if own_unit is None or own_unit != facts.nominee_units.get(n)
    )


def pending_by_panelist(facts: RoundFacts) -> dict[str, int]:
    pending: dict[str, int] = {}
    for _, p in expected_scores(facts) - facts.scored:
        pending[p] = pending.get(p, 0) + 1
    return pending


def _all_scored(facts: RoundFacts) -> bool:
    expected = expected_scores(facts)
    return bool(expected) and expected <= facts.scored


def evolve(facts: RoundFacts, event: DomainEvent) -> RoundFacts:
    match event:
        case RoundOpened():
            return replace(facts, deadline=event.deadline)
        case DeadlineExtended(unit_code=None):
            return replace(facts, deadline=event.new_deadline)
        case DeadlineExtended(unit_code=str(code)):
            return replace(facts, unit_deadlines={**facts.unit_deadlines, code: event.new_deadline})
        case CandidateRecorded():
            c = event.candidate
            return replace(
                facts,
                nominee_units={**facts.nominee_units, c.nomination_id: c.nominee.unit_code},
                nominee_names={**facts.nominee_names, c.nomination_id: c.nominee.name},
                nominee_employees={
                    **facts.nominee_employees,
                    c.nomination_id: c.nominee.employee_no,
                },
            )
        case NominationAccepted():
            return replace(facts, accepted=facts.accepted | {event.nomination_id})
        case NominationVetoed():
            return replace(facts, vetoed=facts.vetoed | {event.nomination_id})
        case PanelistAssigned():
            return replace(facts, panelists={**facts.panelists, event.panelist_id: event.unit_code})
        case PanelistRemoved():
            rest = {p: u for p, u in facts.panelists.items() if p != event.panelist_id}
            return replace(facts, panelists=rest)
        case ScoreSubmitted():
            return replace(facts, scored=facts.scored | {(event.nomination_id, event.panelist_id)})
        case ObjectionRaised():
            return replace(
                facts,
                objectors={**facts.objectors, event.objection_no: event.raised_by},
                objector_subjects={
                    **facts.objector_subjects,
                    event.objection_no: event.raiser_subject,
                },
            )
        case PayrollAdjustmentIssued():
            return replace(facts, payroll_periods=facts.payroll_periods | {event.period})
        case PublicNoticeStarted() | ResultPublished():
            return replace(facts, scoring_over=True)
        case _:
            return facts


def settle(facts: RoundFacts) -> RoundFacts:
    """`facts` with `scores_complete` set once every expected score is in (it stays set)."""
    if not facts.scores_complete and _all_scored(facts):
        return replace(facts, scores_complete=True)
    return facts


# --- rules caused by one fact ------------------------------------------------------------


def _name(facts: RoundFacts, nomination_id: UUID) -> str:
    return facts.nominee_names.get(nomination_id, "被提名人")


def _nominee(facts: RoundFacts, nomination_id: UUID) -> str | None:
    return facts.nominee_employees.get(nomination_id)


def decide(facts: RoundFacts, event_id: UUID, event: DomainEvent) -> list[Notification]:
    """What `event` (consumed with id `event_id`) tells whom, on the facts before it."""
    after = settle(evolve(facts, event))
    r = facts.round_id
    out: list[Notification] = []
    match event:
        case PanelistAssigned():
            out.append(
                _notify(
                    event_id,
                    "panelist_assigned",
                    user(event.panelist_id),
                    r,
                    f"【评审】您已被聘为{r}轮评审专家",
                    f"{event.name}，您好：您已被聘为{r}轮五朵金花评选的评审专家，请登录系统为待评提名打分。",
                    "/review/scoring",
                    about=event.employee_no,
                )
            )
        case PanelistReminded():
            out.append(
                _notify(
                    event_id,
                    "panelist_reminded",
                    user(event.panelist_id),
                    r,
                    f"【评审提醒】您在{r}轮还有{event.waiting}份提名待评分",
                    f"评审办公室于{format_zh(event.reminded_at)}提醒：您在{r}轮还有"
                    f"{event.waiting}份提名尚未评分，请尽快完成。",
                    "/review/scoring",
                )
            )
        case ObjectionRaised():
            out.append(
                _notify(
                    event_id,
                    "objection_raised",
                    OFFICE,
                    r,
                    f"【异议】{r}轮收到第{event.objection_no}号异议",
                    # Who objected is on the objections page (the office's): one person named.
                    f"{format_zh(event.raised_at)}收到对"
                    f"{_name(facts, event.nomination_id)}（{event.category.label_zh}）"
                    "的实名异议，请及时核查处理。",
                    f"/review/objections?round_id={r}",
                    about=_nominee(facts, event.nomination_id),
                )
            )
        case ObjectionResolved():
            objector = facts.objectors.get(event.objection_no)
            if objector is not None:
                outcome = "异议成立" if event.outcome == "upheld" else "异议不成立"
                out.append(
                    _notify(
                        event_id,
                        "objection_resolved",
                        user(objector),
                        r,
                        f"【异议结果】您提出的第{event.objection_no}号异议已处理：{outcome}",
                        f"处理结果：{outcome}。处理意见：{event.resolution}"
                        f"（{format_zh(event.resolved_at)}）",
                        f"/gongshi/{r}",
                        about=facts.objector_subjects.get(event.objection_no),
                    )
                )
        case PublicNoticeStarted():
            # To everyone, naming nobody: the notice page shows each winner as consent allows.
            flowers = "、".join(
                f"{c.label_zh}{sum(w.category == c for w in event.winners)}人"
                for c in event.categories
            )
            out.append(
                _notify(
                    event_id,
                    "notice_started",
                    EVERYONE,
                    r,
                    f"【公示】{r}轮五朵金花评选结果公示",
                    f"拟表彰对象（{flowers}）已在公示页面公示。"
                    f"公示期{format_zh(event.starts_at)}至{format_zh(event.ends_at)}，"
                    f"如有异议，请于{format_zh(event.ends_at)}前通过公示页面实名提出。",
                    f"/gongshi/{r}",
                )
            )
        case NominationRejected():
            code = facts.nominee_units.get(event.nomination_id)
            if code is not None:
                out.append(
                    _notify(
                        event_id,
                        "nomination_rejected",
                        unit(code),
                        r,
                        f"【提名】{_name(facts, event.nomination_id)}的提名未通过形式审查",
                        f"您单位对{_name(facts, event.nomination_id)}（{event.category.label_zh}）"
                        f"的提名未通过形式审查。原因：{event.reason}",
                        f"/nominations/{event.nomination_id}",
                        about=_nominee(facts, event.nomination_id),
                    )
                )
        case NominationVetoed():
            code = facts.nominee_units.get(event.nomination_id)
            if code is not None:
                out.append(
                    _notify(
                        event_id,
                        "nomination_vetoed",
                        unit(code),
                        r,
                        f"【提名】{_name(facts, event.nomination_id)}的提名被一票否决",
                        f"您单位对{_name(facts, event.nomination_id)}（{event.category.label_zh}）"
                        f"的提名被一票否决。原因：{event.reason}",
                        f"/nominations/{event.nomination_id}",
                        about=_nominee(facts, event.nomination_id),
                    )
                )
        case ResultPublished():
            for w in event.winners:
                label = w.category.label_zh
                out.append(
                    _notify(
                        event_id,
                        "nomination_won",
                        unit(w.unit_code),
                        r,
                        f"【喜报】{w.name}荣获{label}",
                        f"您单位提名的{w.name}（{w.position}）荣获{r}轮“{label}”，"
                        f"结果于{format_zh(event.published_at)}发布。",
                        "/honor-roll",
                        about=w.employee_no,
                    )
                )
                out.append(
                    _notify(
                        event_id,
                        "winner_published",
                        employee(w.employee_no),
                        r,
                        f"【喜报】恭喜您荣获{label}",
                        f"{w.name}，您好：恭喜您荣获{r}轮“{label}”！奖励将随工资发放，届时另行通知。",
                        "/honor-roll",
                        about=w.employee_no,
                    )
                )
        case AwardGranted():
            out.append(
                _notify(
                    event_id,
                    "award_on_payroll",
                    employee(event.employee_no),
                    r,
                    f"【奖励】您的{event.category.label_zh}奖励已列入{event.period}工资",
                    f"{event.name}，您好：您的{r}轮“{event.category.label_zh}”奖励"
                    f"{event.amount} {event.currency}已列入{event.period}工资期随工资发放。",
                    "/honor-roll",
                    about=event.employee_no,
                )
            )
        case PayrollAdjustmentIssued():
            if event.period not in facts.payroll_periods:
                out.append(
                    _notify(
                        uuid.uuid5(NAMESPACE, f"payroll-period|{event.period}"),
                        "payroll_period_pending",
                        PAYROLL,
                        r,
                        f"【薪酬】{event.period}工资期有奖励调整待确认",
                        f"{event.period}工资期有新的奖励调整（如{event.name}："
                        f"{event.amount} {event.currency}），请核对后确认。",
                        f"/payroll/periods/{event.period}",
                        about=event.employee_no,
                    )
                )
        case MaterialsDrafted():
            out.append(
                _notify(
                    event_id,
                    "drafts_ready",
                    PUBLICITY,
                    r,
                    f"【宣传】{r}轮宣传素材草稿已生成",
                    f"{r}轮共{len(event.materials)}份宣传素材草稿已生成，请审核、修改后发布。",
                    f"/publicity/rounds/{r}",
                )
            )
        case _:
            pass
    if after.scores_complete and not facts.scores_complete:
        cause = uuid.uuid5(NAMESPACE, f"scores-complete|{r}")
        out.append(
            _notify(
                cause,
                "scores_complete",
                OFFICE,
                r,
                f"【评审】{r}轮评分已全部完成",
                f"{r}轮所有评审专家已完成全部提名的评分，可查看排名。",
                f"/review/summary?round_id={r}",
            )
        )
        out.append(
            _notify(
                cause,
                "ranking_complete",
                LEADER,
                r,
                f"【决定】{r}轮排名已完成，请审定获奖人选",
                f"{r}轮评分已全部完成，排名已生成，请审定获奖人选。",
                f"/review/ranking?round_id={r}",
            )
        )
    return out


# --- rules caused by the calendar (a daily tick) ------------------------------------------


def working_days_before(day: date, n: int, calendar: WorkingCalendar) -> date:
    """The n-th working day before `day` (`day` itself not counted)."""
    counted = 0
    while counted < n:
        day -= timedelta(days=1)
        if calendar.is_working_day(day):
            counted += 1
    return day


def deadline_reminders(
    facts: RoundFacts,
    places_left: Mapping[str, int],
    today: date,
    calendar: WorkingCalendar,
    offsets: Sequence[int] = (3, 1),
) -> list[Notification]:
    """Units that have not used their quota (unit code -> nomination places still open),
    `offsets` working days before their deadline."""
    out: list[Notification] = []
    for code, left in sorted(places_left.items()):
        if left <= 0:
            continue
        deadline = facts.unit_deadlines.get(code, facts.deadline)
        if deadline is None:
            continue
        deadline_day = deadline.astimezone(SHANGHAI).date()
        for n in offsets:
            if working_days_before(deadline_day, n, calendar) != today:
                continue
            r = facts.round_id
            out.append(
                _notify(
                    tick_cause(r, "quota_reminder", today),
                    "quota_reminder",
                    unit(code),
                    r,
                    f"【提名提醒】距{r}轮提名截止还有{n}个工作日",
                    f"您单位在{r}轮尚有{left}个提名名额未使用。提名将于{format_zh(deadline)}截止，"
                    f"还有{n}个工作日，请尽快提交。",
                    "/nominations/new",
                )
            )
    return out


def panel_digests(facts: RoundFacts, today: date) -> list[Notification]:
    """Each panelist with nominations still to score: one digest a day until done (all
    scores in, or the round gone on to its 公示 or result without them)."""
    if facts.scores_complete or facts.scoring_over:
        return []
    r = facts.round_id
    return [
        _notify(
            tick_cause(r, "panel_digest", today),
            "panel_digest",
            user(p),
            r,
            f"【评审】您还有{count}份提名待评分",
            f"截至{format_zh_date(today)}，您在{r}轮还有{count}份提名尚未评分，请及时完成。",
            "/review/scoring",
        )
        for p, count in sorted(pending_by_panelist(facts).items())
    ]


def daily(
    facts: RoundFacts,
    places_left: Mapping[str, int],
    today: date,
    calendar: WorkingCalendar,
    offsets: Sequence[int] = (3, 1),
) -> list[Notification]:
    """The calendar's rules for one round on `today`: the quota reminders, and on working
    days the panelists' digests."""
    out = deadline_reminders(facts, places_left, today, calendar, offsets)
    if calendar.is_working_day(today):
        out += panel_digests(facts, today)
    return out


# --- preferences and quiet hours: data ---------------------------------------------------


@dataclass(frozen=True)
class QuietHours:
    """Local (Beijing) hours when nothing but the inbox is sent; may span midnight."""

    start: time
    end: time

    def contains(self, moment: datetime) -> bool:
        t = moment.astimezone(SHANGHAI).time()
        if self.start <= self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    def end_after(self, moment: datetime) -> datetime:
        """The first instant at or after `moment` outside the quiet hours."""
        if not self.contains(moment):
            return moment
        local = moment.astimezone(SHANGHAI)
        end = datetime.combine(local.date(), self.end, tzinfo=SHANGHAI)
        if end <= local:
            end += timedelta(days=1)
        return end


PERSONAL_CHANNELS: tuple[Channel, ...] = ("email",)  # a person's choice besides the inbox
ROBOT_CHANNELS: tuple[Channel, ...] = ("wecom", "dingtalk")


@dataclass(frozen=True)
class Preferences:
    """A person's channels besides the inbox (always) and quiet hours."""

    channels: frozenset[Channel] = frozenset({"inbox"})
    quiet: QuietHours | None = QuietHours(time(22, 0), time(8, 0))


@dataclass(frozen=True)
class Contact:
    """A user as the address book knows them: who they are to the rules (from their signed
    identity), their e-mail address and their preferences."""

    user_id: str
    roles: frozenset[str] = frozenset()
    unit_code: str | None = None  # the unit a nominator acts for
    employee_no: str | None = None
    email: str | None = None
    preferences: Preferences = Preferences()


def addresses_of(contact: Contact) -> frozenset[str]:
    """The recipient addresses that reach `contact` (as the inbox reads them)."""
    out = {user(contact.user_id), EVERYONE, *(f"role:{r}" for r in contact.roles)}
    if contact.unit_code:
        out.add(unit(contact.unit_code))
    if contact.employee_no:
        out.add(employee(contact.employee_no))
    return frozenset(out)


# Rules whose wording names nobody's private matter: only these may go to a group robot, and
# only when addressed to a group (everyone, a unit, the office). Any other rule, and anything
# addressed to a person, stays personal: inbox and the person's own e-mail.
GROUP_RULES: frozenset[Rule] = frozenset(
    {"quota_reminder", "notice_started", "scores_complete", "nomination_won"}
)


def is_personal(notification: Notification) -> bool:
    return notification.rule not in GROUP_RULES or notification.recipient.startswith(
        ("user:", "employee:")
    )


OFFICE_ROBOT = "robot:office"


def unit_robot(code: str) -> str:
    return f"robot:unit:{code}"


@dataclass(frozen=True)
class Robots:
    """The group robots configured: the office's (the union office's group, which also
    takes what concerns everyone) and per unit, each with its channels."""

    office: frozenset[Channel] = frozenset()
    units: Mapping[str, frozenset[Channel]] = field(default_factory=dict)


def robot_targets(notification: Notification, robots: Robots) -> list[tuple[str, Channel]]:
    """The group robots a notification goes to: never a personal one."""
    if is_personal(notification):
        return []
    to = notification.recipient
    groups: list[tuple[str, frozenset[Channel]]] = []
    if to in (EVERYONE, OFFICE):
        groups.append((OFFICE_ROBOT, robots.office))
    if to == EVERYONE:
        groups += [(unit_robot(code), chans) for code, chans in sorted(robots.units.items())]
    elif to.startswith("unit:"):
        code = to.removeprefix("unit:")
        groups.append((unit_robot(code), robots.units.get(code, frozenset())))
    return [(target, c) for target, chans in groups for c in ROBOT_CHANNELS if c in chans]


def delivery_id(notification_id: UUID, channel: Channel, target: str) -> UUID:
    """The one id of sending a notification through a channel to a target."""
    return uuid.uuid5(NAMESPACE, f"delivery|{notification_id}|{channel}|{target}")


@dataclass(frozen=True)
class Delivery:
    delivery_id: UUID
    notification_id: UUID
    round_id: str
    channel: Channel
    target: str  # user:<id> (e-mail) | robot:office | robot:unit:<code>
    not_before: datetime


def plan(
    notification: Notification,
    contacts: Collection[Contact],
    robots: Robots,
    now: datetime,
    robot_quiet: QuietHours | None = None,
) -> list[Delivery]:
    """Besides the inbox: an e-mail to every contact the notification reaches who chose
    e-mail and gave an address, and the group robots it may go to; each after the quiet
    hours (the person's own, the robots' the office's)."""

    def delivery(channel: Channel, target: str, quiet: QuietHours | None) -> Delivery:
        return Delivery(
            delivery_id(notification.notification_id, channel, target),
            notification.notification_id,
            notification.round_id,
            channel,
            target,
            quiet.end_after(now) if quiet is not None else now,
        )

    out = [
        delivery("email", user(c.user_id), c.preferences.quiet)
        for c in sorted(contacts, key=lambda c: c.user_id)
        if "email" in c.preferences.channels
        and c.email
        and notification.recipient in addresses_of(c)
    ]
    out += [delivery(c, t, robot_quiet) for t, c in robot_targets(notification, robots)]
    return out


# --- retries -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    first_delay: timedelta = timedelta(seconds=30)
    factor: int = 2

    def next_try(self, attempt: int, failed_at: datetime) -> datetime | None:
        """After failed attempt number `attempt` (1-based): when to try again, or None
        (dead-letter)."""
        if attempt >= self.attempts:
            return None
        delay: timedelta = self.first_delay * int(self.factor ** (attempt - 1))
        return failed_at + delay


@dataclass(frozen=True)
class DeliveryState:
    attempts: int = 0
    done: bool = False  # delivered or dead-lettered: never sent again


def evolve_delivery(state: DeliveryState, event: DomainEvent) -> DeliveryState:
    match event:
        case DeliveryAttempted():
            return replace(state, attempts=max(state.attempts, event.attempt))
        case NotificationDelivered() | DeliveryDeadLettered():
            return replace(state, done=True)
        case _:
            return state


def after_attempt(
    state: DeliveryState,
    delivery: Delivery,
    error: str | None,
    at: datetime,
    policy: RetryPolicy,
) -> tuple[list[DomainEvent], datetime | None]:
    """What one more try (succeeded, or failed with `error`) records, and when the next is
    due (None: no more tries)."""
    if state.done:
        return [], None
    number = state.attempts + 1
    retry_at = None if error is None else policy.next_try(number, at)
    same: dict[str, Any] = {
        "round_id": delivery.round_id,
        "delivery_id": delivery.delivery_id,
        "notification_id": delivery.notification_id,
        "channel": delivery.channel,
        "target": delivery.target,
    }
    events: list[DomainEvent] = [
        DeliveryAttempted(
            **same,
            attempt=number,
            ok=error is None,
            error=error,
            attempted_at=at,
            retry_at=retry_at,
        )
    ]
    if error is None:
        events.append(NotificationDelivered(**same, attempts=number, delivered_at=at))
    elif retry_at is None:
        events.append(
            DeliveryDeadLettered(**same, attempts=number, error=error, dead_lettered_at=at)
        )
    return events, retry_at
