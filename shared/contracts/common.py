"""Values every service's events share: the five flowers, money, a nominee's snapshot."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, StringConstraints, field_validator

from shared.personal_data import PersonalFields
from shared.rounds import RoundId


class Category(StrEnum):
    """The five flowers (R1). The codes never change; the labels are the tables below."""

    STRIVING = "striving"
    VALUE_CREATION = "value_creation"
    DEDICATION = "dedication"
    REFORM = "reform"
    HARD_WORK = "hard_work"

    @property
    def label_zh(self) -> str:
        return CATEGORY_LABELS_ZH[self]

    @property
    def label_en(self) -> str:
        return CATEGORY_LABELS_EN[self]


CATEGORY_LABELS_ZH: dict[Category, str] = {
    Category.STRIVING: "拼搏之花",
    Category.VALUE_CREATION: "创效之花",
    Category.DEDICATION: "奉献之花",
    Category.REFORM: "改革之花",
    Category.HARD_WORK: "实干之花",
}
CATEGORY_LABELS_EN: dict[Category, str] = {
    Category.STRIVING: "Striving Flower",
    Category.VALUE_CREATION: "Value-Creation Flower",
    Category.DEDICATION: "Dedication Flower",
    Category.REFORM: "Reform Flower",
    Category.HARD_WORK: "Hard-Work Flower",
}


class Money(BaseModel):
    """An amount with its currency; Decimal, never float (serialised as a string)."""

    model_config = ConfigDict(frozen=True)

    amount: Decimal
    currency: str = "CNY"

    @field_validator("amount", mode="before")
    @classmethod
    def _no_float(cls, value: object) -> object:
        if isinstance(value, float):
            raise ValueError("money must not be a float: pass a Decimal or a string")
        return value

    @field_validator("currency")
    @classmethod
    def _iso_code(cls, value: str) -> str:
        if len(value) != 3 or not value.isalpha() or not value.isupper():
            raise ValueError("currency must be an ISO 4217 code such as CNY")
        return value


class NomineeSnapshot(BaseModel):
    """Who was nominated, as the directory knew them then: consumers never call back.

    The employee number, name and position are the nominee's personal data: stored and
    published sealed under the nominee's key (shared/personal_data.py); unit code and unit
    name stay readable (statistics by unit survive an erasure)."""

    model_config = ConfigDict(frozen=True)
    personal_data: ClassVar[PersonalFields] = PersonalFields("employee_no", ("name", "position"))

    employee_no: str
    name: str
    unit_code: str
    unit_name: str
    position: str


RoundRef = Annotated[RoundId, StringConstraints(max_length=16)]
"""A round a command names: a round id, bounded so the API's schema states its maximum."""
