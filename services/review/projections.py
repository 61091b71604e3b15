"""Review's read models: its projection of nominations, and of its own events (PROJECTIONS).

`candidates` mirrors the nomination service's view of each nomination (fed by the
`review-nomination` consumer, one transaction with the inbox row). Every other table is fed
by `project`, in the transaction of the append that recorded the events.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import asyncpg

from shared.contracts import nomination as nomination_contract
from shared.contracts.nomination import (
    NominationAmended,
    NominationsClosed,
    NominationSubmitted,
    NominationWithdrawn,
    NomineeCorrected,
    UnitNominationsClosed,
)
from shared.contracts.review import (
    Candidate,
    NominationAccepted,
    NominationRejected,
    NominationVetoed,
    ObjectionNoteRecorded,
    ObjectionRaised,
    ObjectionResolved,
    PanelistAssigned,
    PanelistReminded,
    PanelistRemoved,
    PublicNoticeStarted,
    ReplacementNamed,
    ResultPublished,
    ScoreSubmitted,
    WinnerRemoved,
    WinnerRevoked,
    WinnersDecided,
    registry,
)
from shared.events import DomainEvent, RecordedEvent
from shared.projection import (
    ConsumedFeed,
    Items,
    OwnLog,
    Projection,
    Statement,
    run_statements,
    statement,
)

SCHEMA_SQL = (Path(__file__).parent / "schema.sql").read_text(encoding="utf-8")

# --- Nominations, as the nomination service publishes them -------------------------------------


class EventOutOfOrder(Exception):
    """A nomination event arrived before an earlier one of its stream: retried later."""


Changed = dict[uuid.UUID, list[asyncpg.Record]]  # event id -> the `candidates` rows it changed


async def project_nomination_feed(conn: asyncpg.Connection, items: Items) -> None:
    """The projection of nomination events (consumer `review-nomination`), the audit's too."""
    await apply_nomination_feed(conn, items)


async def apply_nomination_feed(conn: asyncpg.Connection, items: Items) -> Changed:
    """The projection effects of a batch of nomination events: each stream's order kept,
    `candidates` updated, one statement per run of like events. Appends nothing; returns
    the rows each event changed.

    The usual batch (submissions and amendments, each nomination once, each stream numbered
    on from the last applied) is one statement, the order guard and the upsert together
    (`_upserted_in_order`); any other goes through the guard first, then a statement per run."""
    if _one_upsert(items):
        upserted = await _upserted_in_order(conn, items)
        if upserted is not None:
            return upserted
        fresh = await next_in_streams(conn, items, expected_checked=True)
    else:
        fresh = await next_in_streams(conn, items)
    changed: Changed = {}
    run: list[tuple[RecordedEvent, DomainEvent]] = []
    kind: type | None = None
    in_run: set[uuid.UUID] = set()
    for envelope, event in fresh:
        this = _kind(event)
        if this is None:
            continue  # directory and round events: the inbox row alone records them
        nomination_id = getattr(event, "nomination_id", None)
        # A run is one statement: one kind, each nomination once (its second event, an
        # amendment after the submission say, starts the next run).
        closes = this is NominationsClosed or this is UnitNominationsClosed
        if run and (this is not kind or closes or nomination_id in in_run):
            changed.update(await _project_run(conn, kind, run))
            run, in_run = [], set()
        kind = this
        run.append((envelope, event))
        if nomination_id is not None:
            in_run.add(nomination_id)
    if run:
        changed.update(await _project_run(conn, kind, run))
    return changed


def _kind(event: DomainEvent) -> type | None:
    """The run an event belongs to; found once per class (a class pattern on a pydantic
    model is an ABC instance check: slow enough to show in a rebuild's profile)."""
    cls = type(event)
    try:
        return _KIND_OF[cls]
    except KeyError:
        found = _KIND_OF[cls] = _match_kind(event)
        return found


_KIND_OF: dict[type, type | None] = {}


def _match_kind(event: DomainEvent) -> type | None:
    match event:
        case NominationSubmitted() | NominationAmended():
            return NominationSubmitted
        case NominationWithdrawn():
            return NominationWithdrawn
        case NomineeCorrected():
            return NomineeCorrected
        case NominationsClosed():
            return NominationsClosed
        case UnitNominationsClosed():
            return UnitNominationsClosed
        case _:
            return None


