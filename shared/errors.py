"""Domain errors: a stable code and a plain sentence in Chinese and in English."""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """A refused command. Subclasses set `code`; messages are for people, code for programs."""

    code: ClassVar[str] = "domain_error"
    status: ClassVar[int] = 409  # the HTTP status the gateway maps this refusal to

    def __init__(self, message_zh: str, message_en: str, **details: Any) -> None:
        super().__init__(message_en)
        self.message_zh = message_zh
        self.message_en = message_en
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message_zh": self.message_zh,
            "message_en": self.message_en,
            "details": self.details,
        }


class NotFound(DomainError):
    code = "not_found"
    status = 404


class InvalidInput(DomainError):
    code = "invalid_input"
    status = 422


class Forbidden(DomainError):
    code = "forbidden"
    status = 403
