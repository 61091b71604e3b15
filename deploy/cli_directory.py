"""`flowers directory import FILE`: bring the employee directory in line with an HR export."""

from __future__ import annotations

import asyncio
import getpass
from pathlib import Path
from typing import Any

import typer

from shared import directory_file

directory_app = typer.Typer(help="The employee directory (units and employees).")


@directory_app.command("template")
def template(
    file: Path = typer.Argument(..., dir_okay=False, help="Where to write it: .xlsx or .csv"),
) -> None:
    """Write the import template (Chinese header and an example row) as .xlsx or .csv."""
    if file.suffix.lower() not in (".xlsx", ".csv"):
        typer.echo(f"flowers: {file}: name it .xlsx or .csv", err=True)
        raise typer.Exit(2)
    is_csv = file.suffix.lower() == ".csv"
    file.write_bytes(directory_file.template_csv() if is_csv else directory_file.template_xlsx())
    typer.echo(f"wrote {file}")


@directory_app.command("import")
def import_(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
    skip_bad_rows: bool = typer.Option(
        False, "--skip-bad-rows", help="Apply the good rows even when some rows are bad."
    ),
    complete: bool = typer.Option(
        False, "--complete", help="The file is the whole staff: anyone missing from it left."
    ),
) -> None:
    """Import an HR export, CSV (UTF-8 or GBK) or .xlsx, with Chinese or English headers."""
    try:
        parsed = directory_file.parse(file.read_bytes())
    except ValueError as exc:
        typer.echo(f"flowers: {file}: {exc}", err=True)
        raise typer.Exit(2) from None
    for error in parsed.errors:
        typer.echo(f"{file}:{error.line}: {error.reason_en} / {error.reason_zh}", err=True)
    if parsed.errors and not skip_bad_rows:
        typer.echo(
            f"flowers: {len(parsed.errors)} bad row(s); nothing imported "
            "(fix them, or pass --skip-bad-rows).",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(f"{len(parsed.rows)} row(s) read ({parsed.encoding}); importing…")
    result = asyncio.run(send_import(parsed.rows, complete))
    summary = result.get("summary", {})
    typer.echo(f"{directory_file.report_en(summary)}. / {directory_file.report_zh(summary)}。")


async def send_import(rows: list[dict[str, Any]], complete: bool) -> dict[str, Any]:
    from deploy.operator import operator_session
    from shared.rpc import RemoteError
    from shared.service import StartupError, load_settings, resolve_urls

    try:
        settings = resolve_urls(load_settings())
    except StartupError as exc:
        typer.echo(f"flowers: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        async with operator_session(settings, timeout=120) as (_, rpc):
            result: dict[str, Any] = await rpc.command(
                "nomination",
                "import_directory",
                {
                    "actor": f"cli:{getpass.getuser()}",  # the signed identity's, as checked
                    "roles": ["admin"],
                    "rows": rows,
                    "complete": complete,
                },
            )
            return result
    except ConnectionError as exc:
        typer.echo(f"flowers: {exc}", err=True)
        raise typer.Exit(2) from None
    except RemoteError as exc:
        typer.echo(f"flowers: refused: {exc.error.message_en} ({exc.error.code})", err=True)
        for item in exc.error.details.get("fields", [])[:20]:
            typer.echo(f"  {item['field']}: {item['message']}", err=True)
        raise typer.Exit(1) from None
