"""An employee's access request (PIPL art. 45): everything the system holds about them, as one
.xlsx workbook the union office hands to the employee.

Each service answers `employee_data` (shared/contracts/subject_access.py) for the office only,
on the identity the gateway signs; the gateway adds what it holds itself (the accounts made for
the employee, their sign-ins, changes to their accounts, and who looked at their data). One
sheet per kind, Chinese headers, times in Beijing time in Chinese form; a kind with nothing in it
still has its sheet, saying so, so the employee sees what was searched.

What is left out on purpose: other people's data. As a nominator the employee sees which
nominations they submitted, not whom; scores and objections concerning them are shown without
the panelist or objector; publicity materials naming them are listed, not copied (they name the
other winners too).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from typing import Any, Protocol

import asyncpg
from fastapi import Request
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from services.gateway import access_log
from services.gateway.access_log import WHAT_LABELS, AccessFilter, search
from services.gateway.auth import Principal
from services.gateway.downloads import REASON_CODE_LABELS, TAX_LABELS
from services.gateway.i18n import DEPARTMENT_LABELS, ROLE_LABELS
from services.gateway.problems import Problem
from services.gateway.publicity import KIND_LABELS
from services.gateway.state import gw_state, services
from shared.clock import format_zh, format_zh_date
from shared.contracts.common import CATEGORY_LABELS_ZH, Category
from shared.contracts.subject_access import QUERY, Rows, plain_rows

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SOURCES = ("nomination", "review", "rewards", "publicity", "notification")

# (kind, sheet title), in the order a reader goes through them.
SHEETS: tuple[tuple[str, str], ...] = (
    ("directory", "名册信息"),
    ("nominations", "被提名记录"),
    ("nominations_submitted", "本人提交的提名"),
    ("audits", "资格审核"),
    ("scores", "评委评分"),
    ("vetoes", "一票否决"),
    ("winners", "拟获奖情况"),
    ("objections", "针对本人的异议"),
    ("objections_raised", "本人提出的异议"),
    ("panelist", "担任评委"),
    ("scores_given", "本人所评分数"),
    ("revocations", "奖励撤销"),
    ("awards", "获奖记录"),
    ("payroll", "薪酬调整"),
    ("honor_roll", "光荣榜"),
    ("materials", "提及本人的宣传材料"),
    ("notifications", "通知"),
    ("notification_settings", "通知设置"),
    ("deliveries", "通知投递"),
    ("accounts", "系统账号"),
    ("signins", "登录记录"),
    ("account_changes", "账号变更"),
    ("access", "个人信息访问记录"),
)

HEADERS: dict[str, str] = {
    "employee_no": "工号",
    "name": "姓名",
    "unit_code": "单位代码",
    "unit_name": "单位",
    "position": "岗位",
    "active": "在职",
    "nomination_id": "提名编号",
    "round_id": "轮次",
    "category": "类别",
    "deeds": "主要事迹",
    "results": "量化成果",
    "recommendation": "推荐意见",
    "status": "状态",
    "submitted_at": "提交时间",
    "updated_at": "更新时间",
    "withdraw_reason": "撤回理由",
    "reason": "理由",
    "audited_at": "审核时间",
    "department": "评委所在部门",
    "criteria": "分项得分",
    "total": "总分",
    "comment": "评语",
    "vetoed_at": "否决时间",
    "source": "来源",
    "removed": "已撤下",
    "removed_reason": "撤下理由",
    "objection_no": "异议序号",
    "text": "异议内容",
    "raised_at": "提出时间",
    "resolution": "处理结果",
    "resolved_at": "处理时间",
    "assigned_at": "聘任时间",
    "revoked_at": "撤销时间",
    "award_id": "奖励编号",
    "score": "得分",
    "amount": "金额",
    "currency": "币种",
    "period": "发放月份",
    "published_at": "结果公布时间",
    "granted_at": "奖励时间",
    "revoke_reason": "撤销理由",
    "reversal_period": "冲销月份",
    "adjustment_id": "调整编号",
    "kind": "类型",
    "reason_code": "事由代码",
    "description_zh": "说明",
    "tax_treatment": "计税方式",
    "issued_at": "下发时间",
    "payroll_reference": "薪酬系统单号",
    "acknowledged_at": "确认时间",
    "revoked": "已撤销",
    "revoked_reason": "撤销理由",
    "photo_attached": "已附照片",
    "photo_at": "照片上传时间",
    "material_id": "材料编号",
    "revision": "版本",
    "title": "标题",
    "created_at": "创建时间",
    "notification_id": "通知编号",
    "body": "内容",
    "read_at": "阅读时间",
    "email": "电子邮箱",
    "channels": "接收方式",
    "quiet_start": "免打扰开始",
    "quiet_end": "免打扰结束",
    "channel": "渠道",
    "attempts": "尝试次数",
    "username": "用户名",
    "display_name": "显示名",
    "roles": "角色",
    "activated_at": "激活时间",
    "last_seen_at": "最近活动时间",
    "expires_at": "到期时间",
    "client_ip": "来源地址",
    "user_agent": "浏览器",
    "at": "时间",
    "action": "操作",
    "actor": "操作人",
    "viewer_name": "查看人",
    "viewer_roles": "查看人角色",
    "what": "查看内容",
}

# The scoring sheet's criteria (as review/_macros.html names them).
CRITERIA: dict[str, str] = {
    "achievements": "工作业绩",
    "exemplary_role": "示范作用",
    "innovation": "创新创效",
    "recognition": "群众认可",
}

WORDS: dict[str, str] = {
    "submitted": "已提交",
    "withdrawn": "已撤回",
    "closed": "已截止",
    "accepted": "通过",
    "rejected": "驳回",
    "open": "待处理",
    "dismissed": "不成立",
    "upheld": "成立",
    "granted": "已发放",
    "decision": "评定",
    "replacement": "递补",
    "award": "奖励",
    "reversal": "冲销",
    "draft": "草稿",
    "approved": "已审核",
    "published": "已发布",
    "trying": "投递中",
    "delivered": "已送达",
    "dead_lettered": "投递失败",
}


@dataclass(frozen=True)
class SubjectData:
    employee_no: str
    name: str
    kinds: dict[str, Rows]


class Asks(Protocol):
    """Who asks the services: the gateway for its signed-in user (`Services`), or an
    operator's command for the office (`shared.rpc.RpcClient`)."""

    async def query(self, service: str, name: str, payload: dict[str, Any], /) -> Any: ...


