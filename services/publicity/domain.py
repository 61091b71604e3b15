"""The publicity of one round: its drafts and their workflow, decided purely.

One stream per round, `publicity-<round_id>`. Nothing exists before review's
ResultPublished: `draft_on_result` then drafts the honor roll, the bulletin article, the
official-account article and the meeting video's storyboard, once (a second delivery of
the same result, or of another copy of it, decides nothing). Each draft is edited and
approved by the publicity role and marked published per channel (`decide`). A revocation
(`react_to_revocation`) takes the winner off the honor roll and off every draft not yet
published, and drafts a correction notice when something featuring them was published.

Every decide function takes the state, its input, `now` and the policy and returns events
or raises a `PublicityError` (errors.py); `evolve` folds one event. No clock, no settings,
no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from services.publicity.errors import (
    AlreadyPublished,
    CaptionTooLong,
    ChannelNotAllowed,
    CorrectionPending,
    DurationOutOfRange,
    EmptyText,
    FieldNotForKind,
    MaterialNotFound,
    NotApproved,
    NotAWinner,
    NotPhotoGiver,
    NotPublicity,
    NotPublished,
    RoundNotDrafted,
    StaleRevision,
    UnknownSection,
    WinnerRevokedPhoto,
)
from shared.calendar import WorkingCalendar
from shared.clock import SHANGHAI
from shared.contracts.common import Category
from shared.contracts.nomination import (
    WITHOUT_CONSENT_DEFAULT,
    ConsentUse,
    Disclosure,
    PublicityConsent,
    disclosure,
)
from shared.contracts.publicity import (
    BASE_KINDS,
    CHANNEL_LABELS_ZH,
    KIND_LABELS_ZH,
    Channel,
    CorrectionDrafted,
    CorrectionNoteDrafted,
    DraftedMaterial,
    FeaturedWinner,
    HonorRollUpdated,
    MaterialApproved,
    MaterialContent,
    MaterialEdited,
    MaterialKind,
    MaterialPublished,
    MaterialRevised,
    MaterialsDrafted,
    PublicityEvent,
    Section,
    WinnerPhotoAttached,
    WinnerRevocationRecorded,
    correction_id_for,
    material_id_for,
)
from shared.contracts.publicity_commands import (
    OFFICE,
    PUBLICITY,
    ApproveMaterial,
    Command,
    CorrectMaterial,
    EditMaterial,
    MaterialWorkflowCommand,
    PublishMaterial,
    SectionEdit,
)
from shared.contracts.review import ResultPublished, WinnerRevoked
from shared.events import DomainEvent
from shared.rounds import RoundPeriod

# Where each kind of material may be published.
KIND_CHANNELS: dict[MaterialKind, tuple[Channel, ...]] = {
    "honor_roll": ("bulletin", "official_account", "meeting"),
    "bulletin": ("bulletin",),
    "official_account": ("official_account",),
    "storyboard": ("meeting",),
    "correction": ("bulletin", "official_account", "meeting"),
}

# --- Policy -----------------------------------------------------------------------------------

MeetingRuleKind = Literal["first_working_day", "working_day", "day"]


@dataclass(frozen=True)
class MeetingRule:
    """When the monthly operations-planning meeting (月度作业计划会) falls in a month."""

    kind: MeetingRuleKind = "first_working_day"
    n: int = 1

    @classmethod
    def parse(cls, text: str) -> MeetingRule:
        kind, _, n = text.strip().partition(":")
        if kind == "first_working_day" and not n:
            return cls("first_working_day", 1)
        if kind == "working_day" and n.isdigit() and 1 <= int(n) <= 28:
            return cls("working_day", int(n))
        if kind == "day" and n.isdigit() and 1 <= int(n) <= 28:
            return cls("day", int(n))
        raise ValueError(f"not a meeting rule: {text!r}")


@dataclass(frozen=True)
class PublicityPolicy:
    """The settings the drafts depend on, handed in by the caller."""

    meeting_rule: MeetingRule = MeetingRule()
    meeting_lead_days: int = 0
    segment_s: int = 30
    segment_min_s: int = 10
    segment_max_s: int = 120
    title_card_s: int = 4
    caption_max_chars: int = 60
    summary_chars: int = 80
    organisation: str = "后勤实业分公司"
    department: str = "党群工作部"
    calendar: WorkingCalendar = field(default_factory=WorkingCalendar)
    without_consent: Mapping[str, str] = field(
        default_factory=lambda: dict(WITHOUT_CONSENT_DEFAULT)
    )
    """The union's rules: what each public use shows of a winner without consent."""