async def _project_run(
    conn: asyncpg.Connection, kind: type | None, run: list[tuple[RecordedEvent, DomainEvent]]
) -> Changed:
    """One statement for consecutive events of one kind."""
    if kind is NominationSubmitted:
        rows = await conn.fetch(
            _CANDIDATES_UPSERT,
            *[list(c) for c in zip(*(_candidate_args(e) for _, e in run), strict=True)],
        )
        cause = {getattr(e, "nomination_id", None): envelope.event_id for envelope, e in run}
        return _by_cause(rows, lambda row: cause[row["nomination_id"]])
    if kind is NominationWithdrawn:
        cause = {}
        ids, times = [], []
        for envelope, event in run:
            assert isinstance(event, NominationWithdrawn)
            cause[event.nomination_id] = envelope.event_id
            ids.append(event.nomination_id)
            times.append(event.withdrawn_at)
        rows = await conn.fetch(
            "UPDATE candidates c SET status = 'withdrawn', updated_at = w.at "
            "FROM unnest($1::uuid[], $2::timestamptz[]) AS w(id, at) "
            "WHERE c.nomination_id = w.id RETURNING c.*",
            ids,
            times,
        )
        return _by_cause(rows, lambda row: cause[row["nomination_id"]])
    if kind is NomineeCorrected:  # rare: one statement each
        changed: Changed = {}
        for envelope, event in run:
            assert isinstance(event, NomineeCorrected)
            rows = await conn.fetch(
                _CORRECTIONS[event.field], event.nomination_id, event.value, event.corrected_at
            )
            if rows:
                changed[envelope.event_id] = list(rows)
        return changed
    (envelope, event), *_ = run  # a close is a run of its own
    if isinstance(event, UnitNominationsClosed):
        rows = await conn.fetch(
            "UPDATE candidates SET status = 'closed', updated_at = $3 "
            "WHERE round_id = $1 AND unit_code = $2 AND status = 'submitted' RETURNING *",
            event.round_id,
            event.unit_code,
            event.closed_at,
        )
    else:
        assert isinstance(event, NominationsClosed)
        rows = await conn.fetch(
            "UPDATE candidates SET status = 'closed', updated_at = $2 "
            "WHERE round_id = $1 AND status = 'submitted' RETURNING *",
            event.round_id,
            event.closed_at,
        )
    return {envelope.event_id: list(rows)} if rows else {}


def _by_cause(
    rows: Sequence[asyncpg.Record], cause: Callable[[asyncpg.Record], uuid.UUID]
) -> Changed:
    changed: Changed = {}
    for row in rows:
        changed.setdefault(cause(row), []).append(row)
    return changed


# The office's corrections of a nominee's name or position (the nominee's request).
_CORRECTIONS = {
    field: f"UPDATE candidates SET {field} = $2, updated_at = $3 "
    "WHERE nomination_id = $1 RETURNING *"
    for field in ("name", "position")
}


def _candidates_upsert(first: int = 1, where: str = "") -> str:
    """Submissions and amendments as `candidates` rows, one statement for many; its 14
    array parameters numbered from `first`, the rows taken only `where` a condition holds."""
    p = [f"${first + i}" for i in range(14)]
    return f"""
    INSERT INTO candidates (nomination_id, round_id, category, employee_no, name,
        unit_code, unit_name, position, deeds, results, evidence_links,
        recommendation, submitted_by, submitted_at, status, updated_at)
    SELECT n, r, c, e, nm, uc, un, p, d, res::jsonb, ev::jsonb, rec, by_, at_, 'submitted', at_
    FROM unnest({p[0]}::uuid[], {p[1]}::text[], {p[2]}::text[], {p[3]}::text[],
        {p[4]}::text[], {p[5]}::text[], {p[6]}::text[], {p[7]}::text[], {p[8]}::text[],
        {p[9]}::text[], {p[10]}::text[], {p[11]}::text[], {p[12]}::text[],
        {p[13]}::timestamptz[])
        AS u(n, r, c, e, nm, uc, un, p, d, res, ev, rec, by_, at_)
    {f"WHERE {where}" if where else ""}
    ON CONFLICT (nomination_id) DO UPDATE SET
        category = excluded.category, employee_no = excluded.employee_no,
        name = excluded.name, unit_code = excluded.unit_code,
        unit_name = excluded.unit_name, position = excluded.position,
        deeds = excluded.deeds, results = excluded.results,
        evidence_links = excluded.evidence_links,
        recommendation = excluded.recommendation, updated_at = excluded.updated_at
    RETURNING *
"""


