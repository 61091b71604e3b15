"""Every service declares all its read models, and each consumer feed as the service runs it."""

from __future__ import annotations

import re

import pytest

from services.nomination.app import build_runtime as build_nomination
from services.notification.app import build_runtime as build_notification
from services.publicity.app import build_runtime as build_publicity
from services.review.app import build_runtime as build_review
from services.rewards.app import build_runtime as build_rewards
from shared.projection import declared, subject_matches
from shared.service import ServiceRuntime
from shared.settings import SERVICES, Settings

BUILDERS = {
    "nomination": build_nomination,
    "review": build_review,
    "rewards": build_rewards,
    "publicity": build_publicity,
    "notification": build_notification,
}
SETTINGS = Settings(nats_url="nats://127.0.0.1:1", database_url="postgresql://127.0.0.1:1/x")


def runtime(service: str) -> ServiceRuntime:
    return BUILDERS[service](SETTINGS)  # builds, connects to nothing


@pytest.mark.parametrize("service", SERVICES)
def test_every_table_of_a_service_belongs_to_exactly_one_declared_projection(
    service: str,
) -> None:
    spec = declared(service)
    created = set(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", spec.schema_sql))
    assert sorted(spec.tables) == sorted(set(spec.tables)), "a table declared twice"
    assert set(spec.tables) == created


@pytest.mark.parametrize("service", SERVICES)
def test_each_declared_feed_is_a_consumer_the_service_runs_with_the_same_subjects(
    service: str,
) -> None:
    running = {c.name: c.subjects for c in runtime(service).consumer_specs}
    for projection in declared(service).projections:
        assert projection.own is not None or projection.feeds, projection.name
        for feed in projection.feeds:
            assert running.get(feed.consumer) == list(feed.subjects), feed.consumer


def test_subjects_match_as_nats_matches_them() -> None:
    assert subject_matches("flowers.evt.nomination.>", "flowers.evt.nomination.UnitRenamed")
    assert not subject_matches("flowers.evt.nomination.>", "flowers.evt.nomination")
    assert subject_matches("flowers.evt.*.ResultPublished", "flowers.evt.review.ResultPublished")
    assert not subject_matches("flowers.evt.review.ResultPublished", "flowers.evt.review.X")
