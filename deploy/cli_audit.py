"""`flowers audit …`: prove the log intact, rebuild read models from it, look back in time.

verify   hash chains, FLOWERS against the stores, every projection rebuilt and compared,
         anchors (`--anchors FILE` or values such as `review@1234:<hash>` from a printed notice),
         the gateway's access record of personal data (its hash chain)
rebuild  a service's projections into fresh tables, swapped in while it runs
as-of    a round as it stood at a past moment, from the logs alone
events   browse and filter the logs
anchor   each store's head position and hash, into a file kept outside the database
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

if TYPE_CHECKING:
    from nats.js import JetStreamContext

    from shared.audit import Anchor
    from shared.settings import Settings

audit_app = typer.Typer(help="Audit: verify the event log, rebuild and replay it.")
T = TypeVar("T")


def _settings() -> Settings:
    from shared.service import StartupError, load_settings, resolve_urls

    try:
        return resolve_urls(load_settings())
    except StartupError as exc:
        typer.echo(f"flowers: {exc}", err=True)
        raise typer.Exit(2) from None


def _urls(
    settings: Settings, services: list[str] | None = None, *, owner: bool = False
) -> dict[str, str]:
    """Each chosen service's database, as the auditor's role (reads, scratch schemas of its
    own), or with `owner` as the service's owner role (the rebuild's DDL on live tables)."""
    from shared.database_roles import AUDITOR, owner_login
    from shared.settings import SERVICES

    chosen = services or list(SERVICES)
    unknown = [s for s in chosen if s not in SERVICES]
    if unknown:
        typer.echo(
            f"flowers: no service {', '.join(unknown)} (known: {', '.join(SERVICES)})", err=True
        )
        raise typer.Exit(2)
    return {
        s: settings.database_url_for(s, login=owner_login(s) if owner else AUDITOR) for s in chosen
    }


def _with_nats(settings: Settings, action: Callable[[JetStreamContext], Awaitable[T]]) -> T:
    from deploy.operator import operator_session
    from shared.keystore import keys_installed

    async def run() -> T:
        async with (
            keys_installed(settings),  # the log's personal values open as the auditor reads
            operator_session(settings, name="flowers-audit") as (nc, _),
        ):
            return await action(nc.jetstream())

    return asyncio.run(run())


def _progress(quiet: bool) -> Callable[[str, int, int], None]:
    def progress(what: str, done: int, total: int) -> None:
        if sys.stderr.isatty() and not quiet:
            print(f"\r{what[:40]:<40} {done:>9}/{total}", end="", file=sys.stderr, flush=True)

    return progress


def _end_progress(quiet: bool) -> None:
    if sys.stderr.isatty() and not quiet:
        print("\r" + " " * 60 + "\r", end="", file=sys.stderr, flush=True)


def _moment(text: str | None, option: str) -> datetime | None:
    from deploy.audit_asof import parse_moment

    if text is None:
        return None
    try:
        return parse_moment(text)
    except ValueError as exc:
        typer.echo(f"flowers: {option}: {exc}", err=True)
        raise typer.Exit(2) from None


ANCHOR_VALUE = re.compile(r"([a-z_]+)@(\d+):([0-9a-f]{64})")


def parse_anchors(text: str) -> dict[str, Anchor]:
    """An anchor file (`flowers audit anchor`), or anchors as a printed notice's footer shows
    them: `service@position:hash`, several separated by commas or spaces (ValueError if not)."""
    from shared import audit

    path = Path(text)
    if path.is_file():
        return audit.load_anchors(path)
    anchors: dict[str, Anchor] = {}
    for part in text.replace(",", " ").split():
        match = ANCHOR_VALUE.fullmatch(part)
        if match is None:
            raise ValueError(
                f"{part!r} is neither an anchor file nor an anchor such as "
                "review@1234:<64 hex digits>"
            )
        anchors[match[1]] = audit.Anchor(int(match[2]), match[3])
    if not anchors:
        raise ValueError("no anchor given")
    return anchors


@audit_app.command()
def verify(
    as_json: bool = typer.Option(False, "--json", help="A JSON report."),
    anchors: str | None = typer.Option(
        None,
        "--anchors",
        help="An anchor file, or anchors as printed (review@POSITION:HASH, comma-separated): "
        "prove nothing up to their positions changed.",
    ),
) -> None:
    """Chains, FLOWERS, every projection rebuilt and compared, the access record's chain;
    exit 0 only when all holds."""
    from shared import audit

    settings = _settings()
    anchored = None
    if anchors is not None:
        try:
            anchored = parse_anchors(anchors)
        except ValueError as exc:
            typer.echo(f"flowers: {exc}", err=True)
            raise typer.Exit(2) from None
    progress = _progress(as_json)
    from shared.database_roles import AUDITOR, GATEWAY

    # The gateway's access record of personal data is chained too: its chain is checked.
    access_log = settings.database_url_for(GATEWAY, login=AUDITOR)
    report = _with_nats(
        settings,
        lambda js: audit.verify(
            _urls(settings),
            js,
            progress,
            anchors=anchored,
            access_log_url=access_log,
            chain_process=True,  # the hashing on the other core, beside the rebuilds
        ),
    )
    _end_progress(as_json)
    typer.echo(audit.as_json(report) if as_json else audit.render(report))
    raise typer.Exit(0 if report.ok else 1)


@audit_app.command()
def rebuild(
    service: str = typer.Argument(
        ..., help="nomination, review, rewards, publicity or notification"
    ),
    projection: list[str] = typer.Option(
        [], "--projection", help="Only this projection (repeatable); default: all of them."
    ),
    as_json: bool = typer.Option(False, "--json", help="A JSON report."),
) -> None:
    """Rebuild a service's projections from the log and swap them in while it runs."""
    from shared import audit_projections
    from shared.postgres import create_pool
    from shared.projection import declared

    settings = _settings()
    url = _urls(settings, [service], owner=True)[service]
    spec = declared(service)
    try:
        spec.select(projection)
    except KeyError as exc:
        typer.echo(f"flowers: {exc.args[0]}", err=True)
        raise typer.Exit(2) from None
    progress = _progress(as_json)

    async def run(js: JetStreamContext) -> audit_projections.RebuildReport:
        pool = await create_pool(url, max_size=2)
        try:
            return await audit_projections.rebuild(pool, spec, js, projection, progress)
        finally:
            await pool.close()

    try:
        report = _with_nats(settings, run)
    except audit_projections.RebuildBusy as exc:
        typer.echo(f"flowers: {exc}", err=True)
        raise typer.Exit(1) from None
    _end_progress(as_json)
    if as_json:
        typer.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
        return
    typer.echo(
        f"{service}: rebuilt {', '.join(report.projections)} ({', '.join(report.tables)}) "
        f"from {report.own_events} own event(s) and "
        f"{sum(report.consumed.values())} received; swapped in {report.swap_ms:.0f} ms "
        f"({report.applied_under_lock} event(s) caught up under the lock)."
    )
    for consumer, ids in report.unmatched.items():
        if ids:
            typer.echo(f"warning: {consumer} handled {len(ids)} event(s) FLOWERS does not hold")


