"""The inbox's texts about a person: kept in the tables sealed, as the log holds them, and
opened where they are read (the inbox, an employee's copy, the delivery task).

A NotificationIssued about a person (`about`) has its title and body sealed under that
person's key (shared/personal_data). The `notifications` table keeps each such text as the
sealed value's JSON, so no table holds it in clear and a destroyed key reads 已删除 at once,
before any rebuild; a text that names nobody is kept as it is. The sealed value is bound to
the event (its id is the notification id) and the field, which is how it is opened here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from shared.events import RecordedEvent
from shared.personal_data import KEYRING, MARKER, is_sealed, load_keys, open_value

SEALED_TEXTS = ("title", "body")  # the columns that may hold a sealed value


def stored(envelope: RecordedEvent, name: str, text: str) -> str:
    """What the table keeps of the event's text field `name`: its sealed form as the log
    holds it (JSON), or the text itself when it is not sealed."""
    raw = envelope.data.get(name)
    if not is_sealed(raw):
        return text
    # One spelling whatever the source (the log's jsonb orders keys its own way): a rebuild
    # writes the same row as the live projection.
    return json.dumps(raw, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _sealed(text: object) -> dict[str, Any] | None:
    if not isinstance(text, str) or not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if is_sealed(value) else None


async def opened(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rows (each with its `notification_id`) with every sealed text opened, or 已删除
    where its key is gone; the keys are fetched in one call."""
    out = [dict(r) for r in rows]
    found = [
        (row, name, sealed)
        for row in out
        for name in SEALED_TEXTS
        if (sealed := _sealed(row.get(name))) is not None
    ]
    if not found:
        return out
    await load_keys([sealed for _, _, sealed in found])
    for row, name, sealed in found:
        event_id = uuid.UUID(str(row["notification_id"]))
        row[name] = open_value(sealed, KEYRING.key(sealed[MARKER]), event_id, (name,))
    return out
