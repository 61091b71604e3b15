"""The rewards service's composition root (`faststream run services.rewards.app:app`)."""

from __future__ import annotations

from shared.clock import Clock
from shared.events import EventRegistry
from shared.service import ServiceRuntime
from shared.settings import Settings


def build_runtime(settings: Settings | None = None, clock: Clock | None = None) -> ServiceRuntime:
    return ServiceRuntime("rewards", EventRegistry(), settings=settings, clock=clock)


runtime = build_runtime()
app = runtime.app
