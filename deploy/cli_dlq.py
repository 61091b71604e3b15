"""`flowers dlq …`: see and mend what the consumers could not handle."""

from __future__ import annotations

import asyncio
import getpass
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer

dlq_app = typer.Typer(help="Dead letters: list, show, redrive, drop.")
T = TypeVar("T")


def _run(action: Callable[[Any, Any], Awaitable[T]]) -> T:
    async def main() -> T:
        from deploy.operator import operator_session
        from shared.service import StartupError, load_settings, resolve_urls

        try:
            settings = resolve_urls(load_settings())
        except StartupError as exc:
            typer.echo(f"flowers: {exc}", err=True)
            raise typer.Exit(2) from None
        async with operator_session(settings) as (nc, rpc):
            return await action(nc.jetstream(), rpc)

    return asyncio.run(main())


@dlq_app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="JSON lines.")) -> None:
    """Every dead letter with its consumer and error."""
    from shared.dlq import list_letters

    letters = _run(lambda js, _: list_letters(js))
    if as_json:
        for letter in letters:
            typer.echo(json.dumps(letter.summary(), ensure_ascii=False))
        return
    if not letters:
        typer.echo("No dead letters.")
        return
    typer.echo(f"{'ID':>6}  {'CONSUMER':<22} {'SUBJECT':<44} ERROR")
    for letter in letters:
        typer.echo(
            f"{letter.id:>6}  {letter.consumer:<22} {letter.subject:<44} {letter.error[:80]}"
        )


@dlq_app.command()
def show(letter_id: int) -> None:
    """One dead letter, whole: error, traceback and payload."""
    from shared.dlq import DeadLetterNotFound, get_letter

    try:
        letter = _run(lambda js, _: get_letter(js, letter_id))
    except DeadLetterNotFound as exc:
        typer.echo(f"flowers: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(letter.summary(), ensure_ascii=False, indent=2))
    if letter.traceback:
        typer.echo("\n" + letter.traceback)
    typer.echo("\npayload: " + letter.payload)


@dlq_app.command()
def redrive(
    letter_id: int | None = typer.Argument(None),
    all_: bool = typer.Option(False, "--all", help="Redrive every dead letter."),
) -> None:
    """Hand dead letters back to their consumers once the fault is fixed."""
    from shared.dlq import DeadLetterNotFound, list_letters
    from shared.dlq import redrive as redrive_letter
    from shared.rpc import RemoteError

    if (letter_id is None) == (not all_):
        typer.echo("flowers: give one ID or --all", err=True)
        raise typer.Exit(2)
    actor = f"cli:{getpass.getuser()}"

    async def act(js: Any, rpc: Any) -> int:
        ids = [letter_id] if letter_id is not None else [x.id for x in await list_letters(js)]
        failures = 0
        for seq in ids:
            try:
                result = await redrive_letter(js, rpc, seq, actor)
                state = "handled" if result.get("handled") else "already handled before"
                typer.echo(f"{seq}: redriven to {result.get('consumer')} ({state})")
            except (DeadLetterNotFound, RemoteError) as exc:
                failures += 1
                typer.echo(f"{seq}: not redriven: {exc}", err=True)
        return failures

    raise typer.Exit(1 if _run(act) else 0)


@dlq_app.command()
def drop(
    letter_id: int,
    reason: str = typer.Option(..., "--reason", help="Why it may be dropped (logged)."),
) -> None:
    """Remove a dead letter for good, with a reason that is kept."""
    from shared.dlq import DeadLetterNotFound
    from shared.dlq import drop as drop_letter

    try:
        _run(lambda js, _: drop_letter(js, letter_id, reason, f"cli:{getpass.getuser()}"))
    except (DeadLetterNotFound, ValueError) as exc:
        typer.echo(f"flowers: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{letter_id}: dropped")
