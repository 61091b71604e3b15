"""The notification service's composition root (`faststream run services.notification.app:app`).

It consumes the facts the other services publish (consumer `notification-facts`, through the
one reaction path), issues `NotificationIssued` events into the inbox read model, and answers
the gateway's `inbox` query and `mark_read` command. No other service calls it.
"""

from __future__ import annotations

from typing import Any

from services.notification import handlers, projections
from services.notification import queries as notification_queries
from services.notification.errors import NotificationNotFound
from services.notification.queries import inbox, round_of
from shared.clock import Clock
from shared.contracts import notification as notification_contract
from shared.contracts.notification import notification_stream_id
from shared.contracts.notification_commands import GetInbox, MarkRead
from shared.contracts.subject_access import QUERY as EMPLOYEE_DATA
from shared.contracts.subject_access import EmployeeData, Rows
from shared.service import ServiceRuntime
from shared.settings import Settings

FACTS_CONSUMER = "notification-facts"


def build_runtime(settings: Settings | None = None, clock: Clock | None = None) -> ServiceRuntime:
    runtime = ServiceRuntime(
        "notification",
        notification_contract.registry,
        schema_sql=[projections.SCHEMA_SQL],
        settings=settings,
        clock=clock,
    )
    runtime.own = projections.OWN
    rpc = runtime.rpc

    runtime.react(
        FACTS_CONSUMER,
        [e.subject() for e in handlers.FACTS],
        handlers.FACTS_REGISTRY,
        handlers.facts_reaction(runtime.clock),
    )

    @rpc.query(EMPLOYEE_DATA, EmployeeData)
    async def about_employee(q: EmployeeData) -> dict[str, Rows]:
        """Everything held about one employee, for the office (an access request)."""
        return await notification_queries.employee_data(runtime.store.pool, q)

    @rpc.query("inbox", GetInbox)
    async def get_inbox(q: GetInbox) -> dict[str, Any]:
        """The signed-in user's notifications, newest first, and the unread count."""
        return await inbox(runtime.store.pool, q)

    @rpc.command("mark_read", MarkRead)
    async def mark_read(cmd: MarkRead) -> dict[str, Any]:
        """Mark one of the user's notifications read (for this user only)."""
        round_id = await round_of(runtime.store.pool, cmd)
        if round_id is None:
            raise NotificationNotFound(notification_id=cmd.notification_id)
        now = runtime.clock.now()
        recorded = await runtime.execute(
            notification_stream_id(round_id),
            handlers.evolve,
            handlers.initial_ledger(round_id),
            lambda ledger: handlers.mark_read(ledger, cmd.notification_id, cmd.actor, now),
            cmd.actor,
        )
        return {"notification_id": str(cmd.notification_id), "events": [e.type for e in recorded]}

    return runtime


runtime = build_runtime()
app = runtime.app
