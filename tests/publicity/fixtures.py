"""A fixed published result of 2026-Q3 (five winners), shared by the publicity tests.

The dedication winner's deeds carry a `<script>` tag and both kinds of quotes: every
rendering must show them as text.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from uuid import UUID
from zoneinfo import ZoneInfo

from shared.contracts.common import Category
from shared.contracts.nomination import MeasurableResult, PublicityConsent
from shared.contracts.review import PublishedWinner, ResultPublished, WinnerRevoked

SH = ZoneInfo("Asia/Shanghai")
ROUND = "2026-Q3"
PUBLISHED_AT = datetime(2026, 9, 28, 16, 30, tzinfo=SH)  # a Monday; October 1-7 are holidays
DRAFTED_AT = datetime(2026, 9, 28, 16, 30, 5, tzinfo=SH)
RESULT_EVENT_ID = UUID("00000000-0000-4000-8000-00000000e001")

N_STRIVING = UUID("00000000-0000-4000-8000-000000000001")
N_VALUE = UUID("00000000-0000-4000-8000-000000000002")
N_DEDICATION = UUID("00000000-0000-4000-8000-000000000003")
N_REFORM = UUID("00000000-0000-4000-8000-000000000004")
N_HARD_WORK = UUID("00000000-0000-4000-8000-000000000005")

HOSTILE_DEEDS = (
    '她常说"把病人当亲人"，把<script>alert("xss")</script>当作一段普通文字；'
    "面对疫情，她连续值守四十天，协调转运物资二百余批次。在她的带动下，科室被评为‘先进集体’。"
)


def winner(
    nomination_id: UUID,
    category: Category,
    employee_no: str,
    name: str,
    unit_code: str,
    unit_name: str,
    position: str,
    deeds: str,
    results: tuple[MeasurableResult, ...] = (),
    score: str = "90.00",
) -> PublishedWinner:
    return PublishedWinner(
        category=category,
        nomination_id=nomination_id,
        employee_no=employee_no,
        name=name,
        unit_code=unit_code,
        unit_name=unit_name,
        position=position,
        deeds=deeds,
        results=results,
        score=Decimal(score),
    )


WINNERS = (
    winner(
        N_STRIVING,
        Category.STRIVING,
        "E1001",
        "张伟",
        "PS",
        "物业服务中心",
        "维修班班长",
        "带领维修班完成老旧小区供暖管网改造，连续四十五天奋战在一线。"
        "改造后供暖投诉下降九成，居民送来锦旗。\n他还总结出“管网快修六步法”，在全公司推广。",
        (MeasurableResult(metric="节约成本", value=Decimal("120000"), unit="CNY"),),
        "92.50",
    ),
    winner(
        N_VALUE,
        Category.VALUE_CREATION,
        "E2002",
        "李娜",
        "CY",
        "餐饮服务中心",
        "厨师长",
        "主动对接外部单位承接团餐业务，全年新增对外创效收入八十余万元，"
        "同时优化采购流程，食材损耗率由百分之六降至百分之三。",
        (
            MeasurableResult(metric="对外创效", value=Decimal("812000.00"), unit="CNY"),
            MeasurableResult(metric="损耗率下降", value=Decimal("3.5"), unit="%"),
        ),
        "88.75",
    ),
    winner(
        N_DEDICATION,
        Category.DEDICATION,
        "E3003",
        "王芳",
        "YL",
        "医疗服务中心",
        "护士长",
        HOSTILE_DEEDS,
        (),
        "90.00",
    ),
    winner(
        N_REFORM,
        Category.REFORM,
        "E4004",
        "赵强",
        "WY",
        "物资供应站",
        "站长",
        "推行物资集中采购和仓储信息化改革，库存周转天数由六十天缩短到二十五天，"
        "盘活闲置物资三百余万元。",
        (MeasurableResult(metric="盘活物资", value=Decimal("3000000"), unit="CNY"),),
        "86.40",
    ),
    winner(
        N_HARD_WORK,
        Category.HARD_WORK,
        "E5005",
        "刘洋",
        "JX",
        "机修厂",
        "钳工",
        "扎根机修一线二十年，累计完成设备大修三百余台次，带出徒弟十二名，其中五人成为技术骨干。",
        (),
        "85.10",
    ),
)

RESULT = ResultPublished(
    round_id=ROUND,
    categories=tuple(Category),
    winners=WINNERS,
    published_by="office-1",
    published_at=PUBLISHED_AT,
)

CONSENTED = {w.nomination_id: PublicityConsent.to_all() for w in WINNERS}
"""Every winner consented to every public use (issue 18: consent to publicity)."""


def revocation(nomination_id: UUID = N_REFORM, at: datetime | None = None) -> WinnerRevoked:
    w = next(w for w in WINNERS if w.nomination_id == nomination_id)
    return WinnerRevoked(
        round_id=ROUND,
        category=w.category,
        nomination_id=w.nomination_id,
        employee_no=w.employee_no,
        name=w.name,
        reason="经查，申报材料中的部分业绩数据不实。",
        revoked_by="leader-1",
        revoked_at=at or datetime(2026, 10, 20, 10, 0, tzinfo=SH),
    )