# --- Consent to publicity ---------------------------------------------------------------------

KIND_USES: dict[MaterialKind, ConsentUse] = {
    "honor_roll": ConsentUse.HONOR_ROLL,
    "bulletin": ConsentUse.BULLETIN,
    "official_account": ConsentUse.OFFICIAL_ACCOUNT,
    "storyboard": ConsentUse.POSTER_VIDEO,
}
"""The use each kind of material is (the honor roll's poster is the honor roll's)."""

Consents = Mapping[UUID, PublicityConsent | None]
"""The winners' consent to public display by nomination id, as heard from nomination; a
winner absent or None: not recorded, which counts as no consent."""


def shown_of(
    kind: MaterialKind, nomination_id: UUID, consents: Consents, policy: PublicityPolicy
) -> Disclosure:
    """How much of a winner a material of `kind` may show (a correction names the revoked)."""
    use = KIND_USES.get(kind)
    if use is None:
        return "full"
    return disclosure(consents.get(nomination_id), use, policy.without_consent)


def withheld(
    kind: MaterialKind,
    winners: Iterable[FeaturedWinner],
    consents: Consents,
    policy: PublicityPolicy,
) -> list[FeaturedWinner]:
    """The winners a material of `kind` leaves out for want of consent."""
    return [w for w in winners if shown_of(kind, w.nomination_id, consents, policy) == "none"]


# --- Text helpers (pure) ------------------------------------------------------------------------

_SENTENCE_END = "。！？；!?;"
_BLANKS = re.compile(r"[ \t\f\v]+")


def _wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in "WF"


def one_line(text: str) -> str:
    """Paragraphs joined into one line: no space where Chinese meets Chinese, blanks collapsed
    (the ideographic space U+3000 is kept: it is typography, not layout)."""
    lines = [_BLANKS.sub(" ", line).strip(" ") for line in text.splitlines()]
    out = ""
    for line in filter(None, lines):
        if out and not (_wide(out[-1]) or _wide(line[0])):
            out += " "
        out += line
    return out


def summarise(text: str, limit: int) -> str:
    """Whole sentences up to `limit` characters; never cut inside one: a first sentence longer
    than `limit` is kept whole (a summary is spoken and subtitled: no ellipsis)."""
    flat = one_line(text)
    if len(flat) <= limit:
        return flat
    head = flat[:limit]
    cut = max(head.rfind(mark) for mark in _SENTENCE_END)
    if cut >= 0:
        return head[: cut + 1]
    ends = [i for i in (flat.find(mark) for mark in _SENTENCE_END) if i >= 0]
    return flat[: min(ends) + 1] if ends else flat


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def caption_for(winner: FeaturedWinner, limit: int) -> str:
    return clip(
        f"{winner.category.label_zh}　{winner.name}　{winner.unit_name}·{winner.position}", limit
    )


def photo_slot_for(winner: FeaturedWinner) -> str:
    return f"{winner.name}（{winner.unit_name}）工作照"


