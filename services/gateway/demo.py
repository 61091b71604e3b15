"""Demo accounts, one per role (two nominators, four panelists), for the run command's demo.

Never created outside the demo: a real installation starts with `flowers users create-admin`.
The units and the staff member's employee number match deploy/demo.py's directory.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.gateway.accounts import AccountStore, UserFields
from services.gateway.config import GatewaySettings
from services.gateway.database import open_database
from shared.settings import Settings

DEMO_PASSWORD = "red-flower-2026"
DEMO_ACTOR = "demo-loader"


@dataclass(frozen=True)
class DemoAccount:
    username: str
    display_name: str
    roles: frozenset[str]
    unit_code: str | None = None
    department: str | None = None
    employee_no: str | None = None


DEMO_ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount("admin", "系统管理员", frozenset({"admin"})),
    DemoAccount("office", "工会办公室 周敏", frozenset({"office"})),
    DemoAccount("nominator", "物业服务中心 李静", frozenset({"nominator"}), unit_code="WY"),
    DemoAccount("nominator2", "餐饮服务中心 王强", frozenset({"nominator"}), unit_code="CY"),
    # Employee numbers P001–P004 are the ones deploy/demo_round.py's panel uses.
    DemoAccount(
        "panelist1",
        "综合办公室 陈刚",
        frozenset({"panelist"}),
        department="general_office",
        employee_no="P001",
    ),
    DemoAccount(
        "panelist2",
        "财务部 刘芳",
        frozenset({"panelist"}),
        department="finance",
        employee_no="P002",
    ),
    DemoAccount(
        "panelist3",
        "企业管理部 赵磊",
        frozenset({"panelist"}),
        department="enterprise_management",
        employee_no="P003",
    ),
    DemoAccount(
        "panelist4",
        "工会 孙丽（物业服务中心）",
        frozenset({"panelist"}),
        unit_code="WY",
        department="union",
        employee_no="P004",
    ),
    DemoAccount("discipline", "纪检 吴涛", frozenset({"discipline"})),
    DemoAccount("leader", "领导小组组长 郑建国", frozenset({"leader"})),
    DemoAccount("staff", "职工 张伟", frozenset({"staff"}), unit_code="WY", employee_no="HQ1001"),
    DemoAccount(
        "publicity", "党群工作部 黄海燕", frozenset({"publicity"}), department="party_mass"
    ),
    DemoAccount("payroll", "财务部 薪酬 林文博", frozenset({"payroll"}), department="finance"),
    DemoAccount("auditor", "审计 何志明", frozenset({"auditor"})),
)


async def seed_demo_accounts_into(
    accounts: AccountStore, password: str = DEMO_PASSWORD
) -> list[DemoAccount]:
    """Create the demo accounts that do not exist yet; return those created (idempotent)."""
    created: list[DemoAccount] = []
    for demo in DEMO_ACCOUNTS:
        if await accounts.by_username(demo.username) is not None:
            continue
        fields = UserFields(
            demo.display_name, demo.roles, demo.unit_code, demo.department, demo.employee_no
        )
        await accounts.create_user(demo.username, password, fields, actor=DEMO_ACTOR)
        created.append(demo)
    return created


async def seed_demo_accounts(
    settings: Settings,
    gateway_settings: GatewaySettings | None = None,
    password: str = DEMO_PASSWORD,
) -> list[DemoAccount]:
    """Open the gateway's database (creating it if needed) and seed the demo accounts."""
    pool = await open_database(settings)
    try:
        return await seed_demo_accounts_into(
            AccountStore(pool, gateway_settings or GatewaySettings()), password
        )
    finally:
        await pool.close()
