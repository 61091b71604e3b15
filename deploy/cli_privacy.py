"""`flowers privacy export|correct|erase`: an employee's requests about their personal data
(PIPL: access, correction, erasure), handled by an operator for the union office.

The same commands and queries the office's page 个人信息请求 sends, over NATS as the operator,
signed with the operator's key as `cli:<login>` acting for the office (the services decide
these for the office role only). `export` also reads the gateway's database (the employee's
accounts, sign-ins and who looked at their data) and records the export in its access record,
as the page does.
"""

from __future__ import annotations

import asyncio
import getpass
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

if TYPE_CHECKING:
    from shared.identity import Identity
    from shared.rpc import RpcClient
    from shared.settings import Settings

privacy_app = typer.Typer(
    help="An employee's personal data requests: export, correct, erase (for the union office).",
    no_args_is_help=True,
)
T = TypeVar("T")
OFFICE = "office"


def office_identity() -> Identity:
    """The operator acting for the union office (the only role these requests are for)."""
    from deploy.operator import OPERATOR
    from shared.identity import Identity

    return Identity(subject=f"cli:{getpass.getuser()}", roles=frozenset({OPERATOR, OFFICE}))


def _run(work: Callable[[Settings, RpcClient], Awaitable[T]]) -> T:
    """Connect as the operator, act for the office; a refusal or an outage in one line."""
    from deploy.operator import operator_session
    from shared.rpc import RemoteError
    from shared.service import StartupError, load_settings, resolve_urls

    async def main() -> T:
        settings = resolve_urls(load_settings())
        async with operator_session(settings, timeout=60, name="flowers-privacy") as (_, rpc):
            rpc.identity = office_identity()
            return await work(settings, rpc)

    try:
        return asyncio.run(main())
    except (StartupError, ConnectionError) as exc:
        typer.echo(f"flowers: {exc}", err=True)
        raise typer.Exit(2) from None
    except RemoteError as exc:
        typer.echo(
            f"flowers: refused: {exc.error.message_en} / {exc.error.message_zh} ({exc.error.code})",
            err=True,
        )
        for item in exc.error.details.get("fields", [])[:20]:
            typer.echo(f"  {item['field']}: {item['message']}", err=True)
        raise typer.Exit(1) from None


def _command(name: str, payload: dict[str, Any]) -> Any:
    identity = office_identity()

    async def send(_: Settings, rpc: RpcClient) -> Any:
        body = {"actor": identity.subject, "roles": sorted(identity.roles), **payload}
        # A fresh key: sent again after a time-out, the command acts once.
        return await rpc.command("nomination", name, body, idempotency_key=str(uuid.uuid4()))

    return _run(send)


@privacy_app.command()
def erase(
    employee_no: str = typer.Argument(..., help="The employee's number (工号)."),
    reason: str = typer.Option(..., "--reason", help="Why (e.g. the employee's written request)."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Erase an employee's personal data: their key is destroyed, their data reads 已删除
    everywhere, and each service re-derives its projections on the fact (README "Privacy").
    Then, as an erasure from the office's page does, the gateway's drafts naming the employee,
    the evidence files only their nominations named and their accounts' names go
    (services/gateway/erasure.py)."""
    if not yes and not typer.confirm(
        f"Erase the personal data of employee {employee_no}? It cannot be undone "
        f"(删除职工 {employee_no} 的个人信息，不可撤销)"
    ):
        typer.echo("nothing erased")
        raise typer.Exit(1)
    identity = office_identity()

    async def send(settings: Settings, rpc: RpcClient) -> tuple[Any, Any]:
        from services.gateway import erasure
        from services.gateway import evidence as ev
        from services.gateway.config import GatewaySettings
        from services.gateway.database import open_database

        body = {"actor": identity.subject, "roles": sorted(identity.roles)}
        reply = await rpc.command(
            "nomination",
            "erase_personal_data",
            {**body, "employee_no": employee_no, "reason": reason},
            idempotency_key=str(uuid.uuid4()),
        )
        pool = await open_database(settings)
        try:
            done = await erasure.forget_employee(
                pool,
                ev.store_for(settings, GatewaySettings()),
                employee_no,
                uuid.UUID(str(reply["subject_id"])),
                reply.get("evidence_files", []),
            )
        finally:
            await pool.close()
        return reply, done

    reply, done = _run(send)
    typer.echo(
        f"erased {employee_no}: pseudonym {reply['subject_id']}, "
        f"key {'destroyed' if reply['key_destroyed'] else 'already destroyed'} "
        f"(已删除，假名 {reply['subject_id']}). Every service scrubs its projections on the fact; "
        f"the gateway deleted the drafts naming the employee, {done.files} evidence file(s) "
        f"and anonymised {done.accounts} account(s)."
    )


@privacy_app.command()
def correct(
    nomination_id: uuid.UUID = typer.Argument(..., help="The nomination to correct."),
    field: str = typer.Option(..., "--field", help="name (姓名) or position (岗位)."),
    value: str = typer.Option(..., "--value", help="The corrected value."),
    reason: str = typer.Option(..., "--reason", help="Why (e.g. the employee's request)."),
) -> None:
    """Correct a nominee's name or position in one nomination (the original stays in the
    log, a correcting event records who, when and why)."""
    if field not in ("name", "position"):
        raise typer.BadParameter("choose name or position", param_hint="--field")
    reply = _command(
        "correct_nominee",
        {"nomination_id": str(nomination_id), "field": field, "value": value, "reason": reason},
    )
    if reply.get("events"):
        typer.echo(f"corrected nomination {nomination_id}: {field} (已更正)")
    else:
        typer.echo(f"nomination {nomination_id} already reads that {field}: nothing recorded")


@privacy_app.command()
def export(
    employee_no: str = typer.Argument(..., help="The employee's number (工号)."),
    reason: str = typer.Option(..., "--reason", help="Why (e.g. the employee's access request)."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="File to write (default 个人信息副本-<工号>-<日期>.xlsx)."
    ),
) -> None:
    """Everything held about an employee as the office's Excel workbook (PIPL access
    request); the export is recorded in the gateway's access record."""

    async def build(settings: Settings, rpc: RpcClient) -> tuple[str, bytes]:
        from services.gateway import access_log, keys
        from services.gateway import subject_export as se
        from services.gateway.database import open_database

        identity = office_identity()
        pool = await open_database(settings)
        try:
            found = await keys.pseudonym_of(settings, employee_no)
            pseudonym = f"{access_log.SEALED_PREFIX}{found}" if found else None
            data = await se.gather(rpc, pool, employee_no, pseudonym)
            if not any(rows for kind, rows in data.kinds.items() if kind != "access"):
                typer.echo(f"flowers: nothing is held about employee {employee_no}", err=True)
                raise typer.Exit(1)
            viewer = access_log.Viewer(identity.subject, identity.subject, identity.roles)
            recorded = await access_log.append(
                pool,
                at=datetime.now(UTC),
                viewer=viewer,
                address="cli",
                what="subject_export",
                subjects=[employee_no, *([pseudonym] if pseudonym else [])],
                detail={"path": "flowers privacy export", "reason": reason},
            )
        finally:
            await pool.close()
        content = se.workbook(data, asked_by=identity.subject, reason=reason, at=recorded.at)
        return se.filename(employee_no, recorded.at), content

    filename, content = _run(build)
    target = output or Path(filename)
    target.write_bytes(content)
    typer.echo(f"wrote {target}: everything held about employee {employee_no} (个人信息副本)")
