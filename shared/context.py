"""What the current request or consumed event is part of: its correlation and causation ids,
and the consumer transaction it is handled in.

Set by the RPC layer (from the caller's header) and by consumers (from the consumed
event), read when new events' metadata is built, so one correlation id follows a
nomination's whole path across services.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable

correlation_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None
)
causation_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "causation_id", default=None
)


class TransactionScope:
    """What one consumer transaction keeps until it ends.

    A consumer may handle several messages in one transaction. A handler can keep state in
    `local` for the transaction's later messages, leave work for the end of the transaction
    (`before_commit`: one append for what many messages caused) and for after it
    (`on_commit`: remembering state in a process-wide cache, which must never hold what a
    rollback undid). A rolled-back transaction drops all three.
    """

    def __init__(self) -> None:
        self.local: dict[object, object] = {}
        self._before_commit: dict[object, Callable[[], Awaitable[None]]] = {}
        self._after_commit: list[Callable[[], None]] = []

    def before_commit(self, key: object, step: Callable[[], Awaitable[None]]) -> None:
        """Run `step` once, at the end of the transaction (the first one given per key)."""
        self._before_commit.setdefault(key, step)

    def on_commit(self, callback: Callable[[], None]) -> None:
        self._after_commit.append(callback)

    async def finish(self) -> None:
        """The end of the transaction, still inside it: the steps left for it, in order."""
        while self._before_commit:
            key = next(iter(self._before_commit))
            await self._before_commit.pop(key)()

    def committed(self) -> None:
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()


transaction_scope_var: contextvars.ContextVar[TransactionScope | None] = contextvars.ContextVar(
    "transaction_scope", default=None
)
