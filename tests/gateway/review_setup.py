"""A round brought to the review through the real services, for the review's gateway tests.

Four nominations of the harness's directory (two units), accounts for every review role, a
panel of four departments — one panelist belongs to unit WY, so may never score WY's
nominee — and helpers that play steps through NATS as the gateway would, by the account
whose role it is. The steps a test is about are played through the pages or the API.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.gateway.accounts import User, UserFields
from tests.gateway.harness import DEEDS, PASSWORD, ROUND, UNIT_A, UNIT_B, Harness, nomination_body
from tests.support import eventually

SHEET_HIGH = {"achievements": "95", "exemplary_role": "90", "innovation": "88", "recognition": "92"}
SHEET_LOW = {"achievements": "80", "exemplary_role": "78", "innovation": "75", "recognition": "82"}

# username: (display name, roles, unit, department, employee number)
ACCOUNTS: dict[str, tuple[str, set[str], str | None, str | None, str | None]] = {
    "office": ("工会办公室 周敏", {"office"}, None, None, None),
    "leader": ("领导小组组长 郑建国", {"leader"}, None, None, None),
    "discipline": ("纪检 吴涛", {"discipline"}, None, None, None),
    "staff": ("张小伟", {"staff"}, UNIT_A, None, "E102"),
    "auditor": ("审计 何志明", {"auditor"}, None, None, None),
    "wy": ("物业 李静", {"nominator"}, UNIT_A, None, None),
    "cy": ("餐饮 王强", {"nominator"}, UNIT_B, None, None),
    "p_go": ("综合办公室 陈刚", {"panelist"}, None, "general_office", "P001"),
    "p_fin": ("财务部 刘芳", {"panelist"}, None, "finance", None),
    "p_em": ("企业管理部 赵磊", {"panelist"}, None, "enterprise_management", "P003"),
    "p_wy": ("工会 孙丽", {"panelist"}, UNIT_A, "union", "P004"),
}
PANEL_EMPLOYEE_NO = {"p_fin": "P002"}  # the account has none: the office types it in


@dataclass
class ReviewRound:
    harness: Harness
    users: dict[str, User]
    nominations: dict[str, str] = field(default_factory=dict)  # employee_no -> id

    def id(self, username: str) -> str:
        return str(self.users[username].user_id)

    def who(self, username: str) -> dict[str, Any]:
        user = self.users[username]
        return {"actor": str(user.user_id), "roles": sorted(user.roles)}

    async def command(self, username: str, name: str, /, **payload: Any) -> Any:
        return await self.harness.rpc.command(
            "review", name, {"round_id": ROUND, **self.who(username), **payload}
        )

    async def query(self, name: str, /, **payload: Any) -> Any:
        return await self.harness.rpc.query("review", name, payload)

    async def accept_all(self, *, reject: str | None = None) -> None:
        for employee_no, nomination_id in self.nominations.items():
            if employee_no == reject:
                await self.command(
                    "office", "reject", nomination_id=nomination_id, reason="缺少单位盖章。"
                )
            else:
                await self.command("office", "accept", nomination_id=nomination_id)

    async def assign_panel(self) -> None:
        for username in ("p_go", "p_fin", "p_em", "p_wy"):
            user = self.users[username]
            await self.command(
                "office",
                "assign_panelist",
                panelist_id=str(user.user_id),
                employee_no=user.employee_no or PANEL_EMPLOYEE_NO[username],
                name=user.display_name,
                department=user.department,
                unit_code=user.unit_code,
            )

    async def score(self, username: str, employee_no: str, sheet: dict[str, str]) -> Any:
        return await self.command(
            username,
            "submit_score",
            nomination_id=self.nominations[employee_no],
            criteria=sheet,
        )

    async def score_everything(self) -> None:
        """Three departments score each nomination in review; 张伟 (E100) comes first."""
        for username in ("p_go", "p_fin", "p_em"):
            await self.score(username, "E100", SHEET_HIGH)
            await self.score(username, "E200", SHEET_LOW)

    async def close_nominations(self) -> None:
        """The office closes the round early (nothing is decided before), and the review hears."""
        await self.harness.rpc.command(
            "nomination", "close_round", {"round_id": ROUND, **self.who("office")}
        )

        async def closed() -> bool:
            candidates = await self.query("candidates", round_id=ROUND)
            return all(c["status"] != "submitted" for c in candidates)

        await eventually(closed, timeout=15, what="the review to hear the round closed")

    async def decide_and_announce(self) -> None:
        await self.close_nominations()
        await self.command(
            "leader", "decide_winners", category="striving", winners=[self.nominations["E100"]]
        )
        await self.command("office", "start_notice")

    async def object_to_the_winner(self) -> int:
        raised = await self.command(
            "staff",
            "raise_objection",
            nomination_id=self.nominations["E100"],
            raiser_name=self.users["staff"].display_name,
            text="听说节约成本的数据与班组台账不符，请核实。",
        )
        objection_no: int = raised["objection_no"]
        return objection_no


async def review_accounts(harness: Harness) -> ReviewRound:
    """The accounts of every review role (ACCOUNTS), and no nomination yet."""
    users: dict[str, User] = {}
    for username, (name, roles, unit, department, employee_no) in ACCOUNTS.items():
        user = await harness.state.accounts.create_user(
            username,
            PASSWORD,
            UserFields(name, frozenset(roles), unit, department, employee_no),
            actor="test",
        )
        harness.users[username] = users[username] = user
    return ReviewRound(harness, users)


CONSENT_TO_ALL = {"uses": ["notice", "honor_roll", "bulletin", "official_account", "poster_video"]}


async def review_round(
    harness: Harness, consents: dict[str, dict[str, Any] | None] | None = None
) -> ReviewRound:
    """Accounts, and four nominations in the review: 张伟 and 赵强 (striving), 李娜 (reform),
    刘洋 (dedication); none audited yet. Each nominee consented to every public use, unless
    `consents` (employee number -> consent, None: not recorded) says otherwise."""
    setup = await review_accounts(harness)
    for nominator, unit, employee_no, category in (
        ("wy", UNIT_A, "E100", "striving"),
        ("wy", UNIT_A, "E101", "reform"),
        ("cy", UNIT_B, "E200", "striving"),
        ("cy", UNIT_B, "E201", "dedication"),
    ):
        nomination_id = str(uuid.uuid4())
        consent = (consents or {}).get(employee_no, CONSENT_TO_ALL)
        body = nomination_body(employee_no, category=category, deeds=DEEDS, consent=consent)
        await harness.rpc.command(
            "nomination",
            "submit",
            {
                **body,
                "actor": setup.id(nominator),
                "roles": ["nominator"],
                "actor_unit_code": unit,
                "unit_code": unit,
                "nomination_id": nomination_id,
            },
        )
        setup.nominations[employee_no] = nomination_id

    async def all_in_review() -> bool:
        rows = await setup.query("candidates", round_id=ROUND)
        return len(rows) == len(setup.nominations)

    await eventually(all_in_review, timeout=15, what="the nominations to reach the review")
    return setup


async def after_the_notice(harness: Harness) -> datetime:
    """Move the one clock (services and gateway alike) just past the last notice's end.

    The gateway's sessions expire on the same clock: sign in again afterwards.
    """
    notices = await harness.rpc.query("review", "notices", {"round_id": ROUND})
    end = max(datetime.fromisoformat(n["ends_at"]) for n in notices)
    harness.clock.set(end + timedelta(minutes=1))
    return end


NOBODY = "00000000-0000-4000-8000-000000000000"  # no nomination, panelist or account


async def prepare_for_the_matrix(harness: Harness, ids: dict[str, str]) -> dict[str, str]:
    """For the authorisation matrix: n1 (WY) and nb (CY) accepted, and `nself` — 刘洋 (E201),
    nominated by CY — accepted too; the harness's panelist sits on the panel under employee
    number E201, so `nself` is the one nomination they may never score (themselves)."""
    users = harness.users
    office = {"actor": str(users["office"].user_id), "roles": ["office"]}
    nself = str(uuid.uuid4())
    await harness.rpc.command(
        "nomination",
        "submit",
        {
            **nomination_body("E201", category="dedication"),
            "actor": str(users["nominator_b"].user_id),
            "roles": ["nominator"],
            "actor_unit_code": UNIT_B,
            "unit_code": UNIT_B,
            "nomination_id": nself,
        },
    )
    wanted = {ids["n1"], ids["nb"], nself}

    async def arrived() -> bool:
        rows = await harness.rpc.query("review", "candidates", {"round_id": ROUND})
        return wanted <= {r["nomination_id"] for r in rows}

    await eventually(arrived, timeout=15, what="the nominations to reach the review")
    for nomination_id in sorted(wanted):
        await harness.rpc.command(
            "review", "accept", {"round_id": ROUND, **office, "nomination_id": nomination_id}
        )
    panelist = users["panelist"]
    await harness.rpc.command(
        "review",
        "assign_panelist",
        {
            "round_id": ROUND,
            **office,
            "panelist_id": str(panelist.user_id),
            "employee_no": "E201",
            "name": panelist.display_name,
            "department": panelist.department,
        },
    )
    return {"nself": nself, "panelist_id": str(panelist.user_id), "nobody": NOBODY}
