"""Files the gateway hands out (CSV exports, artefacts, reports, charts) and the labels the
payroll, publicity and audit pages share.

A download is sent as an attachment with its real name and media type, `nosniff`, and a
`sandbox` Content-Security-Policy: even an HTML or SVG file opened from the gateway's origin
runs no script and reaches nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from fastapi.responses import Response

from services.gateway import publicity as pub
from services.gateway import rewards as rw
from services.gateway.i18n import EN, Text, pick
from shared.contracts.rewards import business_no

# Payroll's codes as people read them; a code configured beyond these is shown as it is.
REASON_CODE_LABELS: dict[str, Text] = {
    "FLOWER_AWARD": ("红花奖励", "Flower award"),
    "FLOWER_AWARD_REVERSAL": ("红花奖励冲销", "Flower award reversal"),
}
TAX_LABELS: dict[str, Text] = {
    "taxable_earning": ("并入当月工资计税", "Taxed with the month's pay"),
}

SANDBOX_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def download(
    content: bytes,
    filename: str,
    media_type: str,
    *,
    inline: bool = False,
    ascii_name: str | None = None,
) -> Response:
    """`filename*` (RFC 5987) carries the real, Chinese name; `filename` an ASCII one for the
    few clients that ignore it (`ascii_name`, or the name with `_` for what ASCII lacks)."""
    fallback = ascii_name or filename
    ascii_name = fallback.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    disposition = "inline" if inline else "attachment"
    return Response(
        content,
        media_type=media_type,
        headers={
            "Content-Disposition": (
                f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
            ),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": SANDBOX_CSP,
            "Cache-Control": "no-store",
        },
    )


def labels(locale: str) -> dict[str, Callable[..., Any]]:
    """Locale-bound helpers for the payroll, publicity and audit templates."""

    def table(labels: dict[str, Text]) -> Callable[[str | None], str]:
        def label(code: str | None) -> str:
            if code is None:
                return ""
            return pick(labels[code], locale) if code in labels else code

        return label

    def money(amount: str | Decimal | None, currency: str = "CNY") -> str:
        return rw.money(amount, currency, locale)

    def actor_name(actor: str | None, names: dict[str, str]) -> str:
        """A user by display name; the services' own actors (`system:<service>`) as such."""
        if not actor:
            return ""
        if actor.startswith("system:"):
            return pick(("系统（{}）", "the system ({})"), locale).format(actor[7:])
        return names.get(actor, actor)

    def mismatch(item: dict[str, Any]) -> str:
        return str(item.get("message_en" if locale == EN else "message_zh") or item.get("kind"))

    def adjustment_no(line: dict[str, Any]) -> str:
        """The adjustment's 业务单号 (TZ202612-0042), not its UUID."""
        return business_no(str(line["period"]), int(line["position"]))

    return {
        "period_label": lambda period: rw.period_label(period, locale),
        "adjustment_no": adjustment_no,
        "reason_label": table(REASON_CODE_LABELS),
        "tax_label": table(TAX_LABELS),
        "money": money,
        "mismatch_text": mismatch,
        "actor_name": actor_name,
        "kind_label": table(pub.KIND_LABELS),
        "channel_label": table(pub.CHANNEL_LABELS),
        "material_status": table(pub.STATUS_LABELS),
        "format_label": table(pub.FORMAT_LABELS),
        "chart_label": table(pub.CHART_LABELS),
    }