@audit_app.command("as-of")
def as_of(
    moment: str = typer.Argument(..., metavar="TIME", help="ISO 8601 with a timezone."),
    round_id: str | None = typer.Option(None, "--round", help="One round (e.g. 2026-Q4)."),
    as_json: bool = typer.Option(False, "--json", help="JSON."),
) -> None:
    """A round's state (nominations, scores, notice, winners, awards) at a past moment."""
    from deploy import audit_asof
    from shared.keystore import keys_installed

    at = _moment(moment, "TIME")
    assert at is not None
    settings = _settings()

    async def run() -> Any:
        async with keys_installed(settings):  # personal values open (or read 已删除)
            return await audit_asof.as_of(_urls(settings), at, settings, round_id)

    states = asyncio.run(run())
    if as_json:
        typer.echo(json.dumps(states, ensure_ascii=False, indent=2, default=str))
    else:
        typer.echo(audit_asof.render(states))


@audit_app.command()
def events(
    service: list[str] = typer.Option([], "--service", help="Only this store (repeatable)."),
    stream: str | None = typer.Option(None, "--stream", help="A stream id, or a prefix*."),
    event_type: list[str] = typer.Option([], "--type", help="An event type (repeatable)."),
    actor: str | None = typer.Option(None, "--actor"),
    correlation: str | None = typer.Option(
        None, "--correlation", help="A correlation id: its whole path across services."
    ),
    nomination: str | None = typer.Option(
        None, "--nomination", help="A nomination id: every event that mentions it."
    ),
    since: str | None = typer.Option(None, "--since", help="ISO 8601 with a timezone."),
    until: str | None = typer.Option(None, "--until", help="ISO 8601 with a timezone."),
    limit: int = typer.Option(1000, "--limit", min=1),
    as_json: bool = typer.Option(False, "--json", help="JSON lines, with each event's data."),
) -> None:
    """Browse the log of one or all services, oldest first."""
    from shared import audit_log
    from shared.postgres import create_pool

    settings = _settings()
    urls = _urls(settings, service or None)
    wanted = audit_log.EventFilter(
        stream=stream,
        types=tuple(event_type),
        actor=actor,
        correlation=correlation,
        nomination=nomination,
        since=_moment(since, "--since"),
        until=_moment(until, "--until"),
        limit=limit,
    )

    async def run() -> list[audit_log.LoggedEvent]:
        pools: dict[str, Any] = {}
        try:
            for name, url in urls.items():
                pools[name] = await create_pool(url, max_size=2)
            return await audit_log.find_events(pools, wanted)
        finally:
            for pool in pools.values():
                await pool.close()

    found = asyncio.run(run())
    if as_json:
        if found:
            typer.echo(audit_log.render_json_lines(found))
    else:
        typer.echo(audit_log.render_table(found))


@audit_app.command()
def anchor(
    output: Path = typer.Option(..., "--output", help="The file to write (keep it elsewhere)."),
) -> None:
    """Print each store's head position and hash (and the time) and write them to a file."""
    from shared import audit

    settings = _settings()
    anchors = asyncio.run(audit.take_anchors(_urls(settings)))
    text = json.dumps(anchors, ensure_ascii=False, indent=2)
    output.write_text(text + "\n", encoding="utf-8")
    typer.echo(text)
