"""Simplified Chinese by default, English on request: every text is a (zh, en) pair.

Templates call `tr("中文", "English")`; Python code passes `Text` pairs around and the page
picks one with `pick`. The choice lives in the `flowers_lang` cookie (set by /lang/<code>).
"""

from __future__ import annotations

from fastapi import Request

ZH = "zh-CN"
EN = "en"
LOCALES = (ZH, EN)
LANG_COOKIE = "flowers_lang"

Text = tuple[str, str]
"""A text in Chinese and in English."""


def locale_of(request: Request) -> str:
    value = request.cookies.get(LANG_COOKIE, ZH)
    return value if value in LOCALES else ZH


def pick(text: Text, locale: str) -> str:
    return text[1] if locale == EN else text[0]


ROLE_LABELS: dict[str, Text] = {
    "staff": ("职工", "Staff"),
    "employee": ("职工（工号登录）", "Employee (by employee number)"),
    "nominator": ("单位提名人", "Unit nominator"),
    "office": ("领导小组办公室", "Leadership group office"),
    "panelist": ("评审专家", "Panelist"),
    "discipline": ("纪检监督", "Discipline inspection"),
    "leader": ("领导小组组长", "Group leader"),
    "publicity": ("宣传（党群工作部）", "Publicity (Party-Mass Work Dept.)"),
    "payroll": ("薪酬（财务部）", "Payroll (Finance)"),
    "auditor": ("审计", "Auditor"),
    "admin": ("系统管理员", "Administrator"),
}

DEPARTMENT_LABELS: dict[str, Text] = {
    "general_office": ("综合办公室", "General Office"),
    "finance": ("财务部", "Finance"),
    "enterprise_management": ("企业管理部", "Enterprise Management"),
    "party_mass": ("党群工作部", "Party-Mass Work"),
    "union": ("工会", "Trade union"),
}

NOMINATION_STATUS_LABELS: dict[str, Text] = {
    "submitted": ("已提交", "Submitted"),
    "withdrawn": ("已撤回", "Withdrawn"),
    "closed": ("已截止", "Closed"),
}

ROUND_STATUS_LABELS: dict[str, Text] = {
    "open": ("提名中", "Open"),
    "closed": ("已截止", "Closed"),
}