_CANDIDATES_UPSERT = _candidates_upsert()


def _candidate_args(event: DomainEvent) -> tuple[object, ...]:
    assert isinstance(event, NominationSubmitted | NominationAmended)
    if isinstance(event, NominationSubmitted):
        by, at = event.submitted_by, event.submitted_at
    else:
        by, at = event.amended_by, event.amended_at
    return (
        event.nomination_id,
        event.round_id,
        event.category.value,
        event.nominee.employee_no,
        event.nominee.name,
        event.nominee.unit_code,
        event.nominee.unit_name,
        event.nominee.position,
        event.deeds,
        # JSON text, cast in SQL: a list inside an array parameter would be a dimension.
        json.dumps([r.model_dump(mode="json") for r in event.results], ensure_ascii=False),
        json.dumps(list(event.evidence_links), ensure_ascii=False),
        event.recommendation,
        by,
        at,
    )


async def next_in_streams(
    conn: asyncpg.Connection, items: Items, *, expected_checked: bool = False
) -> Items:
    """Keep each nomination stream's order (a round's nominations are one stream); the
    batch's events not applied before, in order.

    The consumer retries a failed message with back-off while later ones flow on, so
    an amendment or a withdrawal could overtake its submission, or a close the
    nominations it closes. Each stream's applied version is kept: an event already
    applied is skipped (a replay changes nothing), one after a gap is refused until
    the gap fills. Two statements for the batch: the applied versions (locked), and the
    new ones written only where still as read (two instances racing on a stream: the
    loser's batch fails and is retried). The usual batch — each stream's events numbered on
    from the last applied — takes one statement: `_next_as_expected` writes the versions
    only if every stream stands where the batch continues it; otherwise it writes nothing
    and the two statements below decide event by event (`expected_checked`: the caller
    asked that already, and it was not so).
    """
    if not expected_checked and await _next_as_expected(conn, items):
        return items
    streams = sorted({envelope.stream_id for envelope, _ in items})
    applied: dict[str, int] = {
        r["stream_id"]: r["version"]
        for r in await conn.fetch(
            "SELECT stream_id, version FROM nomination_streams "
            "WHERE stream_id = ANY($1::text[]) ORDER BY stream_id FOR UPDATE",
            streams,
        )
    }
    before = dict(applied)
    fresh: list[tuple[RecordedEvent, DomainEvent]] = []
    for envelope, event in items:
        version = applied.get(envelope.stream_id, 0)
        if envelope.version <= version:
            continue
        if envelope.version != version + 1:
            raise EventOutOfOrder(
                f"{envelope.stream_id} v{envelope.version} arrived before v{version + 1}"
            )
        applied[envelope.stream_id] = envelope.version
        fresh.append((envelope, event))
    moved = {s: v for s, v in applied.items() if before.get(s, 0) != v}
    if moved:
        written = await conn.fetchval(
            """
            WITH want AS (
                SELECT * FROM unnest($1::text[], $2::int[], $3::int[]) AS w(stream_id, was, now)
            ), written AS (
                INSERT INTO nomination_streams (stream_id, version)
                SELECT stream_id, now FROM want
                ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version
                WHERE nomination_streams.version =
                    (SELECT was FROM want WHERE want.stream_id = excluded.stream_id)
                RETURNING 1
            )
            SELECT count(*) FROM written
            """,
            list(moved),
            [before.get(s, 0) for s in moved],
            list(moved.values()),
        )
        if written != len(moved):
            raise EventOutOfOrder("another consumer applied these streams meanwhile")
    return fresh


def _expected_versions(items: Items) -> tuple[list[str], list[int], list[int]] | None:
    """The streams of a batch with the version each continues from and the last it reaches,
    if each stream's events run on without a gap or a repeat; None otherwise."""
    was: dict[str, int] = {}
    now: dict[str, int] = {}
    for envelope, _ in items:
        stream_id, version = envelope.stream_id, envelope.version
        if stream_id not in now:
            was[stream_id] = version - 1
        elif version != now[stream_id] + 1:
            return None  # a repeat or a gap inside the batch: event by event
        now[stream_id] = version
    streams = list(now)
    return streams, [was[s] for s in streams], [now[s] for s in streams]


