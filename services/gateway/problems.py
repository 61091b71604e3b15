"""Errors as application/problem+json (RFC 9457) with a stable `code`, for the API and the pages.

A service's refusal (`RemoteError`) keeps its code, status and both messages; the gateway's
own refusals (not signed in, wrong role, CSRF, throttled) use the same shape.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from services.gateway.i18n import EN, Text, pick
from shared.rpc import ErrorBody, RemoteError

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """A refusal by the gateway itself; rendered as problem+json (API) or an error page."""

    def __init__(self, status: int, code: str, message: Text, **details: Any) -> None:
        super().__init__(f"{code}: {message[1]}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    @classmethod
    def from_remote(cls, exc: RemoteError) -> Problem:
        return cls.from_error(exc.error)

    @classmethod
    def from_error(cls, error: ErrorBody) -> Problem:
        return cls(error.status, error.code, (error.message_zh, error.message_en), **error.details)


UNAUTHENTICATED = ("请先登录。", "Please sign in first.")
FORBIDDEN = ("您的角色无权执行此操作。", "Your role does not allow this.")
CSRF_FAILED = (
    "表单已过期或来源不明，请刷新页面后重试。",
    "The form has expired or did not come from this site; reload the page and try again.",
)
NOT_FOUND = ("找不到该页面或资源。", "No such page or resource.")
UNAVAILABLE = (
    "系统正在恢复（数据库或消息服务暂时不可用），请稍后再试。",
    "A database or the message bus is unavailable for a moment; please try again shortly.",
)
FILES_UNAVAILABLE = (
    "证明材料文件存储暂时无法访问，请稍后再试。",
    "The evidence file store cannot be reached for a moment; please try again shortly.",
)
INTERNAL = ("系统内部错误，已记录，请稍后再试。", "Internal error; it has been logged.")


def unauthenticated() -> Problem:
    return Problem(401, "unauthenticated", UNAUTHENTICATED)


def forbidden(message: Text = FORBIDDEN, **details: Any) -> Problem:
    return Problem(403, "forbidden", message, **details)


def not_own_unit(actor_unit_code: str | None, unit_code: str) -> Problem:
    return Problem(
        403,
        "not_own_unit",
        (
            f"提名人只能为本单位（{actor_unit_code or '-'}）操作，不能为 {unit_code} 操作",
            f"A nominator acts for their own unit only ({actor_unit_code or '-'}), "
            f"not for {unit_code}",
        ),
        actor_unit_code=actor_unit_code,
        unit_code=unit_code,
    )


def problem_body(problem: Problem, locale: str, instance: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"/api/v1/problems/{problem.code}",
        "title": pick(problem.message, locale),
        "status": problem.status,
        "code": problem.code,
        "message_zh": problem.message[0],
        "message_en": problem.message[1],
    }
    if problem.details:
        body["details"] = problem.details
    if instance:
        body["instance"] = instance
    return body


def problem_response(
    problem: Problem, locale: str = EN, instance: str | None = None
) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="flowers"'} if problem.status == 401 else None
    return JSONResponse(
        problem_body(problem, locale, instance),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )
