"""How values read on a page: one date and time format, scores with two decimals.

Pure functions, registered as Jinja filters in `services.gateway.web` (and `dt`, the
helper every template already calls). The Chinese format is `shared.clock.format_zh`, the
same one the services' Chinese messages use: "2026年12月10日 23:59" (a day's very end,
23:59:59.999999, reads "24:00"); English pages read "2026-12-10 23:59" by the same rule.
A formatted date is wrapped in `<span class="nowrap">` so a phone never breaks it
mid-date; the text is escaped first, then marked safe.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from markupsafe import Markup, escape

from shared.clock import format_zh, format_zh_date, in_shanghai

EN = "en"


def datetime_text(value: datetime | str | None, locale: str = "zh-CN") -> str:
    """An instant in Beijing time to the minute; "" for none."""
    if value is None or value == "":
        return ""
    if locale != EN:
        return format_zh(value)
    text = format_zh(value)  # the same rule (24:00 at a day's very end), English digits
    local = in_shanghai(value)
    return f"{local:%Y-%m-%d} {text.rsplit(' ', 1)[1]}"


def date_text(value: date | datetime | str | None, locale: str = "zh-CN") -> str:
    if value is None or value == "":
        return ""
    if locale != EN:
        return format_zh_date(value)
    if isinstance(value, str):
        value = date.fromisoformat(value) if len(value) == 10 else in_shanghai(value)
    if isinstance(value, datetime):
        value = in_shanghai(value).date()
    return value.isoformat()


def nowrap(text: str) -> Markup:
    """`text` escaped, in a span a line never breaks inside; "" stays empty."""
    if not text:
        return Markup("")
    return Markup('<span class="nowrap">{}</span>').format(escape(text))


def score_text(value: Decimal | float | int | str | None) -> str:
    """A score with two decimals ("88.70"), rounded half up; "" for none, other text as is."""
    if value is None or value == "":
        return ""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    if not number.is_finite():
        return str(value)
    return str(number.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
