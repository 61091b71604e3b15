"""The administrator's pages: accounts (create, edit, passwords, API tokens), directory import."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData, UploadFile

from services.gateway import nomination as nom
from services.gateway.accounts import ADMIN, ROLES, AccountError, User, UserFields
from services.gateway.auth import Principal
from services.gateway.deps import allow, page_csrf
from services.gateway.employees import sync_after_import
from services.gateway.home import PanelContext, home_panel
from services.gateway.i18n import DEPARTMENT_LABELS, locale_of, pick
from services.gateway.problems import NOT_FOUND, Problem
from services.gateway.routes.forms import FormState, form_action
from services.gateway.state import gw_state, services
from services.gateway.web import flash_messages, nav_link, redirect, render
from shared import directory_file
from shared.contracts.nomination_commands import ImportDirectory
from shared.rpc import RemoteError

router = APIRouter(include_in_schema=False, dependencies=[Depends(page_csrf)])

nav_link("/admin/users", ("用户管理", "Users"), [ADMIN], order=80)
nav_link("/admin/directory", ("职工名册", "Directory"), [ADMIN], order=81)
flash_messages(
    {
        "user_created": ("用户已创建。", "The user has been created."),
        "user_updated": ("用户已更新。", "The user has been updated."),
        "password_set": (
            "密码已重置，该用户需重新登录。",
            "Password reset; the user must sign in again.",
        ),
        "token_revoked": ("API 令牌已吊销。", "The API token has been revoked."),
    }
)


@home_panel(ADMIN, "admin/_home_admin.html", order=80)
async def admin_home(ctx: PanelContext) -> dict[str, Any]:
    users = await gw_state(ctx.request).accounts.list_users()
    units = await nom.units(ctx.services)
    return {
        "user_count": len(users),
        "unit_count": len(units),
        "employee_count": sum(int(u.get("active_employees", 0)) for u in units),
    }


def _read_user_fields(form: FormData, state: FormState, *, with_active: bool) -> UserFields:
    roles = frozenset(str(r) for r in form.getlist("roles") if str(r) in ROLES)
    state.values["roles"] = sorted(roles)
    display_name = state.text(form, "display_name", 100)
    unit_code = state.text(form, "unit_code", 64) or None
    department = state.text(form, "department", 64) or None
    employee_no = state.text(form, "employee_no", 64) or None
    active = (form.get("active") == "on") if with_active else True
    state.values["active"] = active
    return UserFields(display_name, roles, unit_code, department, employee_no, active)


async def _user_form(
    request: Request,
    principal: Principal,
    state: FormState,
    *,
    user: User | None,
    token: str | None = None,
    status_code: int = 200,
) -> Response:
    accounts = gw_state(request).accounts
    try:
        units = await nom.units(services(request, principal))
    except RemoteError:
        units = []  # the form still works: the unit code can be typed
    return render(
        request,
        "admin/user_form.html",
        {
            "user": user,
            "roles": ROLES,
            "departments": list(DEPARTMENT_LABELS),
            "units": units,
            "tokens": await accounts.tokens_of(user.user_id) if user else [],
            "new_token": token,
            **state.for_page(locale_of(request)),
        },
        principal=principal,
        status_code=status_code,
    )


def _values_of(user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "display_name": user.display_name,
        "roles": sorted(user.roles),
        "unit_code": user.unit_code or "",
        "department": user.department or "",
        "employee_no": user.employee_no or "",
        "active": user.active,
    }


@router.get("/admin/users")
async def users_page(
    request: Request, principal: Annotated[Principal, Depends(allow(ADMIN))]
) -> Response:
    users = await gw_state(request).accounts.list_users()
    return render(request, "admin/users.html", {"users": users}, principal=principal)


@router.get("/admin/users/new")
async def new_user(
    request: Request, principal: Annotated[Principal, Depends(allow(ADMIN))]
) -> Response:
    state = FormState(values={"roles": ["staff"], "active": True})
    return await _user_form(request, principal, state, user=None)


@router.post("/admin/users/new")
async def create_user(
    request: Request, principal: Annotated[Principal, Depends(allow(ADMIN))]
) -> Response:
    form = await request.form()
    state = FormState()
    username = state.text(form, "username", 64)
    password = str(form.get("password", ""))
    fields = _read_user_fields(form, state, with_active=False)
    return await form_action(
        state,
        lambda: gw_state(request).accounts.create_user(
            username, password, fields, actor=principal.user_id
        ),
        render=partial(_user_form_again, request, principal, None),
        success_url=lambda user: f"/admin/users/{user.user_id}",
        message="user_created",
    )


async def _user_form_again(
    request: Request, principal: Principal, user: User | None, state: FormState, status: int
) -> Response:
    return await _user_form(request, principal, state, user=user, status_code=status)


async def _account_change(
    request: Request,
    principal: Principal,
    user: User,
    state: FormState,
    change: Callable[[], Awaitable[object]],
    message: str,
) -> Response:
    """A change to an account from its page: refused, the page again with the errors beside
    their fields; done, back to the page with `message`."""
    return await form_action(
        state,
        change,
        render=partial(_user_form_again, request, principal, user),
        success_url=f"/admin/users/{user.user_id}",
        message=message,
    )


async def _user_or_404(request: Request, user_id: uuid.UUID) -> User:
    user = await gw_state(request).accounts.get(user_id)
    if user is None:
        raise Problem(404, "not_found", NOT_FOUND)
    return user


@router.get("/admin/users/{user_id}")
async def edit_user(
    request: Request, user_id: uuid.UUID, principal: Annotated[Principal, Depends(allow(ADMIN))]
) -> Response:
    user = await _user_or_404(request, user_id)
    return await _user_form(request, principal, FormState(values=_values_of(user)), user=user)


@router.post("/admin/users/{user_id}")
async def update_user(
    request: Request, user_id: uuid.UUID, principal: Annotated[Principal, Depends(allow(ADMIN))]
) -> Response:
    user = await _user_or_404(request, user_id)
    form = await request.form()
    state = FormState(values={"username": user.username})
    fields = _read_user_fields(form, state, with_active=True)
    accounts = gw_state(request).accounts
    return await _account_change(
        request,
        principal,
        user,
        state,
        lambda: accounts.update_user(user_id, fields, actor=principal.user_id),
        "user_updated",
    )


@router.post("/admin/users/{user_id}/password")
async def reset_password(
    request: Request, user_id: uuid.UUID, principal: Annotated[Principal, Depends(allow(ADMIN))]
) -> Response:
    user = await _user_or_404(request, user_id)
    password = str((await request.form()).get("new_password", ""))
    accounts = gw_state(request).accounts
    return await _account_change(
        request,
        principal,
        user,
        FormState(values=_values_of(user)),
        lambda: accounts.set_password(user_id, password, actor=principal.user_id),
        "password_set",
    )


@router.post("/admin/users/{user_id}/tokens")
async def create_token(
    request: Request, user_id: uuid.UUID, principal: Annotated[Principal, Depends(allow(ADMIN))]
) -> Response:
    user = await _user_or_404(request, user_id)
    form = await request.form()
    state = FormState(values=_values_of(user))
    try:
        _, raw = await gw_state(request).accounts.create_token(
            user_id, str(form.get("name", "")), actor=principal.user_id
        )
    except AccountError as exc:
        state.errors.update(exc.errors)
        return await _user_form(request, principal, state, user=user, status_code=422)
    # Shown once, on this page only (not in a URL, not stored).
    return await _user_form(request, principal, state, user=user, token=raw)


@router.post("/admin/tokens/{token_id}/revoke")
async def revoke_token(
    request: Request, token_id: uuid.UUID, principal: Annotated[Principal, Depends(allow(ADMIN))]
) -> Response:
    user_id = await gw_state(request).accounts.revoke_token(token_id, actor=principal.user_id)
    if user_id is None:
        raise Problem(404, "not_found", NOT_FOUND)
    return redirect(f"/admin/users/{user_id}", "token_revoked")


@router.get("/admin/directory")
async def directory_page(
    request: Request, principal: Annotated[Principal, Depends(allow(ADMIN))]
) -> Response:
    units = await nom.units(services(request, principal))
    return render(
        request, "admin/directory.html", {"units": units, "result": None}, principal=principal
    )


@router.post("/admin/directory")
async def import_directory(
    request: Request, principal: Annotated[Principal, Depends(allow(ADMIN))]
) -> Response:
    svc = services(request, principal)
    locale = locale_of(request)
    form = await request.form()
    upload = form.get("file")
    complete = form.get("complete") == "on"
    skip_bad = form.get("skip_bad_rows") == "on"
    result: dict[str, Any] = {"errors": [], "problem": None, "report": None, "rows": 0}
    limit = gw_state(request).gateway.directory_upload_max_bytes
    data = await upload.read(limit + 1) if isinstance(upload, UploadFile) else b""
    status_code = 200
    if not data:
        result["problem"] = pick(
            ("请选择要上传的 Excel（.xlsx）或 CSV 文件。", "Choose an .xlsx or CSV file."), locale
        )
    elif len(data) > limit:
        result["problem"] = pick(("文件过大。", "The file is too large."), locale)
    else:
        try:
            parsed = directory_file.parse(data)
        except ValueError:
            parsed = None
            result["problem"] = pick(
                (
                    "无法读取该文件：请上传 Excel 工作簿（.xlsx），或 UTF-8、GBK 编码的 CSV。",
                    "The file cannot be read: upload an Excel workbook (.xlsx), or UTF-8 or "
                    "GBK CSV.",
                ),
                locale,
            )
        if parsed is not None:
            result["encoding"] = parsed.encoding
            result["rows"] = len(parsed.rows)
            result["errors"] = [
                {"line": e.line, "reason": pick((e.reason_zh, e.reason_en), locale)}
                for e in parsed.errors
            ]
            if parsed.errors and not skip_bad:
                result["problem"] = pick(
                    (
                        f"有 {len(parsed.errors)} 行有误，未导入任何数据。"
                        "请修改后重新上传，或勾选“跳过有误的行”。",
                        f"{len(parsed.errors)} bad row(s): nothing was imported. Fix them, "
                        "or tick “skip bad rows”.",
                    ),
                    locale,
                )
            elif parsed.rows:
                try:
                    reply = await svc.command(
                        nom.SERVICE,
                        "import_directory",
                        ImportDirectory,
                        rows=parsed.rows,
                        complete=complete,
                    )
                    await sync_after_import(svc, gw_state(request).accounts)
                    summary = reply.get("summary", {})
                    result["report"] = pick(
                        (directory_file.report_zh(summary), directory_file.report_en(summary)),
                        locale,
                    )
                except (RemoteError, Problem) as exc:
                    problem = Problem.from_remote(exc) if isinstance(exc, RemoteError) else exc
                    result["problem"] = pick(problem.message, locale)
    if result["problem"]:
        status_code = 422
    units = await nom.units(svc)
    return render(
        request,
        "admin/directory.html",
        {"units": units, "result": result},
        principal=principal,
        status_code=status_code,
    )
