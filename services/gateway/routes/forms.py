"""Reading HTML forms: values kept for redisplay, errors per field in the user's language."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from services.gateway.accounts import AccountError
from services.gateway.auth import Principal
from services.gateway.i18n import Text, locale_of, pick
from services.gateway.problems import Problem
from services.gateway.web import redirect, render
from shared.clock import SHANGHAI
from shared.rpc import RemoteError


@dataclass
class FormState:
    """A form being filled in: what was typed, and what is wrong with it (by field)."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, Text] = field(default_factory=dict)
    problem: Text | None = None  # a refusal that belongs to no single field
    reply: Any = None  # the service's answer to the command sent

    def text(self, form: FormData, name: str, max_length: int = 20_000) -> str:
        raw = form.get(name, "")
        value = raw.strip()[:max_length] if isinstance(raw, str) else ""
        self.values[name] = value
        return value

    def required(self, form: FormData, name: str, message: Text, max_length: int = 20_000) -> str:
        value = self.text(form, name, max_length)
        if not value:
            self.errors[name] = message
        return value

    def refused(
        self,
        exc: RemoteError | Problem | ValidationError | AccountError,
        field_of: dict[str, str],
    ) -> None:
        """Show a refusal beside its field when it has one, else above the form."""
        if isinstance(exc, AccountError):  # the gateway's own accounts say which field
            self.errors.update(exc.errors)
            return
        if isinstance(exc, ValidationError):
            exc = Problem(
                422,
                "invalid_input",
                ("输入有误。", "Invalid input."),
                fields=[{"field": str(e["loc"][0]), "message": e["msg"]} for e in exc.errors()],
            )
        problem = Problem.from_remote(exc) if isinstance(exc, RemoteError) else exc
        if problem.code == "invalid_input":
            for item in problem.details.get("fields", []):
                name = str(item.get("field", "")).split(".")[0]
                if name in self.values:
                    self.errors.setdefault(
                        name, ("格式不正确。", f"Invalid value: {item.get('message', '')}")
                    )
            if self.errors:
                return
            self.problem = problem.message
            return
        target = field_of.get(problem.code)
        if target is not None:
            self.errors[target] = problem.message
        else:
            self.problem = problem.message

    @property
    def ok(self) -> bool:
        return not self.errors and self.problem is None

    async def send(
        self, command: Callable[[], Awaitable[object]], field_of: dict[str, str]
    ) -> bool:
        """Send the form's command if nothing is wrong with the form. False when it was not
        sent or the service refused it: the refusal is then on the form, beside its field;
        True, and the service's answer is in `reply`."""
        if not self.ok:
            return False
        try:
            self.reply = await command()
        except (RemoteError, Problem, ValidationError, AccountError) as exc:
            self.refused(exc, field_of)
            return False
        return True

    def for_page(self, locale: str) -> dict[str, Any]:
        return {
            "values": self.values,
            "errors": {k: pick(v, locale) for k, v in self.errors.items()},
            "problem": pick(self.problem, locale) if self.problem else None,
        }


async def one_field(
    request: Request, name: str, message: Text, max_length: int = 20_000
) -> tuple[FormState, str]:
    """A form of one required text (a reason, a note): the form's state and the text."""
    state = FormState()
    return state, state.required(await request.form(), name, message, max_length)


def form_page(
    request: Request,
    template: str,
    context: dict[str, Any],
    principal: Principal,
    forms: Mapping[str, FormState] | None = None,
    status_code: int = 200,
) -> Response:
    """A page with several small forms: those being redisplayed (`forms`, values and errors by
    field, by the form's key) and a refusal that belongs to no field (`refusal`), shown once at
    the top of the page."""
    shown = {k: v.for_page(locale_of(request)) for k, v in (forms or {}).items()}
    refusal = next((f["problem"] for f in shown.values() if f["problem"]), None)
    return render(
        request,
        template,
        {**context, "forms": shown, "refusal": refusal},
        principal=principal,
        status_code=status_code,
    )


async def form_action(
    state: FormState,
    command: Callable[[], Awaitable[object]],
    *,
    render: Callable[[FormState, int], Awaitable[Response]],
    success_url: str | Callable[[Any], str],
    message: str | Callable[[Any], str],
    field_of: Mapping[str, str] | None = None,
    refused_status: int = 422,
) -> Response:
    """A page's form posted: `state` holds what was read from it. Send `command` if the form
    is fine; refused (by the form or the service), `render` the same page again with the
    values typed and the errors beside their fields (`refused_status`); done, redirect (303)
    to `success_url` with the flash `message` (either may be chosen from the reply)."""
    if await state.send(command, dict(field_of or {})):
        url = success_url(state.reply) if callable(success_url) else success_url
        return redirect(url, message(state.reply) if callable(message) else message)
    return await render(state, refused_status)


def parse_decimal(value: str) -> Decimal | None:
    try:
        number = Decimal(value.replace(",", "").replace("，", ""))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def parse_local_datetime(value: str) -> datetime | None:
    """`2026-12-31T18:00` from a datetime-local input, read as Beijing time."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=SHANGHAI) if moment.tzinfo is None else moment
