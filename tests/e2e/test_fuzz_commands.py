"""Fuzzing every command and query over NATS: any payload gets a coded answer, never a 500."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.nomination.app import build_runtime as build_nomination
from services.notification.app import build_runtime as build_notification
from services.publicity.app import build_runtime as build_publicity
from services.review.app import build_runtime as build_review
from services.rewards.app import build_runtime as build_rewards
from shared.rpc import RemoteError, RpcClient
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.support import rpc_client

pytestmark = pytest.mark.integration

FIELDS = [
    "actor",
    "roles",
    "actor_unit_code",
    "round_id",
    "nomination_id",
    "unit_code",
    "employee_no",
    "category",
    "deeds",
    "results",
    "evidence_links",
    "recommendation",
    "reason",
    "new_deadline",
    "criteria",
    "winners",
    "objection_no",
    "outcome",
    "material_id",
    "channel",
    "adjustment_id",
    "period",
    "amount",
    "after",
    "limit",
    "rows",
    "year",
    "panelist_id",
    "department",
    "text",
    "raiser_name",
    "viewer",
    "viewer_roles",
    "consumer",
    "payload",
    "scope",
    "format",
]
NASTY = st.sampled_from(
    [
        "",
        " ",
        "2026-Q4",
        "2026-13",
        "9999-Q9",
        "striving",
        "office",
        "nominator",
        "admin",
        "<script>alert(1)</script>",
        "'; DROP TABLE events; --",
        "\u200b\u202e右到左",
        "\x00",
        "1e309",
        "-1",
        "NaN",
        "00000000-0000-0000-0000-000000000000",
        "a" * 5000,
        "🌸" * 50,
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False),
    NASTY,
    st.text(max_size=40),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(FIELDS), inner, max_size=4)
    ),
    max_leaves=12,
)
PAYLOADS = st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=10)


@pytest.fixture
async def system(settings: Settings, nc: Any) -> AsyncIterator[tuple[RpcClient, list[str]]]:
    runtimes: list[ServiceRuntime] = [
        build(settings)
        for build in (
            build_nomination,
            build_review,
            build_rewards,
            build_publicity,
            build_notification,
        )
    ]
    for runtime in runtimes:
        await runtime.start()
    subjects = sorted(
        s for r in runtimes for s in r.rpc.subjects if not s.endswith((".health", ".redrive"))
    )
    try:
        yield rpc_client(nc, timeout=10), subjects
    finally:
        for runtime in reversed(runtimes):
            await runtime.stop()


async def test_every_command_and_query_answers_any_payload_with_a_code(
    system: tuple[RpcClient, list[str]],
) -> None:
    rpc, subjects = system
    assert len(subjects) > 40
    seen: dict[str, int] = {}

    @settings(
        max_examples=300,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(subject=st.sampled_from(subjects), payload=PAYLOADS)
    def one(subject: str, payload: dict[str, Any]) -> None:
        cases.append((subject, payload))

    cases: list[tuple[str, dict[str, Any]]] = []
    one()
    failures: list[str] = []
    for subject, payload in cases:
        try:
            await rpc.call(subject, json.loads(json.dumps(payload)))
        except RemoteError as exc:
            seen[exc.error.code] = seen.get(exc.error.code, 0) + 1
            if not exc.error.code or exc.error.status >= 500:
                failures.append(f"{subject} {payload!r}: {exc.error.code} {exc.error.status}")
    assert failures == []
    assert seen.get("invalid_input", 0) > 0  # the fuzzer did reach the validation


async def test_a_nul_character_is_refused_with_a_reason_not_an_internal_error(
    system: tuple[RpcClient, list[str]],
) -> None:
    rpc, _ = system
    with pytest.raises(RemoteError) as refused:
        await rpc.command(
            "nomination",
            "import_directory",
            {
                "actor": "a",
                "roles": ["admin"],
                "rows": [{"unit_code": "X\x00", "unit_name": "u", "employee_no": "1", "name": "n"}],
            },
        )
    assert refused.value.error.code == "invalid_text"
    assert refused.value.error.status == 422