async def gather(
    svc: Asks, pool: asyncpg.Pool, employee_no: str, pseudonym: str | None = None
) -> SubjectData:
    """Ask every service (at once) and read the gateway's own tables. `pseudonym`
    (`pii:<pseudonym>`): who looked at the employee's sealed data is found by it too."""
    accounts = await pool.fetch(
        "SELECT user_id, username, display_name, roles, unit_code, employee_no, active, "
        "created_at, activated_at FROM users WHERE employee_no = $1 ORDER BY created_at",
        employee_no,
    )
    user_ids = [str(a["user_id"]) for a in accounts]
    body = {"employee_no": employee_no, "user_ids": user_ids}
    answers: list[dict[str, Rows]] = await asyncio.gather(
        *(svc.query(service, QUERY, body) for service in SOURCES)
    )
    kinds: dict[str, Rows] = {}
    for answer in answers:
        kinds.update(answer)
    kinds["accounts"] = plain_rows(
        {k: v for k, v in dict(a).items() if k != "user_id"} for a in accounts
    )
    kinds["signins"] = plain_rows(
        await pool.fetch(
            "SELECT created_at, last_seen_at, expires_at, client_ip, user_agent FROM sessions "
            "WHERE user_id = ANY($1::uuid[]) ORDER BY created_at",
            user_ids,
        )
    )
    kinds["account_changes"] = plain_rows(
        await pool.fetch(
            "SELECT at, action FROM account_changes WHERE user_id = ANY($1::uuid[]) "
            "ORDER BY change_id",
            user_ids,
        )
    )
    looked = await search(
        pool, AccessFilter(employee_no=employee_no, pseudonym=pseudonym, limit=10_000)
    )
    kinds["access"] = [
        {
            "at": a.at.isoformat(),
            "viewer_name": a.viewer_name,
            "viewer_roles": list(a.viewer_roles),
            "what": WHAT_LABELS[a.what][0] if a.what in WHAT_LABELS else a.what,
            "round_id": a.round_id,
        }
        for a in reversed(looked)
    ]
    names = [r["name"] for r in kinds.get("directory", [])] or [
        str(a["display_name"]) for a in accounts
    ]
    return SubjectData(employee_no, names[0] if names else "", kinds)


