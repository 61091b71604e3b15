"""What the current request or consumed event is part of: its correlation and causation ids.

Set by the RPC layer (from the caller's header) and by consumers (from the consumed
event), read when new events' metadata is built, so one correlation id follows a
nomination's whole path across services.
"""

from __future__ import annotations

import contextvars

correlation_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None
)
causation_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "causation_id", default=None
)