# The order guard's usual case as CTEs (`want`, `expected`, `written`) on parameters $1-$4:
# the versions the batch expects checked against the table, and written only if all match.
_GUARD_CTES = """
    want AS (
        SELECT * FROM unnest($1::text[], $2::int[], $3::int[]) AS w(stream_id, was, now)
    ), expected AS (
        SELECT count(*) = $4 AS ok FROM want
        LEFT JOIN nomination_streams n USING (stream_id)
        WHERE coalesce(n.version, 0) = want.was
    ), written AS (
        INSERT INTO nomination_streams (stream_id, version)
        SELECT stream_id, now FROM want WHERE (SELECT ok FROM expected)
        ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version
        WHERE nomination_streams.version =
            (SELECT was FROM want WHERE want.stream_id = excluded.stream_id)
        RETURNING 1
    )
"""


def _one_upsert(items: Items) -> bool:
    """Is the batch's projection one upsert: submissions and amendments only (and events the
    projection skips), each nomination once?"""
    seen: set[object] = set()
    for _, event in items:
        kind = _kind(event)
        if kind is None:
            continue
        if kind is not NominationSubmitted:
            return False
        nomination_id = getattr(event, "nomination_id", None)
        if nomination_id in seen:
            return False
        seen.add(nomination_id)
    return True


async def _upserted_in_order(conn: asyncpg.Connection, items: Items) -> Changed | None:
    """The usual batch in one statement: the order guard's check and write (as in
    `_next_as_expected`) and the candidates' upsert, which writes only where the guard
    holds. None (nothing written) where the batch does not continue every stream."""
    versions = _expected_versions(items)
    if versions is None:
        return None
    streams, was, now = versions
    run = [(envelope, event) for envelope, event in items if _kind(event) is not None]
    columns: list[list[object]] = [[] for _ in range(14)]
    for _, event in run:
        for column, value in zip(columns, _candidate_args(event), strict=True):
            column.append(value)
    rows = await conn.fetch(
        f"""
        WITH {_GUARD_CTES}, upserted AS ({_candidates_upsert(5, "(SELECT ok FROM expected)")})
        SELECT e.ok AS guard_ok, (SELECT count(*) FROM written) AS guard_written, u.*
        FROM expected AS e LEFT JOIN upserted AS u ON true
        """,
        streams,
        was,
        now,
        len(streams),
        *columns,
    )
    if not rows[0]["guard_ok"]:
        return None
    if rows[0]["guard_written"] != len(streams):
        raise EventOutOfOrder("another consumer applied these streams meanwhile")
    cause = {getattr(e, "nomination_id", None): envelope.event_id for envelope, e in run}
    return _by_cause(
        [row for row in rows if row["nomination_id"] is not None],
        lambda row: cause[row["nomination_id"]],
    )


async def _next_as_expected(conn: asyncpg.Connection, items: Items) -> bool:
    """One statement for the usual batch: if each stream's events run on without a gap or a
    repeat, and every stream's applied version is the one just before its first event,
    write the streams' last versions and answer True; otherwise write nothing, False.

    The check reads the statement's snapshot; the write re-checks each row as it is now
    (ON CONFLICT … WHERE, under its lock), so a stream another instance moved meanwhile
    writes fewer rows than asked: EventOutOfOrder, the batch is rolled back and retried."""
    versions = _expected_versions(items)
    if versions is None:
        return False
    streams, was, now = versions
    row = await conn.fetchrow(
        f"""
        WITH {_GUARD_CTES}
        SELECT (SELECT ok FROM expected) AS ok, (SELECT count(*) FROM written) AS written
        """,
        streams,
        was,
        now,
        len(streams),
    )
    assert row is not None
    if not row["ok"]:
        return False
    if row["written"] != len(streams):
        raise EventOutOfOrder("another consumer applied these streams meanwhile")
    return True


