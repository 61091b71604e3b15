"""Play one whole past round through the real commands, so every page has real content.

The four services run in-process on a clock set in the past (the round's own dates), with
their real consumers and relays over the real NATS and PostgreSQL; every step is a NATS
command as the gateway would send it, each by the demo account whose role it is.
Afterwards the services stop and the run command starts them as processes on the system
clock, continuing from the same databases and streams.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from nats.aio.client import Client as NatsClient

from services.nomination.app import build_runtime as nomination_runtime
from services.publicity.app import build_runtime as publicity_runtime
from services.review.app import build_runtime as review_runtime
from services.rewards.app import build_runtime as rewards_runtime
from shared.bus import connect_nats
from shared.clock import SHANGHAI, FixedClock
from shared.contracts.common import Category
from shared.contracts.nomination import ConsentUse
from shared.credentials import identity_signer, nats_seed
from shared.identity import Identity
from shared.rounds import RoundPeriod
from shared.rpc import RpcClient, SelfSigningRpcClient
from shared.service import ServiceRuntime
from shared.settings import Settings

Say = Callable[[str], None]

DEEDS = {
    Category.STRIVING: (
        "面对年度供暖改造的紧张工期，{name}主动请缨担任突击队长，连续四十天坚守在管网施工一线，"
        "带领班组攻克老旧管线定位难、冬季施工窗口短等难题，提前十二天完成全部改造任务。"
    ),
    Category.VALUE_CREATION: (
        "{name}牵头拓展对外服务市场，新签社区物业和团餐服务合同六份，全年对外创收三百二十万元，"
        "同比增长百分之二十八，为分公司“对外创效”目标作出了突出贡献。"
    ),
    Category.DEDICATION: (
        "{name}扎根岗位二十余年，无论节假日还是深夜，只要职工群众有需要就第一时间赶到现场，"
        "全年义务加班三百余小时，累计为职工家庭解决急难愁盼问题一百余件，深受大家信赖。"
    ),
    Category.REFORM: (
        "{name}大胆推进班组管理改革，推行“积分制+看板管理”，重新梳理作业流程十二项，"
        "使维修响应时间由平均四小时缩短到一点五小时，职工满意度提升到百分之九十六。"
    ),
    Category.HARD_WORK: (
        "{name}立足本职、埋头苦干，带头开展修旧利废和节能降耗活动，全年修复废旧设备配件"
        "二百八十余件，节约材料费用十五万元，以实干实绩诠释了“对内降本”的责任担当。"
    ),
}
RESULTS = {
    Category.STRIVING: ("提前完工天数", "12", "天"),
    Category.VALUE_CREATION: ("对外创收", "3200000", "元"),
    Category.DEDICATION: ("义务加班", "300", "小时"),
    Category.REFORM: ("维修响应时间缩短", "2.5", "小时"),
    Category.HARD_WORK: ("节约材料费用", "150000", "元"),
}
# A flower added to Category later gets these (the demo is built from the category list).
GENERIC_DEEDS = (
    "{name}在本季度工作中表现突出，围绕“{flower}”的评选要求，立足岗位、勇挑重担，"
    "带领班组完成多项急难险重任务，工作业绩得到职工群众和服务对象的一致认可，发挥了示范带头作用。"
)
GENERIC_RESULT = ("完成重点任务", "5", "项")
PANEL_SCORES = (  # achievements, exemplary role, innovation, recognition
    ("92", "88", "85", "90"),
    ("85", "90", "80", "86"),
    ("78", "82", "88", "80"),
    ("88", "76", "79", "84"),
)


def at(period: RoundPeriod, month_offset: int, day: int, hour: int = 9) -> datetime:
    """A moment `month_offset` months after the round's last month (Shanghai time)."""
    month = period.last_month + month_offset
    year = period.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    return datetime(year, month, day, hour, 0, tzinfo=SHANGHAI)


Wait = Callable[[Callable[[], Awaitable[bool]], str], Awaitable[None]]


DEMO_CONSENT = {
    False: [u.value for u in ConsentUse],
    True: [ConsentUse.NOTICE.value, ConsentUse.HONOR_ROLL.value],
}


