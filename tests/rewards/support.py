"""What the rewards integration tests share: review's events on the bus, counting what came out."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from nats.js import JetStreamContext

from services.rewards.payroll import parse_csv
from shared.bus import EVENTS_STREAM, HDR_MSG_ID, PAYROLL_STREAM
from shared.contracts.common import Category
from shared.contracts.review import (
    PublishedWinner,
    ResultPublished,
    ReviewEvent,
    WinnerRevoked,
    review_stream_id,
)
from shared.contracts.rewards import PAYROLL_SUBJECT_PREFIX
from shared.events import EventMetadata, NewEvent, RecordedEvent
from shared.rpc import RpcClient
from shared.service import ServiceRuntime

NAMES = ("张伟", "欧阳娜娜", "李静", "王芳", "赵强", "刘洋", "陈杰", "杨秀英")


def winners(count: int, round_id: str = "2026-Q4") -> tuple[PublishedWinner, ...]:
    return tuple(
        PublishedWinner(
            category=list(Category)[n % 5],
            nomination_id=uuid.uuid5(uuid.NAMESPACE_URL, f"{round_id}/{n}"),
            employee_no=f"E{n:05d}",
            name=NAMES[n % len(NAMES)],
            unit_code=f"U{n % 7}",
            unit_name="物业服务中心",
            position="维修工",
            deeds="带领班组连续三个月零投诉，节约维修费用十二万元。" * 4,
            results=(),
            score=Decimal("90.00") + Decimal(n % 10),
        )
        for n in range(count)
    )


def result(count: int, published_at: datetime, round_id: str = "2026-Q4") -> ResultPublished:
    return ResultPublished(
        round_id=round_id,
        categories=tuple(Category),
        winners=winners(count, round_id),
        published_by="office-1",
        published_at=published_at,
    )


def revoked(winner: PublishedWinner, at: datetime, round_id: str = "2026-Q4") -> WinnerRevoked:
    return WinnerRevoked(
        round_id=round_id,
        category=winner.category,
        nomination_id=winner.nomination_id,
        employee_no=winner.employee_no,
        name=winner.name,
        reason="事迹材料失实",
        revoked_by="leader-1",
        revoked_at=at,
    )


def envelope(
    event: ReviewEvent, event_id: uuid.UUID | None = None, position: int = 1
) -> RecordedEvent:
    """Review's event as its relay would put it on the bus."""
    new = NewEvent.of(event, EventMetadata(actor="office-1", correlation_id="corr-1"), event_id)
    return RecordedEvent(
        position=position,
        stream_id=review_stream_id(event.round_id),
        version=position,
        event_id=new.event_id,
        type=new.type,
        schema_version=new.schema_version,
        data=new.data,
        metadata=new.metadata,
        recorded_at=datetime.now(UTC),
        prev_hash="0" * 64,
        hash="0" * 64,
    )


async def deliver(js: JetStreamContext, recorded: RecordedEvent, msg_id: str | None = None) -> None:
    await js.publish(
        f"flowers.evt.review.{recorded.type}",
        recorded.model_dump_json().encode(),
        stream=EVENTS_STREAM,
        headers={HDR_MSG_ID: msg_id or str(recorded.event_id)},
    )


async def event_counts(runtime: ServiceRuntime) -> dict[str, int]:
    rows = await runtime.store.pool.fetch("SELECT type, count(*) AS n FROM events GROUP BY type")
    return {r["type"]: r["n"] for r in rows}


async def payroll_subjects(js: JetStreamContext) -> dict[str, int]:
    """Messages per subject in stream PAYROLL."""
    info = await js.stream_info(PAYROLL_STREAM, subjects_filter=f"{PAYROLL_SUBJECT_PREFIX}*")
    return dict(info.state.subjects or {})


async def payroll_messages(js: JetStreamContext) -> int:
    return (await js.stream_info(PAYROLL_STREAM)).state.messages


async def export_rows(rpc: RpcClient, period: str, encoding: str = "utf-8-sig") -> list[list[str]]:
    data: dict[str, Any] = await rpc.query(
        "rewards", "export", {"period": period, "encoding": encoding}
    )
    return parse_csv(base64.b64decode(data["content_base64"]), encoding)  # type: ignore[arg-type]
