"""Demo data for the run command: a logistics branch's eight units, its staff, an open round.

Loaded on the first start only (when the directory is empty), through the same NATS
commands an operator would use, so the demo exercises the real rules.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime
from typing import Any

from services.gateway.demo import DEMO_ACCOUNTS
from shared.postgres import create_pool
from shared.rounds import Cadence, RoundPeriod
from shared.settings import Settings

UNITS: dict[str, tuple[str, tuple[str, ...]]] = {
    "WY": ("物业服务中心", ("物业管理员", "客服专员", "安保队长", "水电工", "楼宇管家")),
    "CY": ("餐饮服务中心", ("厨师长", "面点师", "配餐员", "食品安全员", "采购员")),
    "WX": ("维修中心", ("钳工", "电焊工", "机修工", "电工", "维修班长")),
    "LH": ("绿化保洁中心", ("园林工", "保洁员", "绿化技术员", "保洁班长", "环卫车司机")),
    "YS": ("运输队", ("货车司机", "调度员", "车辆维修工", "安全员", "客车司机")),
    "GR": ("供热供水中心", ("锅炉工", "水质化验员", "管网维修工", "热力站值班员", "泵房操作工")),
    "SM": ("商贸物流中心", ("仓库保管员", "物流专员", "销售经理", "叉车司机", "统计员")),
    "SQ": ("社区服务中心", ("社区网格员", "养老护理员", "文体活动专员", "便民服务员", "社工")),
}

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾田董袁潘蒋蔡余杜"
    "叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛段雷侯龙史陶"
)
GIVEN_NAMES = [
    "伟",
    "芳",
    "娜",
    "秀英",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀兰",
    "霞",
    "平",
    "刚",
    "桂英",
    "建国",
    "建华",
    "志强",
    "志明",
    "海燕",
    "海涛",
    "红梅",
    "春梅",
    "冬梅",
    "丽娟",
    "晓明",
    "晓东",
    "晓燕",
    "立新",
    "立军",
    "文博",
    "文静",
    "玉兰",
    "玉珍",
    "金凤",
    "金龙",
    "宏伟",
    "宏亮",
    "永强",
    "永红",
    "国庆",
    "国栋",
    "德华",
    "德胜",
    "淑珍",
    "淑华",
    "卫东",
    "卫国",
    "振华",
    "振兴",
    "亚军",
    "春燕",
    "秋菊",
    "凤英",
    "桂兰",
    "保国",
    "庆华",
    "学军",
    "俊杰",
    "思远",
    "子涵",
    "雨桐",
    "浩然",
    "梓萱",
    "一鸣",
    "佳怡",
    "晨阳",
]


def demo_directory(per_unit: int = 20, seed: int = 2026) -> list[dict[str, Any]]:
    """About 160 employees with realistic Chinese names and positions (deterministic)."""
    rng = random.Random(seed)
    names: set[str] = set()
    rows: list[dict[str, Any]] = []
    number = 1000
    for unit_code, (unit_name, positions) in UNITS.items():
        for i in range(per_unit):
            while True:
                name = rng.choice(SURNAMES) + rng.choice(GIVEN_NAMES)
                if name not in names:
                    names.add(name)
                    break
            number += 1
            rows.append(
                {
                    "employee_no": f"HQ{number}",
                    "name": name,
                    "unit_code": unit_code,
                    "unit_name": unit_name,
                    "position": positions[i % len(positions)],
                    "active": True,
                }
            )
    return rows


def current_round(now: datetime, cadence: Cadence, deadline_day: int) -> RoundPeriod:
    """The round whose window is still open at `now` (the next one past the deadline)."""
    period = RoundPeriod.containing(now, cadence)
    if period.deadline(deadline_day) < now:
        period = period.next()
    return period


async def load_demo(settings: Settings, now: datetime, say: Callable[[str], None]) -> bool:
    """On the first start (an empty directory), load the whole demo; False if data exists."""
    from deploy.demo_round import play_demo
    from services.gateway.accounts import AccountStore
    from services.gateway.config import GatewaySettings
    from services.gateway.database import open_database
    from services.gateway.demo import seed_demo_accounts_into

    pool = await create_pool(settings.database_url_for("nomination"))
    try:
        if await pool.fetchval("SELECT count(*) FROM units"):
            return False
    finally:
        await pool.close()
    say("First start: loading the demo (a whole past round through the real commands)…")
    gateway = await open_database(settings)
    try:
        accounts = AccountStore(gateway, GatewaySettings())
        await seed_demo_accounts_into(accounts)
        users: dict[str, str] = {}
        for demo in DEMO_ACCOUNTS:
            user = await accounts.by_username(demo.username)
            assert user is not None
            users[demo.username] = str(user.user_id)
    finally:
        await gateway.close()
    current = current_round(now, Cadence(settings.cadence), settings.deadline_day)
    await play_demo(settings, demo_directory(), current.previous(), current, now, users, say)
    return True