async def wait_for(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 60) -> None:
    """Poll a condition with a deadline (the services work asynchronously)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise TimeoutError(f"demo: timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def play_demo(
    settings: Settings,
    directory: list[dict[str, Any]],
    past: RoundPeriod,
    current: RoundPeriod,
    now: datetime,
    users: dict[str, str],
    say: Say,
) -> None:
    """Import the directory, play the past round on its own dates, open the current one.

    `users` maps the demo usernames to their gateway user ids (the actors).
    """
    clock = FixedClock(at(past, -2, 1))
    runtimes: list[ServiceRuntime] = [
        build(settings, clock=clock)
        for build in (nomination_runtime, review_runtime, rewards_runtime, publicity_runtime)
    ]
    for runtime in runtimes:
        await runtime.start()
    # The demo's users act as they would through the gateway: its NATS user (the only one
    # besides the operator that may send commands) and its key signing each request's
    # identity (the one the request names).
    nc: NatsClient | None = None
    try:
        nc = await connect_nats(
            settings.nats_url,
            name="flowers-demo",
            attempts=settings.connect_attempts,
            seed=nats_seed(settings, "gateway"),
            user="gateway",
        )
        rpc = SelfSigningRpcClient(
            nc,
            timeout=60,
            signer=identity_signer(settings, "gateway"),
            # A request that names nobody (a lookup) is the demo's administrator's.
            identity=Identity(subject=users["admin"], roles=frozenset({"admin"})),
        )
        admin = {"actor": users["admin"], "roles": ["admin"]}
        await rpc.command("nomination", "import_directory", {**admin, "rows": directory})
        say(f"  directory: {len(directory)} employees imported")
        await _play(rpc, clock, past, users, say, wait_for)
        clock.set(now)
        await rpc.command(
            "nomination",
            "open_round",
            {"actor": users["office"], "roles": ["office"], "round_id": current.id},
        )
        say(f"  {current.id}: round opened for nominations")
        for runtime in runtimes:  # everything relayed before the processes take over
            await wait_for(_relayed(runtime), f"{runtime.service}'s relay")
    finally:
        if nc is not None:
            await nc.close()
        for runtime in reversed(runtimes):
            await runtime.stop()


def _relayed(runtime: ServiceRuntime) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        assert runtime.relay is not None
        return await runtime.relay.checkpoint() == await runtime.store.head()

    return check


async def _play(
    rpc: RpcClient,
    clock: FixedClock,
    period: RoundPeriod,
    users: dict[str, str],
    say: Say,
    wait: Wait,
) -> None:
    round_id = period.id

    def who(username: str, *roles: str, **extra: Any) -> dict[str, Any]:
        return {"actor": users[username], "roles": list(roles), **extra}

    office = who("office", "office")
    await rpc.command("nomination", "open_round", {**office, "round_id": round_id})
    say(f"  {round_id}: round opened")

    # Each unit nominates its staff for the flowers, before the deadline.
    clock.set(at(period, 0, 10))
    employees = await rpc.query("nomination", "employees", {})
    by_unit: dict[str, list[dict[str, Any]]] = {}
    for employee in employees:
        by_unit.setdefault(employee["unit_code"], []).append(employee)
    nominations: list[tuple[str, Category, str]] = []
    categories = list(Category)
    for u, (unit_code, staff) in enumerate(sorted(by_unit.items())):
        for k in range(3):
            category = categories[(u + k) % len(categories)]
            employee = staff[k + 3]
            nomination_id = str(uuid.uuid4())
            template = DEEDS.get(category, GENERIC_DEEDS.replace("{flower}", category.label_zh))
            metric, value, unit = RESULTS.get(category, GENERIC_RESULT)
            await rpc.command(
                "nomination",
                "submit",
                {
                    "actor": f"demo-nominator-{unit_code}",
                    "roles": ["nominator"],
                    "actor_unit_code": unit_code,
                    "nomination_id": nomination_id,
                    "round_id": round_id,
                    "unit_code": unit_code,
                    "employee_no": employee["employee_no"],
                    "category": category.value,
                    "deeds": template.format(name=employee["name"]),
                    "results": [{"metric": metric, "value": value, "unit": unit}],
                    "evidence_links": [],
                    "recommendation": "经单位党政班子研究，同意推荐。",
                    # Most nominees consent to every public use; each unit's third only to
                    # the notice and the honor roll (README "Consent to publicity").
                    "consent": {"uses": DEMO_CONSENT[k == 2]},
                },
            )
            nominations.append((nomination_id, category, unit_code))
    say(f"  {round_id}: {len(nominations)} nominations from {len(by_unit)} units")

    clock.set(at(period, 0, 26))
    await rpc.command("nomination", "close_round", {**office, "round_id": round_id})

    async def candidates_arrived() -> bool:
        rows = await rpc.query("review", "candidates", {"round_id": round_id})
        return len(rows) == len(nominations) and all(r["status"] == "closed" for r in rows)

    await wait(candidates_arrived, "review to receive the closed round")

    # The office audits: all accepted but one, rejected with a reason the unit sees.
    clock.set(at(period, 0, 28))
    review = {"round_id": round_id}
    for i, (nomination_id, _, _) in enumerate(nominations):
        if i == 5:
            await rpc.command(
                "review",
                "reject",
                {
                    **review,
                    **office,
                    "nomination_id": nomination_id,
                    "reason": "事迹材料缺少量化业绩佐证，请下季度补充后再报。",
                },
            )
        else:
            await rpc.command(
                "review", "accept", {**review, **office, "nomination_id": nomination_id}
            )
    panel = [
        # As the demo accounts have them (services/gateway/demo.py).
        ("panelist1", "general_office", "P001", "陈刚", None),
        ("panelist2", "finance", "P002", "刘芳", None),
        ("panelist3", "enterprise_management", "P003", "赵磊", None),
        ("panelist4", "union", "P004", "孙丽", "WY"),  # never scores WY's nominees
    ]
    for username, department, employee_no, name, own_unit in panel:
        await rpc.command(
            "review",
            "assign_panelist",
            {
                **review,
                **office,
                "panelist_id": users[username],
                "employee_no": employee_no,
                "name": name,
                "department": department,
                "unit_code": own_unit,
            },
        )
    say(f"  {round_id}: audited, panel of {len(panel)} departments assigned")

    clock.set(at(period, 1, 8))
    for p, (username, department, _, _, own_unit) in enumerate(panel):
        for i, (nomination_id, _, unit_code) in enumerate(nominations):
            if i == 5 or unit_code == own_unit:
                continue
            a, e, n, r = PANEL_SCORES[(p + i) % len(PANEL_SCORES)]
            bump = str(i % 7)
            await rpc.command(
                "review",
                "submit_score",
                {
                    **review,
                    **who(username, "panelist"),
                    "actor_department": department,
                    "nomination_id": nomination_id,
                    "criteria": {
                        "achievements": str(int(a) + int(bump)),
                        "exemplary_role": e,
                        "innovation": n,
                        "recognition": r,
                    },
                },
            )
    say(f"  {round_id}: every accepted nomination scored by panelists of 3-4 departments")

    # The leader decides from the ranking; the notice starts.
    clock.set(at(period, 1, 9))
    leader = who("leader", "leader")
    ranking = await rpc.query(
        "review",
        "ranking",
        {"round_id": round_id, "viewer": users["leader"], "viewer_roles": ["leader"]},
    )
    winners: list[str] = []
    for entry in ranking:
        ranked = [e for e in entry["entries"] if e.get("rank") is not None]
        if not ranked:
            continue
        best = min(ranked, key=lambda e: e["rank"])
        winners.append(best["nomination_id"])
        await rpc.command(
            "review",
            "decide_winners",
            {**review, **leader, "category": entry["category"], "winners": [best["nomination_id"]]},
        )
    await rpc.command("review", "start_notice", {**review, **office})
    say(f"  {round_id}: {len(winners)} winners decided, public notice started")
    # The notice's length is a setting (working days on the calendar): the demo's dates
    # follow the notice it started, never an assumed length.
    [notice] = await rpc.query("review", "notices", {"round_id": round_id})
    starts = datetime.fromisoformat(notice["starts_at"])
    ends = datetime.fromisoformat(notice["ends_at"])

    # A staff member objects during the notice; the office investigates and dismisses it.
    clock.set(min(max(at(period, 1, 12), starts), ends))
    objection = await rpc.command(
        "review",
        "raise_objection",
        {
            **review,
            **who("staff", "staff"),
            "nomination_id": winners[0],
            "raiser_name": "张伟",
            "text": "听说该同志的加班时长统计有出入，请核实。",
        },
    )
    await rpc.command(
        "review",
        "record_objection_note",
        {
            **review,
            **office,
            "objection_no": objection["objection_no"],
            "note": "经查阅考勤记录与班组台账，加班时长统计准确。",
        },
    )
    await rpc.command(
        "review",
        "resolve_objection",
        {
            **review,
            **office,
            "objection_no": objection["objection_no"],
            "outcome": "dismissed",
            "resolution": "经核实，反映问题不属实，维持原评选结果。",
        },
    )

    clock.set(max(at(period, 1, 20), ends + timedelta(minutes=1)))
    await rpc.command("review", "publish_result", {**review, **office})
    say(f"  {round_id}: objection dismissed, result published")

    async def adjustments_issued() -> bool:
        feed = await rpc.query("rewards", "adjustments", {"after": 0, "limit": 100})
        return len(feed["items"]) == len(winners)

    await wait(adjustments_issued, "rewards to issue the payroll adjustments")
    clock.set(at(period, 1, 25))
    feed = await rpc.query("rewards", "adjustments", {"after": 0, "limit": 100})
    for line in feed["items"]:
        await rpc.command(
            "rewards",
            "acknowledge",
            {**who("payroll", "payroll"), "adjustment_id": line["adjustment_id"]},
        )
    say(f"  {round_id}: {len(winners)} awards paid and acknowledged by payroll")

    async def drafted() -> bool:
        return len(await rpc.query("publicity", "drafts", {"round_id": round_id})) >= 4

    await wait(drafted, "publicity to draft the materials")
    publicity = who("publicity", "publicity")
    for draft in await rpc.query("publicity", "drafts", {"round_id": round_id}):
        await rpc.command(
            "publicity", "approve", {**publicity, "material_id": draft["material_id"]}
        )
        for channel in draft.get("channels", [])[:1]:
            await rpc.command(
                "publicity",
                "publish",
                {**publicity, "material_id": draft["material_id"], "channel": channel},
            )
    say(f"  {round_id}: publicity drafts approved and published")
