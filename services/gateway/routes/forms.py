"""Reading HTML forms: values kept for redisplay, errors per field in the user's language."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from services.gateway.i18n import Text, pick
from services.gateway.problems import Problem
from shared.clock import SHANGHAI
from shared.rpc import RemoteError


@dataclass
class FormState:
    """A form being filled in: what was typed, and what is wrong with it (by field)."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, Text] = field(default_factory=dict)
    problem: Text | None = None  # a refusal that belongs to no single field

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
        self, exc: RemoteError | Problem | ValidationError, field_of: dict[str, str]
    ) -> None:
        """Show a refusal beside its field when it has one, else above the form."""
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
        sent or the service refused it: the refusal is then on the form, beside its field."""
        if not self.ok:
            return False
        try:
            await command()
        except (RemoteError, Problem, ValidationError) as exc:
            self.refused(exc, field_of)
            return False
        return True

    def for_page(self, locale: str) -> dict[str, Any]:
        return {
            "values": self.values,
            "errors": {k: pick(v, locale) for k, v in self.errors.items()},
            "problem": pick(self.problem, locale) if self.problem else None,
        }


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
