"""Realistic work for the benchmark: a directory, rounds, nominations of real size.

A round takes one nomination per unit and flower (the default quota), so with 10 units a
round holds up to 50 nominations; every nomination carries about 200 characters of deeds,
a measured result and a recommendation, like the ones the gateway sends.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from shared.contracts.common import Category, NomineeSnapshot
from shared.contracts.nomination import MeasurableResult, NominationSubmitted, RoundOpened
from shared.contracts.nomination_commands import NOMINATOR, OFFICE, DirectoryRow
from shared.events import DomainEvent, EventMetadata, NewEvent
from shared.rounds import Cadence

UNITS = 10
EMPLOYEES_PER_UNIT = 10
CATEGORIES = list(Category)
SLOTS_PER_ROUND = UNITS * len(CATEGORIES)  # one nomination per unit and flower

UNIT_NAMES = [
    "物业服务中心",
    "餐饮服务中心",
    "车辆运输队",
    "绿化保洁队",
    "仓储物流中心",
    "供水供电站",
    "医疗保健站",
    "综合办公室",
    "安全保卫部",
    "客户服务部",
]
SURNAMES = "张王李赵刘陈杨黄周吴"
GIVEN = "伟芳娜敏静丽强磊洋军"
POSITIONS = [
    "维修工",
    "客服专员",
    "厨师长",
    "驾驶员",
    "保管员",
    "电工",
    "护士",
    "文员",
    "保安",
    "班组长",
]
DEEDS = (
    "该同志扎根一线十余年，带领班组连续三年零投诉，主动承担老旧小区管网改造任务，"
    "节约维修成本十二万元；疫情期间坚守岗位四十余天，保障职工生活物资供应不断档，"
    "多次受到住户和上级表扬。工作中勤于钻研，总结提炼的“五步工作法”在全分公司推广，"
    "带出徒弟六名，其中两名已成长为业务骨干，充分发挥了共产党员的先锋模范作用。"
)
RECOMMENDATION = "经班组推荐、单位党支部研究，同意推荐该同志参评本季度红花。"


def unit_code(unit: int) -> str:
    return f"U{unit:02d}"


def employee_no(unit: int, index: int) -> str:
    return f"E{unit:02d}{index:02d}"


def directory_rows() -> tuple[DirectoryRow, ...]:
    return tuple(
        DirectoryRow(
            unit_code=unit_code(u),
            unit_name=UNIT_NAMES[u],
            employee_no=employee_no(u, k),
            name=SURNAMES[u] + GIVEN[k] + GIVEN[(u + k) % 10],
            position=POSITIONS[k],
        )
        for u in range(UNITS)
        for k in range(EMPLOYEES_PER_UNIT)
    )


def round_id(k: int) -> str:
    """The k-th round of the benchmark: quarters from 3000-Q1 on (deadlines far ahead)."""
    return f"{3000 + k // 4}-Q{k % 4 + 1}"


def slot(n: int) -> tuple[int, Category, int]:
    """The n-th nomination of a round: (unit, flower, employee index in the unit)."""
    unit, flower = divmod(n, len(CATEGORIES))
    return unit, CATEGORIES[flower], flower


def submit_payload(round_: str, n: int) -> dict[str, Any]:
    """The `submit` command of the n-th nomination of a round, as the gateway sends it."""
    unit, category, index = slot(n)
    return {
        "actor": f"nominator-{unit_code(unit)}",
        "roles": [NOMINATOR],
        "actor_unit_code": unit_code(unit),
        "nomination_id": str(uuid.uuid4()),
        "round_id": round_,
        "unit_code": unit_code(unit),
        "employee_no": employee_no(unit, index),
        "category": category.value,
        "deeds": DEEDS,
        "results": [{"metric": "节约成本", "value": "120000", "unit": "元"}],
        "evidence_links": ["https://intranet.example/evidence/123"],
        "recommendation": RECOMMENDATION,
    }


def open_round_payload(round_: str) -> dict[str, Any]:
    return {"actor": "office-1", "roles": [OFFICE], "round_id": round_}


def round_opened(round_: str) -> RoundOpened:
    now = datetime.now(UTC)
    return RoundOpened(
        round_id=round_,
        cadence=Cadence.QUARTERLY,
        deadline=now.replace(year=3999),
        opened_by="office-1",
        opened_at=now,
    )


def nomination_submitted(round_: str, n: int) -> NominationSubmitted:
    unit, category, index = slot(n)
    return NominationSubmitted(
        nomination_id=uuid.uuid4(),
        round_id=round_,
        category=category,
        nominee=NomineeSnapshot(
            employee_no=employee_no(unit, index),
            name=SURNAMES[unit] + GIVEN[index] + GIVEN[(unit + index) % 10],
            unit_code=unit_code(unit),
            unit_name=UNIT_NAMES[unit],
            position=POSITIONS[index],
        ),
        deeds=DEEDS,
        results=(MeasurableResult(metric="节约成本", value=Decimal("120000"), unit="元"),),
        evidence_links=("https://intranet.example/evidence/123",),
        recommendation=RECOMMENDATION,
        submitted_by=f"nominator-{unit_code(unit)}",
        submitted_at=datetime.now(UTC),
    )


def new_event(event: DomainEvent, actor: str = "bench") -> NewEvent:
    return NewEvent.of(event, EventMetadata(actor=actor))


def round_events(round_: str, nominations: int) -> list[DomainEvent]:
    """A round's stream: RoundOpened, then `nominations` NominationSubmitted."""
    events: list[DomainEvent] = [round_opened(round_)]
    events += [nomination_submitted(round_, n) for n in range(nominations)]
    return events


def nomination_payload() -> dict[str, Any]:
    """A NominationSubmitted's data as plain JSON values (for the peer's events)."""
    return nomination_submitted(round_id(0), 0).model_dump(mode="json")
