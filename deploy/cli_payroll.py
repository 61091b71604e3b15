"""`flowers payroll export|reconcile`: a payroll period, asked of the running system."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import sys
from pathlib import Path
from typing import Any

import typer

payroll_app = typer.Typer(help="Payroll adjustments: export a period, reconcile it.")

ENCODINGS = ("utf-8-sig", "gbk")


async def ask(name: str, payload: dict[str, Any], timeout: float = 60.0) -> Any:
    """One query to the rewards service over NATS request/reply (exit 2 if it cannot be asked)."""
    from deploy.operator import operator_session
    from shared.rpc import RemoteError
    from shared.service import StartupError, load_settings, resolve_urls

    try:
        settings = resolve_urls(load_settings())
        async with operator_session(settings, timeout=timeout) as (_, rpc):
            return await rpc.query("rewards", name, payload)
    except (StartupError, ConnectionError) as exc:
        typer.echo(f"flowers: {exc}", err=True)
        raise typer.Exit(2) from None
    except RemoteError as exc:
        typer.echo(f"flowers: {exc.error.message_en} / {exc.error.message_zh}", err=True)
        for item in exc.error.details.get("fields", [])[:20]:
            typer.echo(f"  {item['field']}: {item['message']}", err=True)
        raise typer.Exit(2) from None


def _period(value: str) -> str:
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value):
        raise typer.BadParameter(f"{value!r} is not a payroll month (YYYY-MM, e.g. 2026-12)")
    return value


@payroll_app.command()
def export(
    period: str = typer.Option(..., "--period", help="The payroll month, e.g. 2026-12."),
    encoding: str = typer.Option(
        "utf-8-sig", "--encoding", help="utf-8-sig (default, Excel reads the BOM) or gbk."
    ),
    file_format: str = typer.Option(
        "csv", "--format", help="csv (default) or xlsx (an Excel workbook; no encoding)."
    ),
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="File to write (default 薪酬调整_<period>_<encoding>.csv or .xlsx; - = stdout).",
    ),
) -> None:
    """Write a period's adjustments as CSV or an Excel workbook that opens in Chinese."""
    if encoding not in ENCODINGS:
        raise typer.BadParameter(f"choose one of {', '.join(ENCODINGS)}", param_hint="--encoding")
    if file_format not in ("csv", "xlsx"):
        raise typer.BadParameter("choose csv or xlsx", param_hint="--format")
    period = _period(period)
    result = asyncio.run(
        ask("export", {"period": period, "encoding": encoding, "format": file_format})
    )
    content = base64.b64decode(result["content_base64"])
    target = output or Path(result["filename"])
    if str(target) == "-":
        sys.stdout.buffer.write(content)
        sys.stdout.buffer.flush()
    else:
        target.write_bytes(content)
    totals = ", ".join(f"{amount} {currency}" for currency, amount in result["totals"].items())
    typer.echo(
        f"{result['label_zh']} ({period}): {result['rows']} adjustment(s), "
        f"net {totals or '0.00'}, {result['encoding'] or file_format} → "
        f"{'stdout' if str(target) == '-' else target}",
        err=str(target) == "-",
    )


@payroll_app.command()
def reconcile(
    period: str = typer.Option(..., "--period", help="The payroll month, e.g. 2026-12."),
    as_json: bool = typer.Option(False, "--json", help="Print the full report as JSON."),
) -> None:
    """Awards ↔ adjustments ↔ payroll acknowledgements; exit code 1 on any mismatch."""
    period = _period(period)
    report = asyncio.run(ask("reconcile", {"period": period}))
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        typer.echo(
            f"{report['label_zh']} ({period}, {report['status']}): "
            f"{report['awards']} award(s) {report['issued_amount']}, "
            f"{report['reversals']} reversal(s) {report['reversed_amount']}, "
            f"net {report['net_amount']} {report['currency']}; "
            f"{report['acknowledged']} acknowledged {report['acknowledged_amount']}"
        )
        for m in report["mismatches"]:
            who = " ".join(x for x in (m["employee_no"], m["name"]) if x)
            detail = ""
            if m["expected"] or m["actual"]:
                detail = f" (expected {m['expected'] or '-'}, found {m['actual'] or '-'})"
            typer.echo(
                f"  MISMATCH {m['kind']}: adjustment {m['adjustment_id']} {who}{detail} — "
                f"{m['message_zh']} / {m['message_en']}"
            )
        typer.echo(
            "balanced: every award, adjustment and acknowledgement agrees"
            if report["balanced"]
            else f"NOT balanced: {len(report['mismatches'])} mismatch(es)"
        )
    raise typer.Exit(0 if report["balanced"] else 1)
