"""The peer: the same work done with the Python `eventsourcing` library on the same PostgreSQL.

`eventsourcing` is installed for the benchmark only (`bench.sizes.PEER_REQUIREMENTS`,
installed by `python -m bench` when missing), never a dependency of the project; only
`bench.__main__` imports this module, after that check.

The work mirrors ours: aggregates whose creation event carries the same NominationSubmitted
payload (`Nomination`), a small aggregate changed by get-change-save (`Counter`), and a
follower process application (`Candidates`) that, for each nomination of the leader
(`Nominations`), records a `Candidate` aggregate in its own store, in one transaction with
its tracking record: what our review consumer does with its inbox row. The library runs
with its defaults (MultiThreadedRunner; a follower pulls 10 notifications per query).
All calls here block: the caller runs them in a worker thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import Aggregate, event
from eventsourcing.system import MultiThreadedRunner, ProcessApplication, System

from bench.data import nomination_payload

LEADER_BATCH = 49  # aggregates per save when filling the leader (ours: 50 events a round)


class Nomination(Aggregate):  # type: ignore[misc]
    @event("Submitted")  # type: ignore[untyped-decorator]
    def __init__(self, payload: dict[str, Any]) -> None:
        self.payload = payload


class Counter(Aggregate):  # type: ignore[misc]
    @event("Created")  # type: ignore[untyped-decorator]
    def __init__(self, note: str) -> None:
        self.count = 0
        self.note = note

    @event("Noted")  # type: ignore[untyped-decorator]
    def change(self, note: str) -> None:
        self.count += 1
        self.note = note


class Candidate(Aggregate):  # type: ignore[misc]
    @event("Recorded")  # type: ignore[untyped-decorator]
    def __init__(self, nomination_id: str, round_id: str, employee_no: str) -> None:
        self.nomination_id = nomination_id
        self.round_id = round_id
        self.employee_no = employee_no


SUBMITTED: Any = Nomination.Submitted  # type: ignore[attr-defined]  # made by @event


class Nominations(Application[UUID]):  # type: ignore[misc]
    """The leader: where nominations are created."""


class Processed:
    """When the follower has committed each leader notification (thread-safe)."""

    def __init__(self) -> None:
        self.done: dict[int, float] = {}
        self.condition = threading.Condition()

    def record(self, notification_id: int) -> None:
        with self.condition:
            self.done[notification_id] = time.perf_counter()
            self.condition.notify_all()

    def wait_for(self, notification_id: int, timeout: float = 600) -> float:
        with self.condition:
            if not self.condition.wait_for(lambda: notification_id in self.done, timeout):
                raise TimeoutError(f"the follower did not reach notification {notification_id}")
            return self.done[notification_id]


class Candidates(ProcessApplication[UUID]):  # type: ignore[misc]
    """The follower: a Candidate for each nomination, with its tracking record."""

    processed: Processed | None = None

    def policy(self, domain_event: Any, processing_event: ProcessingEvent[UUID]) -> None:
        if isinstance(domain_event, SUBMITTED):
            payload = domain_event.payload
            processing_event.collect_events(
                Candidate(
                    nomination_id=str(domain_event.originator_id),
                    round_id=payload["round_id"],
                    employee_no=payload["nominee"]["employee_no"],
                )
            )

    def process_event(self, domain_event: Any, tracking: Any) -> None:
        super().process_event(domain_event, tracking)
        if self.processed is not None:
            self.processed.record(tracking.notification_id)


SYSTEM = System(pipes=[[Nominations, Candidates]])


def env_for(database_url: str) -> dict[str, str]:
    """The library's settings for one database of our PostgreSQL."""
    url = urlsplit(database_url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": url.path.lstrip("/"),
        "POSTGRES_HOST": url.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": url.username or "postgres",
        "POSTGRES_PASSWORD": url.password or "",
        "CREATE_TABLE": "y",
    }


def rate_and_latencies(
    clients: int, total: int, op: Callable[[], object]
) -> tuple[float, list[float]]:
    """`total` calls of `op` over `clients` threads (the library is synchronous)."""
    latencies: list[float] = []
    lock = threading.Lock()
    share = [total // clients + (1 if c < total % clients else 0) for c in range(clients)]

    def client(count: int) -> None:
        mine = []
        for _ in range(count):
            started = time.perf_counter()
            op()
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    if clients == 1:
        client(total)
    else:
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(client, share))
    return total / (time.perf_counter() - started), latencies


class PeerStore:
    """Aggregate creation and get-change-save on one application."""

    def __init__(self, database_url: str) -> None:
        self.app: Application[UUID] = Application(env=env_for(database_url))
        self.payload = nomination_payload()

    def close(self) -> None:
        self.app.close()

    def create(self, clients: int, total: int) -> tuple[float, list[float]]:
        return rate_and_latencies(clients, total, lambda: self.app.save(Nomination(self.payload)))

    def get_change_save(self, total: int, streams: int) -> tuple[float, list[float]]:
        ids = []
        for _ in range(streams):
            counter = Counter(note="created")
            self.app.save(counter)
            ids.append(counter.id)
        turn = iter(range(total))

        def op() -> None:
            counter: Counter = self.app.repository.get(ids[next(turn) % streams])
            counter.change(note=f"change {counter.count}")
            self.app.save(counter)

        return rate_and_latencies(1, total, op)


def end_to_end(database_url: str, total: int, samples: int) -> tuple[float, list[float]]:
    """Leader → follower process application (MultiThreadedRunner): events/s, then latencies."""
    processed = Processed()
    runner: MultiThreadedRunner[UUID] = MultiThreadedRunner(SYSTEM, env=env_for(database_url))
    runner.start()
    try:
        leader = runner.get(Nominations)
        runner.get(Candidates).processed = processed
        payload = nomination_payload()
        started = time.perf_counter()
        last = 0
        left = total
        while left > 0:
            size = min(LEADER_BATCH, left)
            recordings = leader.save(*[Nomination(payload) for _ in range(size)])
            last = recordings[-1].notification.id
            left -= size
        rate = total / (processed.wait_for(last) - started)
        latencies = []
        for _ in range(samples):
            started = time.perf_counter()
            recordings = leader.save(Nomination(payload))
            latencies.append(processed.wait_for(recordings[-1].notification.id) - started)
        return rate, latencies
    finally:
        runner.stop()


class PeerCatchUp:
    """A leader with a backlog; each run a new follower (tables of its own) catches up."""

    def __init__(self, database_url: str) -> None:
        self.env = env_for(database_url)
        self.leader = Nominations(env=self.env)
        self.total = 0
        self.runs = 0

    def close(self) -> None:
        self.leader.close()

    def fill(self, total: int) -> float:
        payload = nomination_payload()
        started = time.perf_counter()
        left = total
        while left > 0:
            size = min(LEADER_BATCH, left)
            self.leader.save(*[Nomination(payload) for _ in range(size)])
            left -= size
        self.total = total
        return total / (time.perf_counter() - started)

    def run(self) -> float:
        self.runs += 1
        cls = type(f"CatchUp{self.runs}", (Candidates,), {})
        follower = cls(env=self.env)
        try:
            follower.follow(self.leader.name, self.leader.notification_log)
            head = self.leader.recorder.max_notification_id()
            started = time.perf_counter()
            while follower.recorder.max_tracking_id(self.leader.name) != head:
                follower.pull_and_process(self.leader.name)
            return self.total / (time.perf_counter() - started)
        finally:
            follower.close()
