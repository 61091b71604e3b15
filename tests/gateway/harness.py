"""A gateway with the real services (nomination, review, rewards, publicity, notification)
behind it, for the gateway and browser tests.

A fresh NATS server and fresh databases per test (the `settings` fixture); the services run
in-process on one fixed clock, shared with the gateway; the gateway app runs its real lifespan.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from fastapi import FastAPI

from services.gateway.accounts import User, UserFields
from services.gateway.app import create_app
from services.gateway.auth import SESSION_COOKIE
from services.gateway.config import GatewaySettings
from services.gateway.state import GatewayState
from services.nomination.app import build_runtime
from services.notification.app import build_runtime as build_notification
from services.publicity.app import build_runtime as build_publicity
from services.review.app import build_runtime as build_review
from services.rewards.app import build_runtime as build_rewards
from shared.clock import SHANGHAI, FixedClock
from shared.rpc import RpcClient
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.support import rpc_client

NOW = datetime(2026, 11, 2, 10, 0, tzinfo=SHANGHAI)
ROUND = "2026-Q4"
UNIT_A, UNIT_B = "WY", "CY"
PASSWORD = "correct-horse-1"
DEEDS = (
    "该同志扎根物业维修一线十余年，带领班组连续三年零投诉，"
    "主动承担老旧小区管网改造任务，节约维修成本十二万元，深受住户好评。"
)
DIRECTORY = [
    ("WY", "物业服务中心", "E100", "张伟", "维修工"),
    ("WY", "物业服务中心", "E101", "李娜", "客服专员"),
    ("WY", "物业服务中心", "E102", "王芳", "楼宇管家"),
    ("CY", "餐饮服务中心", "E200", "赵强", "厨师长"),
    ("CY", "餐饮服务中心", "E201", "刘洋", "面点师"),
]
FAST_HASHING = GatewaySettings(
    argon2_time_cost=1,
    argon2_memory_kib=8192,
    argon2_parallelism=1,
    signin_max_failures=3,
    signin_max_failures_per_user=5,
    signin_max_failures_per_address=6,
    signin_window_s=600,
    signin_lockout_s=600,
)
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')

# One account per role, and a second nominator of another unit.
ROLE_ACCOUNTS: dict[str, dict[str, Any]] = {
    "staff": {"roles": {"staff"}},
    "nominator": {"roles": {"nominator"}, "unit_code": UNIT_A},
    "nominator_b": {"roles": {"nominator"}, "unit_code": UNIT_B},
    "office": {"roles": {"office"}},
    "panelist": {"roles": {"panelist"}, "department": "finance"},
    "discipline": {"roles": {"discipline"}},
    "leader": {"roles": {"leader"}},
    "publicity": {"roles": {"publicity"}},
    "payroll": {"roles": {"payroll"}},
    "auditor": {"roles": {"auditor"}},
    "admin": {"roles": {"admin"}},
}


def csrf_in(html: str) -> str:
    match = CSRF_INPUT.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


@dataclass
class Harness:
    app: FastAPI
    nomination: ServiceRuntime
    clock: FixedClock
    users: dict[str, User] = field(default_factory=dict)
    review: ServiceRuntime | None = None  # on the same clock: advance it past a notice's end
    rewards: ServiceRuntime | None = None
    publicity: ServiceRuntime | None = None
    notification: ServiceRuntime | None = None

    @property
    def state(self) -> GatewayState:
        state: GatewayState = self.app.state.gw
        return state

    @property
    def rpc(self) -> RpcClient:
        """Signs for the identity each request names (seeding data as its users would)."""
        return rpc_client(self.state.nc)

    async def account(
        self,
        username: str,
        roles: set[str],
        unit_code: str | None = None,
        department: str | None = None,
        display_name: str | None = None,
    ) -> User:
        user = await self.state.accounts.create_user(
            username,
            PASSWORD,
            UserFields(display_name or f"测试 {username}", frozenset(roles), unit_code, department),
            actor="test",
        )
        self.users[username] = user
        return user

    async def role_accounts(self) -> dict[str, User]:
        for username, spec in ROLE_ACCOUNTS.items():
            await self.account(username, **spec)
        return self.users

    def client(self, *, https: bool = False, ip: str = "10.0.0.1") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=(ip, 50000))
        scheme = "https" if https else "http"
        return httpx.AsyncClient(
            transport=transport, base_url=f"{scheme}://testserver", follow_redirects=False
        )

    async def sign_in(
        self, client: httpx.AsyncClient, username: str, password: str = PASSWORD
    ) -> httpx.Response:
        page = await client.get("/login")
        return await client.post(
            "/login",
            data={"username": username, "password": password, "csrf_token": csrf_in(page.text)},
        )

    async def signed_in(self, username: str, **kwargs: Any) -> httpx.AsyncClient:
        client = self.client(**kwargs)
        response = await self.sign_in(client, username)
        assert response.status_code == 303, response.text
        assert client.cookies.get(SESSION_COOKIE)
        return client

    async def token(self, username: str) -> str:
        _, raw = await self.state.accounts.create_token(
            self.users[username].user_id, "test", actor="test"
        )
        return raw

    def csrf_for(self, client: httpx.AsyncClient) -> str:
        return self.state.csrf.token(client.cookies[SESSION_COOKIE])


async def seed_directory_and_round(rpc: RpcClient) -> None:
    admin = {"actor": "test", "roles": ["admin", "office"]}
    rows = [
        {"unit_code": u, "unit_name": n, "employee_no": e, "name": p, "position": pos}
        for u, n, e, p, pos in DIRECTORY
    ]
    await rpc.command("nomination", "import_directory", {**admin, "rows": rows})
    await rpc.command("nomination", "open_round", {**admin, "round_id": ROUND})


@asynccontextmanager
async def running_gateway(
    settings: Settings, gateway_settings: GatewaySettings = FAST_HASHING
) -> AsyncIterator[Harness]:
    clock = FixedClock(NOW)
    nomination = build_runtime(settings, clock=clock)
    review = build_review(settings, clock=clock)
    rewards = build_rewards(settings, clock=clock)
    publicity = build_publicity(settings, clock=clock)
    notification = build_notification(settings, clock=clock)
    await nomination.start()
    try:
        await review.start()
        await rewards.start()
        await publicity.start()
        await notification.start()
        app = create_app(settings, gateway_settings, clock)
        async with app.router.lifespan_context(app):
            harness = Harness(
                app,
                nomination,
                clock,
                review=review,
                rewards=rewards,
                publicity=publicity,
                notification=notification,
            )
            await seed_directory_and_round(harness.rpc)
            yield harness
    finally:
        await notification.stop()
        await publicity.stop()
        await rewards.stop()
        await review.stop()
        await nomination.stop()


def nomination_body(employee_no: str = "E100", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "round_id": ROUND,
        "employee_no": employee_no,
        "category": "striving",
        "deeds": DEEDS,
        "results": [{"metric": "节约成本", "value": "120000", "unit": "元"}],
        "evidence_links": [],
        "recommendation": "经单位研究，同意推荐。",
    }
    body.update(overrides)
    return body
