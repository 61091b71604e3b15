"""/api/v1: who am I, and (for administrators) accounts and API tokens."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from services.gateway.accounts import ADMIN, AccountError, User, UserFields
from services.gateway.auth import Principal
from services.gateway.deps import ANY_ROLE, allow, api_csrf
from services.gateway.problems import NOT_FOUND, Problem
from services.gateway.state import gw_state

router = APIRouter(prefix="/api/v1", tags=["accounts"], dependencies=[Depends(api_csrf)])


class UserOut(BaseModel):
    user_id: uuid.UUID
    username: str
    display_name: str
    roles: list[str]
    unit_code: str | None
    department: str | None
    employee_no: str | None
    active: bool

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            user_id=user.user_id,
            username=user.username,
            display_name=user.display_name,
            roles=sorted(user.roles),
            unit_code=user.unit_code,
            department=user.department,
            employee_no=user.employee_no,
            active=user.active,
        )


class MeOut(UserOut):
    csrf_token: str | None = Field(
        default=None, description="For a browser session: send it as X-CSRF-Token on changes"
    )


class UserFieldsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    display_name: str
    roles: list[str]
    unit_code: str | None = None
    department: str | None = None
    employee_no: str | None = None
    active: bool = True

    def fields(self) -> UserFields:
        return UserFields(
            self.display_name,
            frozenset(self.roles),
            self.unit_code,
            self.department,
            self.employee_no,
            self.active,
        )


class NewUserIn(UserFieldsIn):
    username: str
    password: str


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = "api"


class TokenOut(BaseModel):
    token_id: uuid.UUID
    name: str
    token: str = Field(description="Shown once: keep it; only its digest is stored")


def _invalid(exc: AccountError) -> Problem:
    return Problem(
        422,
        "invalid_input",
        ("输入有误，请检查标出的字段。", "The input is invalid; see the fields listed."),
        fields=[{"field": f, "message": m[1], "message_zh": m[0]} for f, m in exc.errors.items()],
    )


@router.get("/me", response_model=MeOut)
async def me(request: Request, principal: Annotated[Principal, Depends(allow(ANY_ROLE))]) -> MeOut:
    """The signed-in user, their roles and unit."""
    out = MeOut(**UserOut.of(principal.user).model_dump())
    if principal.session_id:
        out.csrf_token = gw_state(request).csrf.token(principal.session_id)
    return out


@router.get("/users", response_model=list[UserOut])
async def list_users(
    request: Request, principal: Annotated[Principal, Depends(allow(ADMIN))]
) -> list[UserOut]:
    """Every account (administrators only)."""
    return [UserOut.of(u) for u in await gw_state(request).accounts.list_users()]


@router.post("/users", response_model=UserOut, status_code=201)
async def create_user(
    request: Request, body: NewUserIn, principal: Annotated[Principal, Depends(allow(ADMIN))]
) -> UserOut:
    """Create an account with its roles (a nominator needs a unit, a panelist a department)."""
    try:
        user = await gw_state(request).accounts.create_user(
            body.username, body.password, body.fields(), actor=principal.user_id
        )
    except AccountError as exc:
        raise _invalid(exc) from None
    return UserOut.of(user)


@router.put("/users/{user_id}", response_model=UserOut)
async def update_user(
    request: Request,
    user_id: uuid.UUID,
    body: UserFieldsIn,
    principal: Annotated[Principal, Depends(allow(ADMIN))],
) -> UserOut:
    """Change an account's name, roles, unit, department or active flag."""
    accounts = gw_state(request).accounts
    if await accounts.get(user_id) is None:
        raise Problem(404, "not_found", NOT_FOUND)
    try:
        user = await accounts.update_user(user_id, body.fields(), actor=principal.user_id)
    except AccountError as exc:
        raise _invalid(exc) from None
    return UserOut.of(user)


@router.post("/users/{user_id}/tokens", response_model=TokenOut, status_code=201)
async def create_token(
    request: Request,
    user_id: uuid.UUID,
    body: TokenIn,
    principal: Annotated[Principal, Depends(allow(ADMIN))],
) -> TokenOut:
    """Issue a bearer token for an API client acting as this user (e.g. payroll's system)."""
    accounts = gw_state(request).accounts
    if await accounts.get(user_id) is None:
        raise Problem(404, "not_found", NOT_FOUND)
    try:
        token, raw = await accounts.create_token(user_id, body.name, actor=principal.user_id)
    except AccountError as exc:
        raise _invalid(exc) from None
    return TokenOut(token_id=token.token_id, name=token.name, token=raw)


@router.delete("/tokens/{token_id}", status_code=204)
async def revoke_token(
    request: Request, token_id: uuid.UUID, principal: Annotated[Principal, Depends(allow(ADMIN))]
) -> Response:
    """Revoke a bearer token at once."""
    if await gw_state(request).accounts.revoke_token(token_id, actor=principal.user_id) is None:
        raise Problem(404, "not_found", NOT_FOUND)
    return Response(status_code=204)
