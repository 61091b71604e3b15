"""Every employee signs in: activation with the unit's one-time code, the unit's printable
activation sheet, and the administrator's sync of accounts with the directory.

/activate needs no session (rate-limited per address, failures throttled like sign-ins);
/employees/activation is for a unit's nominator (their own unit) and the administrator (any);
/admin/employees/sync is the administrator's.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.gateway import nomination as nom
from services.gateway.accounts import ADMIN, EMPLOYEE, NOMINATOR, AccountError
from services.gateway.auth import Principal, client_ip
from services.gateway.deps import allow, page_csrf
from services.gateway.employees import EmployeeAccounts, ProvisionReport, directory_of
from services.gateway.home import PanelContext, home_panel
from services.gateway.i18n import locale_of, pick
from services.gateway.notice import base_url, public_rate_limit, rounds_with_notices
from services.gateway.problems import forbidden
from services.gateway.state import Services, gw_state, services
from services.gateway.web import flash_messages, nav_link, redirect, render, safe_next

router = APIRouter(include_in_schema=False, dependencies=[Depends(page_csrf)])

nav_link("/employees/activation", ("职工激活码", "Activation codes"), (NOMINATOR, ADMIN), order=90)
flash_messages(
    {"activated": ("账户已激活，请用工号和新密码登录。", "Activated: sign in with your number.")}
)

Issuer = Annotated[Principal, Depends(allow(NOMINATOR, ADMIN))]
Admin = Annotated[Principal, Depends(allow(ADMIN))]


def _locked(minutes: int) -> tuple[str, str]:
    return (
        f"尝试次数过多，请 {minutes} 分钟后再试。",
        f"Too many attempts; try again in {minutes} minute(s).",
    )


@home_panel(EMPLOYEE, "employees/_home_employee.html", order=45)
async def notices_home(ctx: PanelContext) -> dict[str, Any]:
    return {"rounds": await rounds_with_notices(ctx.services)}


async def sync_with_directory(svc: Services, request: Request, actor: str) -> ProvisionReport:
    """Accounts brought in line with the whole directory (read for this purpose only)."""
    directory = await directory_of(svc)
    return await EmployeeAccounts(gw_state(request).accounts).provision(directory, actor=actor)


@router.get("/activate", dependencies=[Depends(public_rate_limit)])
async def activate_form(request: Request, next: str = "/") -> Response:
    return render(
        request,
        "employees/activate.html",
        {"errors": {}, "employee_no": "", "next": safe_next(next)},
    )


@router.post("/activate", dependencies=[Depends(public_rate_limit)])
async def activate(request: Request) -> Response:
    state = gw_state(request)
    form = await request.form()
    employee_no = str(form.get("employee_no", "")).strip()[:64]
    code = str(form.get("code", ""))[:64]
    password = str(form.get("password", ""))
    repeat = str(form.get("password2", ""))
    target = safe_next(str(form.get("next", "/")))
    ip = client_ip(request, state.gateway)
    locale = locale_of(request)

    def refuse(errors: dict[str, tuple[str, str]], status: int) -> Response:
        return render(
            request,
            "employees/activate.html",
            {
                "errors": {k: pick(v, locale) for k, v in errors.items()},
                "employee_no": employee_no,
                "next": target,
            },
            status_code=status,
        )

    key = "activate:" + employee_no.lower()
    until = await state.throttle.locked_until(key, ip)
    if until is not None:
        minutes = max(1, int((until - state.clock.now()).total_seconds() + 59) // 60)
        return refuse({"code": _locked(minutes)}, 429)
    if password != repeat:
        return refuse({"password2": ("两次输入的密码不一致。", "The passwords differ.")}, 422)
    try:
        await EmployeeAccounts(state.accounts).activate(employee_no, code, password)
    except AccountError as exc:
        if "code" in exc.errors:
            locked = await state.throttle.failed(key, ip)
            if locked is not None:
                minutes = max(1, int((locked - state.clock.now()).total_seconds() + 59) // 60)
                return refuse({"code": _locked(minutes)}, 429)
        return refuse(exc.errors, 422)
    await state.throttle.succeeded(key, ip)
    # On to the sign-in, then where the employee was going (e.g. the objection form).
    return redirect(f"/login?next={quote(target)}", "activated")


async def _units_for(svc: Services, principal: Principal) -> list[dict[str, Any]]:
    units: list[dict[str, Any]] = await nom.units(svc)
    if principal.has(ADMIN):
        return units
    return [u for u in units if u["unit_code"] == principal.unit_code]


@router.get("/employees/activation")
async def activation_page(request: Request, principal: Issuer) -> Response:
    svc = services(request, principal)
    units = await _units_for(svc, principal)
    return render(
        request, "employees/activation.html", {"units": units, "report": None}, principal=principal
    )


@router.post("/employees/activation")
async def activation_sheet(request: Request, principal: Issuer) -> Response:
    form = await request.form()
    unit_code = str(form.get("unit_code", ""))
    svc = services(request, principal)
    units = {u["unit_code"]: u for u in await _units_for(svc, principal)}
    if unit_code not in units:
        raise forbidden(("只能为本单位职工生成激活码。", "Only for your own unit's employees."))
    actor = principal.user_id
    await sync_with_directory(svc, request, actor)
    issued = await EmployeeAccounts(gw_state(request).accounts).issue_codes(unit_code, actor=actor)
    return render(
        request,
        "employees/sheet.html",
        {
            "unit": units[unit_code],
            "issued": issued,
            "activate_url": base_url(request, gw_state(request).gateway) + "/activate",
        },
        principal=principal,
    )


@router.post("/admin/employees/sync")
async def sync_accounts(request: Request, principal: Admin) -> Response:
    svc = services(request, principal)
    report = await sync_with_directory(svc, request, principal.user_id)
    units = await _units_for(svc, principal)
    return render(
        request,
        "employees/activation.html",
        {"units": units, "report": report.summary_zh()},
        principal=principal,
    )