def date_zh(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


_WEEKDAYS_ZH = "一二三四五六日"


def weekday_zh(d: date) -> str:
    return f"星期{_WEEKDAYS_ZH[d.weekday()]}"


# --- The meeting date ---------------------------------------------------------------------------


def meeting_in_month(
    year: int,
    month: int,
    rule: MeetingRule,
    calendar: WorkingCalendar,
    on_fallback: Any = None,
) -> date:
    first = date(year, month, 1)
    if rule.kind == "day":
        day = date(year, month, rule.n)
        if calendar.is_working_day(day, on_fallback):
            return day
        return calendar.add_working_days(day, 1, on_fallback)
    n = 1 if rule.kind == "first_working_day" else rule.n
    return calendar.add_working_days(first - timedelta(days=1), n, on_fallback)


def next_meeting(published_at: datetime, policy: PublicityPolicy, on_fallback: Any = None) -> date:
    """The first monthly meeting after the publication day (plus the lead days), Shanghai time."""
    not_before = published_at.astimezone(SHANGHAI).date() + timedelta(days=policy.meeting_lead_days)
    year, month = not_before.year, not_before.month
    for _ in range(3):
        day = meeting_in_month(year, month, policy.meeting_rule, policy.calendar, on_fallback)
        if day > not_before:
            return day
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    raise AssertionError("a monthly meeting always falls within three months")


# --- State --------------------------------------------------------------------------------------

MaterialStatus = Literal["draft", "approved", "published"]


@dataclass(frozen=True)
class Publication:
    channel: Channel
    revision: int
    published_by: str
    published_at: datetime


@dataclass(frozen=True)
class Material:
    material_id: UUID
    kind: MaterialKind
    channels: tuple[Channel, ...]
    content: MaterialContent
    revision: int = 1
    status: MaterialStatus = "draft"
    publications: tuple[Publication, ...] = ()
    corrects: UUID | None = None  # a correction notice drafted from a material's page

    def features(self, nomination_id: UUID) -> bool:
        return any(s.nomination_id == nomination_id for s in self.content.sections)

    def published_on(self, channel: Channel) -> bool:
        """Published on `channel` at the current revision."""
        return any(p.channel == channel and p.revision == self.revision for p in self.publications)


@dataclass(frozen=True)
class Revocation:
    nomination_id: UUID
    category: Category
    name: str
    reason: str


@dataclass(frozen=True)
class RoundPublicity:
    round_id: str
    drafted: bool = False
    result_published_at: datetime | None = None
    meeting_date: date | None = None
    categories: tuple[Category, ...] = ()
    winners: tuple[FeaturedWinner, ...] = ()
    materials: Mapping[UUID, Material] = field(default_factory=dict)
    revoked: Mapping[UUID, Revocation] = field(default_factory=dict)
    photos: Mapping[UUID, str] = field(default_factory=dict)  # nomination -> sha256

    def winner(self, nomination_id: UUID) -> FeaturedWinner | None:
        return next((w for w in self.winners if w.nomination_id == nomination_id), None)

    def featured(self) -> tuple[FeaturedWinner, ...]:
        """The winners still featured (not revoked)."""
        return tuple(w for w in self.winners if w.nomination_id not in self.revoked)

    def base_materials(self) -> list[Material]:
        return sorted(
            (m for m in self.materials.values() if m.kind != "correction"),
            key=lambda m: BASE_KINDS.index(m.kind),
        )


def initial_state(round_id: str) -> RoundPublicity:
    return RoundPublicity(round_id=round_id)


def _with_material(state: RoundPublicity, material: Material) -> RoundPublicity:
    return replace(state, materials={**state.materials, material.material_id: material})


def evolve(state: RoundPublicity, event: DomainEvent) -> RoundPublicity:
    match event:
        case MaterialsDrafted():
            materials = {
                m.material_id: Material(m.material_id, m.kind, m.channels, m.content)
                for m in event.materials
            }
            return replace(
                state,
                drafted=True,
                result_published_at=event.result_published_at,
                meeting_date=event.meeting_date,
                categories=event.categories,
                winners=event.winners,
                materials=materials,
            )
        case MaterialEdited() | MaterialRevised() | HonorRollUpdated():
            material = state.materials[event.material_id]
            return _with_material(
                state,
                replace(material, content=event.content, revision=event.revision, status="draft"),
            )
        case MaterialApproved():
            material = state.materials[event.material_id]
            return _with_material(state, replace(material, status="approved"))
        case MaterialPublished():
            material = state.materials[event.material_id]
            publication = Publication(
                event.channel, event.revision, event.published_by, event.published_at
            )
            return _with_material(
                state,
                replace(
                    material,
                    status="published",
                    publications=(*material.publications, publication),
                ),
            )
        case WinnerRevocationRecorded():
            revocation = Revocation(event.nomination_id, event.category, event.name, event.reason)
            return replace(state, revoked={**state.revoked, event.nomination_id: revocation})
        case CorrectionDrafted():
            return _with_material(
                state, Material(event.material_id, "correction", event.channels, event.content)
            )
        case CorrectionNoteDrafted():
            return _with_material(
                state,
                Material(
                    event.material_id,
                    "correction",
                    event.channels,
                    event.content,
                    corrects=event.corrects,
                ),
            )
        case WinnerPhotoAttached():
            return replace(state, photos={**state.photos, event.nomination_id: event.sha256})
        case _:
            return state


def state_from(round_id: str, events: Iterable[DomainEvent]) -> RoundPublicity:
    state = initial_state(round_id)
    for event in events:
        state = evolve(state, event)
    return state


# --- Drafting -----------------------------------------------------------------------------------

_CATEGORY_ORDER = {c: i for i, c in enumerate(Category)}


def _ordered(winners: Iterable[FeaturedWinner]) -> tuple[FeaturedWinner, ...]:
    return tuple(sorted(winners, key=lambda w: _CATEGORY_ORDER[w.category]))


def default_copy(
    kind: MaterialKind, round_id: str, winners: tuple[FeaturedWinner, ...], policy: PublicityPolicy
) -> tuple[str, str, str]:
    """The drafted title, lead and closing of a kind of material (Simplified Chinese)."""
    label = RoundPeriod.parse(round_id).label_zh
    org = policy.organisation
    n = len(winners)
    if kind == "honor_roll":
        return (
            f"{label}“五朵金花”光荣榜",
            f"经各单位推荐、活动领导小组审核评定并公示，以下{n}名职工荣获{label}“五朵金花”称号。",
            "向先进学习，向榜样致敬！",
        )
    if kind == "bulletin":
        return (
            f"{org}{label}“五朵金花”评选结果揭晓",
            f"为深入开展“红花献给你”主题活动，激励广大干部职工以实干安身立命、拿业绩说话证明，"
            f"{org}工会组织开展了{label}“五朵金花”评选。经各单位推荐、活动领导小组办公室审核、"
            f"多方评定，并经公示无异议，共评选出“五朵金花”{n}名。现将获奖职工及其先进事迹通报如下。",
            "希望受到表彰的职工珍惜荣誉、再接再厉，继续发挥示范引领作用。全体干部职工要以先进为"
            "榜样，学先进、赶先进、当先进，立足岗位、担当作为，为公司“二次创业”新征程贡献力量。",
        )
    if kind == "official_account":
        return (
            f"红花献给你｜{label}“五朵金花”出炉！",
            f"他们，在平凡岗位上拼搏奉献；他们，用实干实绩诠释担当。{label}“五朵金花”评选结果"
            f"正式揭晓，让我们一起认识这{n}位身边的榜样。",
            "榜样就在身边，奋斗正当其时。让我们以“五朵金花”为榜样，以实干安身立命、拿业绩说话"
            "证明，共同书写“二次创业”新篇章！",
        )
    if kind == "storyboard":
        return (
            f"{label}“五朵金花”宣传短视频脚本",
            "用于月度作业计划会播放。每位获奖职工一个片段：标题卡、字幕、事迹摘要和照片。",
            f"片尾字幕：红花献给你——{org}工会",
        )
    raise ValueError(f"no default copy for {kind}")


def _section(kind: MaterialKind, winner: FeaturedWinner, policy: PublicityPolicy) -> Section:
    if kind == "bulletin":
        return Section(nomination_id=winner.nomination_id, text=winner.deeds.strip())
    if kind == "official_account":
        return Section(
            nomination_id=winner.nomination_id,
            text=winner.deeds.strip(),
            photo_slot=photo_slot_for(winner),
        )
    if kind == "honor_roll":
        return Section(
            nomination_id=winner.nomination_id,
            text=summarise(winner.deeds, policy.summary_chars),
            photo_slot=photo_slot_for(winner),
        )
    return Section(
        nomination_id=winner.nomination_id,
        text=summarise(winner.deeds, policy.summary_chars),
        caption=caption_for(winner, policy.caption_max_chars),
        duration_s=policy.segment_s,
        photo_slot=photo_slot_for(winner),
    )


def draft_content(
    kind: MaterialKind,
    round_id: str,
    winners: tuple[FeaturedWinner, ...],
    policy: PublicityPolicy,
    consents: Consents | None = None,
) -> MaterialContent:
    """The drafted material. With `consents`, a winner is shown only as far as consent or the
    union's rules allow: left out (`none`; the lead's count keeps them), or name, unit,
    position and flower with no deeds and no photo (`basic`)."""
    title, lead, closing = default_copy(kind, round_id, winners, policy)
    sections: list[Section] = []
    for w in winners:
        shown = "full" if consents is None else shown_of(kind, w.nomination_id, consents, policy)
        if shown == "full":
            sections.append(_section(kind, w, policy))
        elif shown == "basic":
            sections.append(
                Section(
                    nomination_id=w.nomination_id,
                    text="",
                    caption=caption_for(w, policy.caption_max_chars)
                    if kind == "storyboard"
                    else "",
                    duration_s=policy.segment_s if kind == "storyboard" else 0,
                )
            )
    return MaterialContent(title=title, lead=lead, closing=closing, sections=tuple(sections))


def draft_on_result(
    state: RoundPublicity,
    result: ResultPublished,
    result_event_id: UUID,
    now: datetime,
    policy: PublicityPolicy,
    consents: Consents,
) -> list[PublicityEvent]:
    """Draft every material of a published result; nothing if they were drafted already.
    Each material shows each winner only as far as their consent, or the union's rules
    without it, allow (`draft_content`)."""
    if state.drafted:
        return []
    if result.round_id != state.round_id:
        raise ValueError(f"result of {result.round_id} fed to round {state.round_id}")
    winners = _ordered(
        FeaturedWinner(
            nomination_id=w.nomination_id,
            category=w.category,
            employee_no=w.employee_no,
            name=w.name,
            unit_code=w.unit_code,
            unit_name=w.unit_name,
            position=w.position,
            deeds=w.deeds,
            results=w.results,
            score=w.score,
        )
        for w in result.winners
    )
    featured = tuple(w for w in winners if w.nomination_id not in state.revoked)
    fallback: set[int] = set()
    meeting = next_meeting(result.published_at, policy, fallback.add)
    materials = tuple(
        DraftedMaterial(
            material_id=material_id_for(state.round_id, kind),
            kind=kind,
            channels=KIND_CHANNELS[kind],
            content=draft_content(kind, state.round_id, featured, policy, consents),
        )
        for kind in BASE_KINDS
    )
    return [
        MaterialsDrafted(
            round_id=state.round_id,
            result_event_id=result_event_id,
            result_published_at=result.published_at,
            categories=result.categories,
            winners=winners,
            meeting_date=meeting,
            calendar_fallback_years=tuple(sorted(fallback)),
            materials=materials,
            drafted_at=now,
        )
    ]


# --- Revocation ---------------------------------------------------------------------------------


def _without(
    material: Material,
    nomination_id: UUID,
    state: RoundPublicity,
    policy: PublicityPolicy,
) -> MaterialContent:
    """The content without one winner's section; untouched default wording is redrafted."""
    # The lead counts every winner still standing, also those a material leaves out for want
    # of consent (draft_content), so the drafted wording is recognised and redrafted.
    before = state.featured()
    after = tuple(w for w in before if w.nomination_id != nomination_id)
    old = default_copy(material.kind, state.round_id, before, policy)
    new = default_copy(material.kind, state.round_id, after, policy)
    content = material.content
    title, lead, closing = (
        n if current == o else current
        for current, o, n in zip(
            (content.title, content.lead, content.closing), old, new, strict=True
        )
    )
    return MaterialContent(
        title=title,
        lead=lead,
        closing=closing,
        sections=tuple(s for s in content.sections if s.nomination_id != nomination_id),
    )


def correction_content(
    state: RoundPublicity,
    revoked: WinnerRevoked,
    winner: FeaturedWinner | None,
    published: list[Material],
    policy: PublicityPolicy,
) -> MaterialContent:
    label = RoundPeriod.parse(state.round_id).label_zh
    category = revoked.category.label_zh
    who = (
        f"{winner.unit_name}{winner.position}{revoked.name}" if winner is not None else revoked.name
    )
    where = "、".join(KIND_LABELS_ZH[m.kind] for m in published)
    channels = "、".join(
        CHANNEL_LABELS_ZH[c]
        for c in dict.fromkeys(p.channel for m in published for p in m.publications)
    )
    return MaterialContent(
        title=f"关于撤销{label}“{category}”称号的更正说明",
        lead=(
            f"{policy.organisation}在{channels}发布的{label}“五朵金花”宣传材料（{where}）中，"
            f"{who}同志被列为“{category}”获得者。"
        ),
        closing="光荣榜已同步更新。特此更正。",
        sections=(
            Section(
                nomination_id=revoked.nomination_id,
                text=(
                    f"经活动领导小组研究决定，撤销{revoked.name}同志{label}“{category}”称号。"
                    f"原因：{one_line(revoked.reason)}"
                ),
            ),
        ),
    )


def react_to_revocation(
    state: RoundPublicity, revoked: WinnerRevoked, now: datetime, policy: PublicityPolicy
) -> list[PublicityEvent]:
    """Stop featuring a revoked winner; a correction when they were already published."""
    if revoked.nomination_id in state.revoked:
        return []
    events: list[PublicityEvent] = [
        WinnerRevocationRecorded(
            round_id=state.round_id,
            nomination_id=revoked.nomination_id,
            category=revoked.category,
            employee_no=revoked.employee_no,
            name=revoked.name,
            reason=revoked.reason,
            revoked_by=revoked.revoked_by,
            revoked_at=revoked.revoked_at,
        )
    ]
    if not state.drafted:
        return events  # the drafts, when they come, leave the winner out
    published: list[Material] = []
    for material in state.base_materials():
        if not material.features(revoked.nomination_id):
            continue
        if material.publications:
            published.append(material)
        if material.kind == "honor_roll":
            events.append(
                HonorRollUpdated(
                    round_id=state.round_id,
                    material_id=material.material_id,
                    revision=material.revision + 1,
                    content=_without(material, revoked.nomination_id, state, policy),
                    removed_nomination_id=revoked.nomination_id,
                    reason=revoked.reason,
                    was_published=bool(material.publications),
                    updated_at=now,
                )
            )
        elif not material.publications:
            events.append(
                MaterialRevised(
                    round_id=state.round_id,
                    material_id=material.material_id,
                    kind=material.kind,
                    revision=material.revision + 1,
                    content=_without(material, revoked.nomination_id, state, policy),
                    removed_nomination_id=revoked.nomination_id,
                    reason=revoked.reason,
                    revised_at=now,
                )
            )
    if published:
        events.append(
            CorrectionDrafted(
                round_id=state.round_id,
                material_id=material_id_for(state.round_id, "correction", revoked.nomination_id),
                nomination_id=revoked.nomination_id,
                channels=KIND_CHANNELS["correction"],
                content=correction_content(
                    state, revoked, state.winner(revoked.nomination_id), published, policy
                ),
                corrects=tuple(m.material_id for m in published),
                drafted_at=now,
            )
        )
    return events


# --- The workflow: edit, approve, publish ----------------------------------------------------


def _require_publicity(cmd: Command) -> None:
    if PUBLICITY not in cmd.roles:
        raise NotPublicity()


def _material(state: RoundPublicity, material_id: UUID) -> Material:
    material = state.materials.get(material_id)
    if material is None:
        raise MaterialNotFound(material_id=material_id)
    return material


def _check_revision(material: Material, expected: int | None) -> None:
    if expected is not None and expected != material.revision:
        raise StaleRevision(revision=material.revision, expected=expected)


# The fields of a draft an editor changes, named in Chinese and English.
FIELD_LABELS: dict[str, tuple[str, str]] = {
    "title": ("标题", "title"),
    "lead": ("导语", "lead"),
    "closing": ("结束语", "closing words"),
    "text": ("事迹文字", "deeds"),
    "caption": ("字幕", "caption"),
    "duration_s": ("时长", "duration"),
    "photo_slot": ("照片位", "photo slot"),
}


def _not_for(kind: MaterialKind, field_name: str) -> FieldNotForKind:
    return FieldNotForKind(
        kind=kind,
        kind_zh=KIND_LABELS_ZH[kind],
        field=field_name,
        field_zh=FIELD_LABELS[field_name][0],
    )


def _edited_section(
    material: Material, section: Section, edit: SectionEdit, policy: PublicityPolicy
) -> Section:
    changes: dict[str, Any] = {}
    if edit.text is not None:
        if not edit.text:
            raise EmptyText(field="text", field_zh=FIELD_LABELS["text"][0])
        changes["text"] = edit.text
    if edit.caption is not None:
        if material.kind != "storyboard":
            raise _not_for(material.kind, "caption")
        if not edit.caption:
            raise EmptyText(field="caption", field_zh=FIELD_LABELS["caption"][0])
        if len(edit.caption) > policy.caption_max_chars:
            raise CaptionTooLong(max=policy.caption_max_chars, length=len(edit.caption))
        changes["caption"] = edit.caption
    if edit.duration_s is not None:
        if material.kind != "storyboard":
            raise _not_for(material.kind, "duration_s")
        if not policy.segment_min_s <= edit.duration_s <= policy.segment_max_s:
            raise DurationOutOfRange(
                min=policy.segment_min_s, max=policy.segment_max_s, value=edit.duration_s
            )
        changes["duration_s"] = edit.duration_s
    if edit.photo_slot is not None:
        if material.kind not in ("storyboard", "honor_roll", "official_account"):
            raise _not_for(material.kind, "photo_slot")
        changes["photo_slot"] = edit.photo_slot
    return section.model_copy(update=changes)


def edit_material(
    state: RoundPublicity, cmd: EditMaterial, now: datetime, policy: PublicityPolicy
) -> list[PublicityEvent]:
    _require_publicity(cmd)
    material = _material(state, cmd.material_id)
    _check_revision(material, cmd.expected_revision)
    if material.status == "published":
        raise AlreadyPublished()
    content = material.content
    updates: dict[str, Any] = {}
    for name in ("title", "lead", "closing"):
        value = getattr(cmd, name)
        if value is not None:
            if not value:
                raise EmptyText(field=name, field_zh=FIELD_LABELS[name][0])
            updates[name] = value
    sections = {s.nomination_id: s for s in content.sections}
    for edit in cmd.sections:
        current = sections.get(edit.nomination_id)
        if current is None:
            raise UnknownSection(nomination_id=edit.nomination_id)
        sections[edit.nomination_id] = _edited_section(material, current, edit, policy)
    updates["sections"] = tuple(sections[s.nomination_id] for s in content.sections)
    new = content.model_copy(update=updates)
    changed = [n for n in ("title", "lead", "closing") if getattr(new, n) != getattr(content, n)]
    for old_s, new_s in zip(content.sections, new.sections, strict=True):
        for name in ("text", "caption", "duration_s", "photo_slot"):
            if getattr(old_s, name) != getattr(new_s, name):
                changed.append(f"sections.{old_s.nomination_id}.{name}")
    if not changed:
        return []
    return [
        MaterialEdited(
            round_id=state.round_id,
            material_id=material.material_id,
            kind=material.kind,
            revision=material.revision + 1,
            content=new,
            changed=tuple(changed),
            edited_by=cmd.actor,
            edited_at=now,
        )
    ]


def approve_material(
    state: RoundPublicity, cmd: ApproveMaterial, now: datetime, policy: PublicityPolicy
) -> list[PublicityEvent]:
    _require_publicity(cmd)
    material = _material(state, cmd.material_id)
    _check_revision(material, cmd.expected_revision)
    if material.status != "draft":
        return []  # approved already: a retried approval changes nothing
    return [
        MaterialApproved(
            round_id=state.round_id,
            material_id=material.material_id,
            kind=material.kind,
            revision=material.revision,
            approved_by=cmd.actor,
            approved_at=now,
        )
    ]


def publish_material(
    state: RoundPublicity, cmd: PublishMaterial, now: datetime, policy: PublicityPolicy
) -> list[PublicityEvent]:
    _require_publicity(cmd)
    material = _material(state, cmd.material_id)
    if cmd.channel not in material.channels:
        raise ChannelNotAllowed(
            kind=material.kind,
            kind_zh=KIND_LABELS_ZH[material.kind],
            channel=cmd.channel,
            channel_zh=CHANNEL_LABELS_ZH[cmd.channel],
        )
    if material.status == "draft":
        raise NotApproved()
    if material.published_on(cmd.channel):
        return []  # marked already: a retry changes nothing
    return [
        MaterialPublished(
            round_id=state.round_id,
            material_id=material.material_id,
            kind=material.kind,
            revision=material.revision,
            channel=cmd.channel,
            published_by=cmd.actor,
            published_at=now,
        )
    ]


def correct_material(
    state: RoundPublicity, cmd: CorrectMaterial, now: datetime, policy: PublicityPolicy
) -> list[PublicityEvent]:
    """A correction notice of a published material, drafted from its page; the original stays
    as it was published. One open (unpublished) correction per material at a time."""
    _require_publicity(cmd)
    material = _material(state, cmd.material_id)
    if not material.publications:
        raise NotPublished()
    earlier = [m for m in state.materials.values() if m.corrects == material.material_id]
    if any(not m.publications for m in earlier):
        raise CorrectionPending()
    channels = tuple(dict.fromkeys(p.channel for p in material.publications))
    where = "、".join(CHANNEL_LABELS_ZH[c] for c in channels)
    title = material.content.title
    content = MaterialContent(
        title=f"关于《{title}》的更正说明",
        lead=(
            f"{policy.organisation}在{where}发布的{KIND_LABELS_ZH[material.kind]}《{title}》中，"
            f"有关内容需要更正：{one_line(cmd.correction)}"
        ),
        closing="原发布内容以本更正说明为准。特此更正。",
    )
    return [
        CorrectionNoteDrafted(
            round_id=state.round_id,
            material_id=correction_id_for(state.round_id, material.material_id, len(earlier) + 1),
            corrects=material.material_id,
            channels=channels,
            content=content,
            drafted_by=cmd.actor,
            drafted_at=now,
        )
    ]


# --- Winners' photos -------------------------------------------------------------------------


@dataclass(frozen=True)
class PhotoGiven:
    """A winner's photo, checked, resized and kept in the file store by the handler."""

    actor: str
    roles: frozenset[str]
    nomination_id: UUID
    sha256: str
    width: int
    height: int
    size: int


PHOTO_GIVERS = frozenset({OFFICE, PUBLICITY})


def attach_photo(state: RoundPublicity, given: PhotoGiven, now: datetime) -> list[PublicityEvent]:
    """A featured winner's photo; the same photo again changes nothing, another replaces it."""
    if not PHOTO_GIVERS & given.roles:
        raise NotPhotoGiver()
    if not state.drafted:
        raise RoundNotDrafted()
    winner = state.winner(given.nomination_id)
    if winner is None:
        raise NotAWinner(nomination_id=given.nomination_id)
    if given.nomination_id in state.revoked:
        raise WinnerRevokedPhoto(name=winner.name)
    if state.photos.get(given.nomination_id) == given.sha256:
        return []
    return [
        WinnerPhotoAttached(
            round_id=state.round_id,
            nomination_id=given.nomination_id,
            sha256=given.sha256,
            width=given.width,
            height=given.height,
            size=given.size,
            attached_by=given.actor,
            attached_at=now,
        )
    ]


def decide(
    state: RoundPublicity, cmd: MaterialWorkflowCommand, now: datetime, policy: PublicityPolicy
) -> list[PublicityEvent]:
    """Dispatch a workflow command to its decide function."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    match cmd:
        case EditMaterial():
            return edit_material(state, cmd, now, policy)
        case ApproveMaterial():
            return approve_material(state, cmd, now, policy)
        case PublishMaterial():
            return publish_material(state, cmd, now, policy)
        case CorrectMaterial():
            return correct_material(state, cmd, now, policy)
    raise TypeError(f"not a publicity command: {type(cmd).__name__}")
