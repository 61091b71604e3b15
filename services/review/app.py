"""The review service's composition root (`faststream run services.review.app:app`)."""

from __future__ import annotations

from pathlib import Path

from services.review.projections import project_nomination_event
from shared.clock import Clock
from shared.contracts import nomination as nomination_contract
from shared.contracts import review as review_contract
from shared.service import ServiceRuntime
from shared.settings import Settings

SCHEMA = (Path(__file__).parent / "schema.sql").read_text(encoding="utf-8")


def build_runtime(settings: Settings | None = None, clock: Clock | None = None) -> ServiceRuntime:
    runtime = ServiceRuntime(
        "review", review_contract.registry, schema_sql=[SCHEMA], settings=settings, clock=clock
    )
    runtime.consumer(
        "review-nomination", ["flowers.evt.nomination.>"], nomination_contract.registry
    )(project_nomination_event)
    return runtime


runtime = build_runtime()
app = runtime.app
