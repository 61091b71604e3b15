"""Payroll pages (Finance): adjustments by period, export, acknowledgement, reconciliation,
the pull feed and the budget ledger. The auditor sees the same pages without the buttons."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from services.gateway import access_log
from services.gateway import rewards as rw
from services.gateway.accounts import PAYROLL
from services.gateway.auth import Principal
from services.gateway.deps import allow, page_csrf
from services.gateway.downloads import download, labels
from services.gateway.home import PanelContext, home_panel
from services.gateway.i18n import locale_of
from services.gateway.problems import Problem
from services.gateway.routes.forms import FormState, form_action
from services.gateway.state import gw_state, services
from services.gateway.web import flash_messages, nav_link, redirect, render
from shared.contracts.rewards_commands import AcknowledgeAdjustment
from shared.rpc import RemoteError

router = APIRouter(include_in_schema=False, dependencies=[Depends(page_csrf)])

PAGE_SIZE = 50

nav_link("/payroll", ("工资调整", "Payroll"), rw.PAYROLL_READERS, order=50)
flash_messages(
    {
        "acknowledged": ("已确认该调整已入账。", "The adjustment is acknowledged."),
        "already_acknowledged": (
            "该调整此前已确认，未作改动。",
            "The adjustment was acknowledged before; nothing changed.",
        ),
        "acknowledged_all": (
            "已确认本期全部未确认的调整。",
            "Every unacknowledged adjustment of the period is acknowledged.",
        ),
        "nothing_to_acknowledge": (
            "本期没有待确认的调整。",
            "Nothing in this period awaits acknowledgement.",
        ),
    }
)

Readers = Annotated[Principal, Depends(allow(*rw.PAYROLL_READERS))]
Writers = Annotated[Principal, Depends(allow(*rw.PAYROLL_WRITERS))]


def _page(
    request: Request,
    template: str,
    context: dict[str, Any],
    principal: Principal,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        template,
        {**labels(locale_of(request)), "can_acknowledge": PAYROLL in principal.roles, **context},
        principal=principal,
        status_code=status_code,
    )


@home_panel(PAYROLL, "payroll/_home_payroll.html", order=51)
async def payroll_home(ctx: PanelContext) -> dict[str, Any]:
    periods = await rw.periods(ctx.services)
    waiting = [p for p in periods if p["acknowledged"] < p["adjustments"]]
    return {
        **labels(ctx.locale),
        "waiting": waiting,
        "recent": [p for p in periods if p not in waiting][:3],
    }


@router.get("/payroll")
async def payroll_index(request: Request, principal: Readers) -> Response:
    svc = services(request, principal)
    return _page(request, "payroll/index.html", {"periods": await rw.periods(svc)}, principal)


async def _period_page(
    request: Request,
    principal: Principal,
    period: str,
    after: int = 0,
    form: FormState | None = None,
    status_code: int = 200,
) -> Response:
    svc = services(request, principal)
    feed = await rw.adjustments(svc, after=after, limit=PAGE_SIZE, period=period)
    report = await rw.reconcile(svc, period)
    pending = set(rw.unacknowledged(report))
    flagged: dict[str, list[dict[str, Any]]] = {}
    for item in report["mismatches"]:
        if item.get("adjustment_id") and item["kind"] != "missing_acknowledgement":
            flagged.setdefault(str(item["adjustment_id"]), []).append(item)
    items = feed["items"]
    form = form or FormState()
    return _page(
        request,
        "payroll/period.html",
        {
            "period": period,
            "items": items,
            "pending": pending,
            "flagged": flagged,
            "report": report,
            "after": after,
            "next_after": feed["next_after"] if len(items) == PAGE_SIZE else None,
            "encodings": rw.ENCODINGS,
            **form.for_page(locale_of(request)),
        },
        principal,
        status_code,
    )


@router.get("/payroll/periods/{period}")
async def period_page(
    request: Request,
    period: str,
    principal: Readers,
    after: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    return await _period_page(request, principal, rw.check_period(period), after)


@router.get("/payroll/periods/{period}/export")
async def export_period(
    request: Request,
    period: str,
    principal: Readers,
    encoding: str = "utf-8-sig",
    file_format: Annotated[str, Query(alias="format")] = "csv",
) -> Response:
    rw.check_period(period)
    if file_format not in rw.FORMATS:
        raise Problem(
            422,
            "invalid_format",
            ("请选择 Excel（xlsx）或 CSV。", "Choose Excel (xlsx) or CSV."),
            formats=list(rw.FORMATS),
        )
    if encoding not in rw.ENCODINGS:
        raise Problem(
            422,
            "invalid_encoding",
            ("请选择 UTF-8 或 GBK 编码。", "Choose UTF-8 or GBK."),
            encodings=list(rw.ENCODINGS),
        )
    svc = services(request, principal)
    try:
        exported = await rw.export(svc, period, encoding, file_format)  # type: ignore[arg-type]
    except RemoteError as exc:
        form = FormState()
        form.refused(exc, {})
        return await _period_page(request, principal, period, form=form, status_code=422)
    await access_log.record(
        request,
        principal,
        "payroll_export",
        round_id=period,
        subjects=await access_log.payroll_subjects(svc, period),
        file=exported.filename,
    )
    return download(
        exported.content,
        exported.filename,
        exported.media_type,
        ascii_name=exported.ascii_filename,
    )


@router.post("/payroll/periods/{period}/acknowledge")
async def acknowledge_period(request: Request, period: str, principal: Writers) -> Response:
    rw.check_period(period)
    form = await request.form()
    state = FormState()
    reference = state.text(form, "payroll_reference", 200)
    svc = services(request, principal)
    outcome = await rw.acknowledge_period(svc, period, reference or None)
    if outcome["refused"]:
        first = outcome["refused"][0]
        state.problem = (
            f"有 {len(outcome['refused'])} 项未能确认：{first['message_zh']}",
            f"{len(outcome['refused'])} could not be acknowledged: {first['message_en']}",
        )
        return await _period_page(request, principal, period, form=state, status_code=409)
    flash = "acknowledged_all" if outcome["pending"] else "nothing_to_acknowledge"
    return redirect(f"/payroll/periods/{period}", flash)


@router.post("/payroll/adjustments/{adjustment_id}/acknowledge")
async def acknowledge_one(
    request: Request, adjustment_id: uuid.UUID, principal: Writers
) -> Response:
    svc = services(request, principal)
    line = await rw.adjustment(svc, adjustment_id)
    form = await request.form()
    state = FormState()
    reference = state.text(form, "payroll_reference", 200)
    return await form_action(
        state,
        lambda: svc.command(
            rw.SERVICE,
            "acknowledge",
            AcknowledgeAdjustment,
            adjustment_id=adjustment_id,
            payroll_reference=reference or None,
        ),
        render=lambda form, status: _period_page(
            request, principal, line["period"], form=form, status_code=status
        ),
        success_url=f"/payroll/periods/{line['period']}",
        message=lambda reply: (
            "acknowledged" if reply.get("status") == "acknowledged" else "already_acknowledged"
        ),
        refused_status=409,
    )


@router.get("/payroll/periods/{period}/reconciliation")
async def reconciliation(request: Request, period: str, principal: Readers) -> Response:
    svc = services(request, principal)
    report = await rw.reconcile(svc, rw.check_period(period))
    return _page(request, "payroll/reconcile.html", {"period": period, "report": report}, principal)


@router.get("/payroll/adjustments/{adjustment_id}")
async def adjustment_page(
    request: Request, adjustment_id: uuid.UUID, principal: Readers
) -> Response:
    svc = services(request, principal)
    line = await rw.adjustment(svc, adjustment_id)
    ack = line.get("acknowledgement")
    names = await gw_state(request).accounts.display_names([ack["acknowledged_by"]] if ack else [])
    return _page(request, "payroll/adjustment.html", {"line": line, "names": names}, principal)


@router.get("/payroll/feed")
async def feed_page(
    request: Request, principal: Readers, after: Annotated[int, Query(ge=0)] = 0
) -> Response:
    svc = services(request, principal)
    feed = await rw.adjustments(svc, after=after, limit=PAGE_SIZE)
    return _page(
        request,
        "payroll/feed.html",
        {
            "feed": feed,
            "after": after,
            "next_after": feed["next_after"] if len(feed["items"]) == PAGE_SIZE else None,
        },
        principal,
    )


@router.get("/payroll/ledger")
async def ledger_page(
    request: Request,
    principal: Readers,
    year: str = "",
) -> Response:
    svc = services(request, principal)
    chosen = int(year) if year.isdigit() and 1000 <= int(year) <= 9999 else None
    ledger = await rw.ledger(svc, chosen)
    years = sorted({int(r["year"]) for r in (await rw.ledger(svc, None))["by_year"]}, reverse=True)
    return _page(
        request,
        "payroll/ledger.html",
        {"ledger": ledger, "year": chosen, "years": years},
        principal,
    )
