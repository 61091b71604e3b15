"""Domain errors: a stable code and a plain sentence in Chinese and in English."""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID


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


class TemplatedError(DomainError):
    """A refusal whose two messages are templates filled from its details (ids as text):
    a service's error family subclasses it and fixes the code and the templates."""

    message_zh_template: ClassVar[str] = "操作未被接受"
    message_en_template: ClassVar[str] = "The command was refused"

    def __init__(self, **details: Any) -> None:
        zh = {**details, **self.zh_words(details)}
        super().__init__(
            self.message_zh_template.format(**zh),
            self.message_en_template.format(**details),
            **{k: str(v) if isinstance(v, UUID) else v for k, v in details.items()},
        )

    @classmethod
    def zh_words(cls, details: dict[str, Any]) -> dict[str, Any]:
        """Extra names the Chinese template may use: words for values people should not
        read raw (a round's label for its id, a Beijing time for an ISO instant). They
        shape the sentence only; the details keep the values."""
        return {}


class NotFound(DomainError):
    code = "not_found"
    status = 404


class InvalidInput(DomainError):
    code = "invalid_input"
    status = 422


class Forbidden(DomainError):
    code = "forbidden"
    status = 403
