"""A published result of a past round, for the payroll, publicity and audit pages.

The result is appended to the review service's own log (as review's publishing would append
it), so review's relay puts it on the bus the real way: rewards grants the awards and issues
the payroll adjustments, publicity drafts the materials, and an audit of the logs verifies.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from shared.clock import SHANGHAI
from shared.contracts.common import Category
from shared.contracts.nomination import (
    PublicityConsent,
    PublicityConsentRecorded,
    round_stream_id,
)
from shared.contracts.review import PublishedWinner, ResultPublished, review_stream_id
from shared.events import EventMetadata, NewEvent
from tests.gateway.harness import DEEDS, Harness
from tests.support import eventually

PAST_ROUND = "2026-Q3"
PUBLISHED_AT = datetime(2026, 10, 15, 10, 0, tzinfo=SHANGHAI)  # before the 20th: October's pay
PERIOD = "2026-10"
WINNERS = (
    (Category.STRIVING, "E100", "张伟", "WY", "物业服务中心", "维修工", "93.50"),
    (Category.DEDICATION, "E101", "李娜", "WY", "物业服务中心", "客服专员", "91.25"),
    (Category.HARD_WORK, "E200", "赵强", "CY", "餐饮服务中心", "厨师长", "90.00"),
)


def result(round_id: str = PAST_ROUND) -> ResultPublished:
    return ResultPublished(
        round_id=round_id,
        categories=tuple(Category),
        winners=tuple(
            PublishedWinner(
                category=category,
                nomination_id=uuid.uuid5(uuid.NAMESPACE_URL, f"{round_id}/{employee_no}"),
                employee_no=employee_no,
                name=name,
                unit_code=unit_code,
                unit_name=unit_name,
                position=position,
                deeds=DEEDS,
                results=(),
                score=Decimal(score),
            )
            for category, employee_no, name, unit_code, unit_name, position, score in WINNERS
        ),
        published_by="office-user",
        published_at=PUBLISHED_AT,
    )


async def publish_past_result(gateway: Harness) -> dict[str, Any]:
    """Append the result to review's log and wait for the awards and the drafts."""
    return await publish_result(gateway, result(), PERIOD)


async def consent_of_every_winner(
    gateway: Harness,
    event: ResultPublished,
    consents: Mapping[uuid.UUID, PublicityConsent] | None = None,
) -> None:
    """Each winner consented to every public use, as their unit recorded it in nomination's
    log; wait until publicity heard it (a winner without consent is drafted only as far as
    the union's rules allow)."""
    store = gateway.nomination.store
    stream = round_stream_id(event.round_id)
    current = await store.load(stream)
    await store.append(
        stream,
        [
            NewEvent.of(
                PublicityConsentRecorded(
                    nomination_id=w.nomination_id,
                    round_id=event.round_id,
                    employee_no=w.employee_no,
                    consent=(consents or {}).get(w.nomination_id, PublicityConsent.to_all()),
                    recorded_by="nominator-user",
                    recorded_at=event.published_at,
                ),
                EventMetadata(actor="nominator-user", correlation_id="test"),
            )
            for w in event.winners
        ],
        expected_version=current.version,
    )
    assert gateway.publicity is not None
    pool = gateway.publicity.store.pool

    async def heard() -> bool:
        count: int = await pool.fetchval(
            "SELECT count(*) FROM publicity_consents WHERE nomination_id = ANY($1::uuid[])",
            [w.nomination_id for w in event.winners],
        )
        return count == len(event.winners)

    await eventually(heard, timeout=20, what="publicity to hear the winners' consent")


async def publish_result(
    gateway: Harness,
    event: ResultPublished,
    period: str,
    consents: Mapping[uuid.UUID, PublicityConsent] | None = None,
) -> dict[str, Any]:
    """Append `event` to review's log; wait until rewards paid it in `period` and publicity
    drafted its materials."""
    await consent_of_every_winner(gateway, event, consents)
    assert gateway.review is not None
    store = gateway.review.store
    stream = review_stream_id(event.round_id)
    current = await store.load(stream)
    await store.append(
        stream,
        [NewEvent.of(event, EventMetadata(actor="office-user", correlation_id="test"))],
        expected_version=current.version,
    )
    rpc = gateway.rpc

    async def paid() -> bool:
        feed = await rpc.query("rewards", "adjustments", {"after": 0, "period": period})
        return len(feed["items"]) == len(event.winners)

    async def drafted() -> bool:
        return len(await rpc.query("publicity", "drafts", {"round_id": event.round_id})) >= 4

    await eventually(paid, timeout=20, what="rewards to issue the adjustments")
    await eventually(drafted, timeout=20, what="publicity to draft the materials")
    feed = await rpc.query("rewards", "adjustments", {"after": 0, "period": period})
    drafts = await rpc.query("publicity", "drafts", {"round_id": event.round_id})
    return {
        "adjustments": feed["items"],
        "drafts": {d["kind"]: d for d in drafts},
    }


async def prepare_payroll_and_publicity(gateway: Harness) -> dict[str, str]:
    """For the authorisation matrix: a paid result with drafts (ids under `pay_*`/`pub_*`)."""
    published = await publish_past_result(gateway)
    drafts = published["drafts"]
    return {
        "pay_adj": published["adjustments"][0]["adjustment_id"],
        "pub_bulletin": drafts["bulletin"]["material_id"],
        "pub_official": drafts["official_account"]["material_id"],
        "pub_storyboard": drafts["storyboard"]["material_id"],
    }