def candidate_from_row(row: asyncpg.Record) -> Candidate:
    """A `candidates` row as the review's domain knows a nomination (validated in one call:
    pydantic's validation of plain values is quicker than building the models field by
    field, and than `model_construct`; docs/performance.md)."""
    return Candidate.model_validate(
        {
            "nomination_id": row["nomination_id"],
            "round_id": row["round_id"],
            "category": row["category"],
            "nominee": {
                "employee_no": row["employee_no"],
                "name": row["name"],
                "unit_code": row["unit_code"],
                "unit_name": row["unit_name"],
                "position": row["position"],
            },
            "deeds": row["deeds"],
            "results": row["results"],
            "submitted_by": row["submitted_by"],
            "status": row["status"],
        }
    )


# --- The review's own events ---------------------------------------------------------------------


async def project(conn: asyncpg.Connection, items: Items) -> None:
    """The review's read models, a batch at a time (consecutive like writes in one trip)."""
    await run_statements(conn, (w for e, event in items for w in writes(e, event)))


OWN = OwnLog(registry, project)


def writes(envelope: RecordedEvent, event: DomainEvent) -> Iterator[Statement]:
    at = envelope.metadata.occurred_at
    match event:
        case NominationAccepted() | NominationRejected():
            accepted = isinstance(event, NominationAccepted)
            yield statement(
                """
                INSERT INTO audits (nomination_id, round_id, category, status, reason,
                    audited_by, audited_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7)
                ON CONFLICT (nomination_id) DO UPDATE SET status = excluded.status,
                    reason = excluded.reason, audited_by = excluded.audited_by,
                    audited_at = excluded.audited_at
                """,
                event.nomination_id,
                event.round_id,
                event.category.value,
                "accepted" if accepted else "rejected",
                None if isinstance(event, NominationAccepted) else event.reason,
                event.accepted_by if isinstance(event, NominationAccepted) else event.rejected_by,
                at,
            )
        case PanelistAssigned():
            yield statement(
                """
                INSERT INTO panelists (round_id, panelist_id, employee_no, name, department,
                    unit_code, active, assigned_by, assigned_at)
                VALUES ($1, $2, $3, $4, $5, $6, true, $7, $8)
                ON CONFLICT (round_id, panelist_id) DO UPDATE SET
                    employee_no = excluded.employee_no, name = excluded.name,
                    department = excluded.department, unit_code = excluded.unit_code,
                    active = true, assigned_by = excluded.assigned_by,
                    assigned_at = excluded.assigned_at, removed_reason = NULL
                """,
                event.round_id,
                event.panelist_id,
                event.employee_no,
                event.name,
                event.department,
                event.unit_code,
                event.assigned_by,
                at,
            )
        case PanelistRemoved():
            yield statement(
                "UPDATE panelists SET active = false, removed_reason = $3 "
                "WHERE round_id = $1 AND panelist_id = $2",
                event.round_id,
                event.panelist_id,
                event.reason,
            )
        case PanelistReminded():
            yield statement(
                "UPDATE panelists SET reminded_at = $3, reminded_by = $4, "
                "reminders = reminders + 1 WHERE round_id = $1 AND panelist_id = $2",
                event.round_id,
                event.panelist_id,
                event.reminded_at,
                event.reminded_by,
            )
        case ScoreSubmitted():
            yield statement(
                """
                INSERT INTO scores (round_id, nomination_id, panelist_id, category, department,
                    criteria, total, revision, comment, submitted_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                ON CONFLICT (nomination_id, panelist_id) DO UPDATE SET
                    criteria = excluded.criteria, total = excluded.total,
                    revision = excluded.revision, comment = excluded.comment,
                    submitted_at = excluded.submitted_at
                """,
                event.round_id,
                event.nomination_id,
                event.panelist_id,
                event.category.value,
                event.department,
                {k: str(v) for k, v in event.criteria.items()},
                event.total,
                event.revision,
                event.comment,
                event.submitted_at,
            )
        case NominationVetoed():
            yield statement(
                "INSERT INTO vetoes (nomination_id, round_id, category, reason, vetoed_by, "
                "vetoed_at) VALUES ($1, $2, $3, $4, $5, $6)",
                event.nomination_id,
                event.round_id,
                event.category.value,
                event.reason,
                event.vetoed_by,
                at,
            )
        case WinnersDecided():
            yield statement(
                """
                INSERT INTO decisions (round_id, category, winners, ranking, method,
                    off_ranking_reason, decided_by, decided_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                """,
                event.round_id,
                event.category.value,
                [str(w) for w in event.winners],
                [e.model_dump(mode="json") for e in event.ranking],
                event.method.model_dump(mode="json"),
                event.off_ranking_reason,
                event.decided_by,
                event.decided_at,
            )
            for w in event.winners:
                yield statement(
                    "INSERT INTO winners (round_id, category, nomination_id, source, "
                    "off_ranking_reason) VALUES ($1, $2, $3, 'decision', $4)",
                    event.round_id,
                    event.category.value,
                    w,
                    event.off_ranking_reason,
                )
        case ReplacementNamed():
            yield statement(
                "INSERT INTO winners (round_id, category, nomination_id, source, replaces, "
                "off_ranking_reason) VALUES ($1, $2, $3, 'replacement', $4, $5)",
                event.round_id,
                event.category.value,
                event.nomination_id,
                event.replaces,
                event.off_ranking_reason,
            )
        case WinnerRemoved():
            yield statement(
                "UPDATE winners SET removed = true, removed_reason = $3, "
                "removed_by_objection = $4 WHERE round_id = $1 AND nomination_id = $2",
                event.round_id,
                event.nomination_id,
                event.reason,
                event.objection_no,
            )
        case PublicNoticeStarted():
            yield statement(
                """
                INSERT INTO notices (round_id, notice_no, occasion, categories, winners,
                    starts_at, ends_at, working_days, first_day, last_day,
                    calendar_fallback_years, started_by)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                """,
                event.round_id,
                event.notice_no,
                event.occasion,
                [c.value for c in event.categories],
                [w.model_dump(mode="json") for w in event.winners],
                event.starts_at,
                event.ends_at,
                event.working_days,
                event.first_day,
                event.last_day,
                list(event.calendar_fallback_years),
                event.started_by,
            )
        case ObjectionRaised():
            yield statement(
                """
                INSERT INTO objections (round_id, objection_no, nomination_id, category,
                    raised_by, raiser_name, text, raised_at, status)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open')
                """,
                event.round_id,
                event.objection_no,
                event.nomination_id,
                event.category.value,
                event.raised_by,
                event.raiser_name,
                event.text,
                event.raised_at,
            )
        case ObjectionNoteRecorded():
            note = {
                "note": event.note,
                "recorded_by": event.recorded_by,
                "recorded_at": event.recorded_at.isoformat(),
            }
            yield statement(
                "UPDATE objections SET notes = notes || jsonb_build_array($3::jsonb) "
                "WHERE round_id = $1 AND objection_no = $2",
                event.round_id,
                event.objection_no,
                note,
            )
        case ObjectionResolved():
            yield statement(
                "UPDATE objections SET status = $3, resolution = $4, resolved_by = $5, "
                "resolved_at = $6 WHERE round_id = $1 AND objection_no = $2",
                event.round_id,
                event.objection_no,
                event.outcome,
                event.resolution,
                event.resolved_by,
                event.resolved_at,
            )
        case ResultPublished():
            yield statement(
                "INSERT INTO results (round_id, categories, winners, published_by, "
                "published_at) VALUES ($1, $2, $3, $4, $5)",
                event.round_id,
                [c.value for c in event.categories],
                [w.model_dump(mode="json") for w in event.winners],
                event.published_by,
                event.published_at,
            )
        case WinnerRevoked():
            yield statement(
                """
                INSERT INTO revocations (nomination_id, round_id, category, employee_no, name,
                    reason, revoked_by, revoked_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                """,
                event.nomination_id,
                event.round_id,
                event.category.value,
                event.employee_no,
                event.name,
                event.reason,
                event.revoked_by,
                event.revoked_at,
            )
        case _:
            pass  # CandidateRecorded: `candidates` is fed from the nomination events themselves


NOMINATION_FEED = ConsumedFeed(
    consumer="review-nomination",
    subjects=("flowers.evt.nomination.>",),
    registry=nomination_contract.registry,
    project=project_nomination_feed,
)

# Every read model of the service, and how each is fed (the audit rebuilds them from this).
PROJECTIONS = [
    Projection("candidates", ("candidates", "nomination_streams"), feeds=(NOMINATION_FEED,)),
    Projection(
        "review",
        (
            "audits",
            "panelists",
            "scores",
            "vetoes",
            "decisions",
            "winners",
            "notices",
            "objections",
            "results",
            "revocations",
        ),
        own=OWN,
    ),
]