def _cell(key: str, value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if key == "category" and value in CATEGORY_LABELS_ZH:
        return CATEGORY_LABELS_ZH[Category(value)]
    if isinstance(value, str) and (key.endswith("_at") or key == "at") and "T" in value:
        try:
            return format_zh(value)
        except ValueError:
            return value
    if key == "department" and value in DEPARTMENT_LABELS:
        return DEPARTMENT_LABELS[value][0]
    if key == "kind" and value in KIND_LABELS:
        return KIND_LABELS[value][0]
    if key in ("roles", "viewer_roles") and isinstance(value, list):
        return "、".join(ROLE_LABELS[r][0] if r in ROLE_LABELS else str(r) for r in value)
    if key == "criteria" and isinstance(value, dict):
        return "；".join(f"{CRITERIA.get(k, k)} {v}" for k, v in value.items())
    if key == "reason_code" and value in REASON_CODE_LABELS:
        return REASON_CODE_LABELS[value][0]
    if key == "tax_treatment" and value in TAX_LABELS:
        return TAX_LABELS[value][0]
    if key in ("status", "source", "kind") and isinstance(value, str):
        return WORDS.get(value, value)
    if isinstance(value, list | dict):
        if all(isinstance(v, str) for v in value) and isinstance(value, list):
            return "、".join(value)
        return json.dumps(value, ensure_ascii=False)
    return value


def workbook(data: SubjectData, *, asked_by: str, reason: str, at: datetime) -> bytes:
    """The workbook: a cover sheet saying what this is, then one sheet per kind."""
    book = Workbook()
    cover = book.active
    assert cover is not None  # a new workbook has one sheet
    cover.title = "说明"
    cover.append(["职工个人信息副本（个人信息查阅、复制请求）"])
    cover["A1"].font = Font(bold=True, size=14)
    for label, value in (
        ("工号", data.employee_no),
        ("姓名", data.name),
        ("导出时间", format_zh(at)),
        ("经办人", asked_by),
        ("事由", reason),
    ):
        cover.append([label, value])
    cover.append([])
    cover.append(["本文件包含“红花献给你”系统中与您本人有关的全部信息，每类一页。"])
    cover.append(["他人的个人信息（评委、异议人、其他获奖职工等）不在本文件中。"])
    cover.column_dimensions["A"].width = 14
    cover.column_dimensions["B"].width = 40
    wrap = Alignment(wrap_text=True, vertical="top")
    for kind, title in SHEETS:
        rows = data.kinds.get(kind, [])
        sheet = book.create_sheet(title)
        keys = _keys(rows)
        if not keys:
            sheet.append(["（无记录）"])
            continue
        sheet.append([HEADERS.get(k, k) for k in keys])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in rows:
            sheet.append([_cell(k, row.get(k)) for k in keys])
            for cell in sheet[sheet.max_row]:
                cell.alignment = wrap
                cell.number_format = "@" if isinstance(cell.value, str) else cell.number_format
        for index, key in enumerate(keys, start=1):
            width = 40 if key in ("deeds", "body", "text", "results", "criteria") else 16
            sheet.column_dimensions[sheet.cell(row=1, column=index).column_letter].width = width
        sheet.freeze_panes = "A2"
    out = BytesIO()
    book.save(out)
    return out.getvalue()


def _keys(rows: Sequence[dict[str, Any]]) -> list[str]:
    keys: list[str] = []
    for row in rows:
        keys.extend(k for k in row if k not in keys)
    return keys


def filename(employee_no: str, at: datetime) -> str:
    return f"个人信息副本-{employee_no}-{format_zh_date(at)}.xlsx"


@dataclass(frozen=True)
class ExportFile:
    filename: str
    content: bytes


UNKNOWN_EMPLOYEE = (
    "系统中没有该工号的任何信息。",
    "The system holds nothing about this employee number.",
)


async def export(
    request: Request, principal: Principal, employee_no: str, reason: str
) -> ExportFile:
    """Gather, record the request in the access record (who, for whom, when, why), build."""
    state = gw_state(request)
    pseudonym = await access_log.pseudonym_subject(request, employee_no)
    data = await gather(services(request, principal), state.pool, employee_no, pseudonym)
    if not any(rows for kind, rows in data.kinds.items() if kind != "access"):
        raise Problem(404, "unknown_employee", UNKNOWN_EMPLOYEE, employee_no=employee_no)
    recorded = await access_log.record(
        request, principal, "subject_export", subjects=[employee_no], reason=reason
    )
    data.kinds["access"].append(
        {
            "at": recorded.at.isoformat(),
            "viewer_name": recorded.viewer_name,
            "viewer_roles": list(recorded.viewer_roles),
            "what": WHAT_LABELS["subject_export"][0],
            "round_id": None,
        }
    )
    content = workbook(data, asked_by=principal.user.display_name, reason=reason, at=recorded.at)
    return ExportFile(filename(employee_no, recorded.at), content)
