"""Every endpoint × every role: allowed or refused, as the roles say (ARCHITECTURE.md "Roles").

The table below is written by hand, independently of the routes' own declarations, and the
test fails for any route missing from it: a new endpoint must state who may use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from services.gateway.auth import Principal
from services.gateway.state import Services
from shared.contracts.nomination_commands import WithdrawNomination
from shared.rpc import RemoteError
from tests.gateway.harness import (
    DEEDS,
    ROLE_ACCOUNTS,
    ROUND,
    UNIT_A,
    UNIT_B,
    Harness,
    nomination_body,
)
from tests.gateway.published import PAST_ROUND, PERIOD, prepare_payroll_and_publicity
from tests.gateway.review_setup import NOBODY, prepare_for_the_matrix

pytestmark = pytest.mark.integration

ANON = "anonymous"
ROLES = tuple(ROLE_ACCOUNTS)
EVERYONE = frozenset(ROLES)
READERS = frozenset({"nominator", "nominator_b", "office", "auditor", "leader", "discipline"})
UNIT_A_READERS = READERS - {"nominator_b"}
NOMINATORS = frozenset({"nominator", "nominator_b"})

# Routes anyone may call, signed in or not.
PUBLIC = {
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("GET", "/lang/{code}"),
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    # The public notice (tests/gateway/test_public_notice.py: what it shows, and that it leaks
    # nothing else).
    ("GET", "/gongshi"),
    ("GET", "/gongshi/{round_id}"),
    ("GET", "/gongshi/{round_id}/print.pdf"),
    ("GET", "/api/v1/public/notices/{round_id}"),
    # An employee's activation with the unit's code (tests/gateway/test_employee_accounts.py).
    ("GET", "/activate"),
    ("POST", "/activate"),
    # OpenID Connect sign-in (tests/gateway/test_oidc.py; 404 while it is off).
    ("GET", "/login/oidc"),
    ("GET", "/login/oidc/callback"),
}


@dataclass(frozen=True)
class Case:
    method: str
    route: str  # the route's template, as declared
    path: str  # the concrete path requested (placeholders filled in below)
    allowed: frozenset[str]
    json: Any = None
    data: dict[str, str] | None = None
    files: dict[str, Any] | None = None


def api_cases() -> list[Case]:
    employee_csv = {"file": ("d.csv", b"employee_no,name,unit_code,unit_name,position,active\n")}
    return [
        Case("GET", "/api/v1/me", "/api/v1/me", EVERYONE),
        Case(
            "POST",
            "/api/v1/evidence",
            "/api/v1/evidence",
            NOMINATORS,
            files={"file": ("a.pdf", b"%PDF-1.4 x")},
        ),
        Case("GET", "/api/v1/users", "/api/v1/users", frozenset({"admin"})),
        Case(
            "POST",
            "/api/v1/users",
            "/api/v1/users",
            frozenset({"admin"}),
            json={"username": "new", "password": "x", "display_name": "新", "roles": ["staff"]},
        ),
        Case(
            "PUT",
            "/api/v1/users/{user_id}",
            "/api/v1/users/{target}",
            frozenset({"admin"}),
            json={"display_name": "目标", "roles": ["staff"]},
        ),
        Case(
            "POST",
            "/api/v1/users/{user_id}/tokens",
            "/api/v1/users/{target}/tokens",
            frozenset({"admin"}),
            json={"name": "x"},
        ),
        Case("DELETE", "/api/v1/tokens/{token_id}", "/api/v1/tokens/{token}", frozenset({"admin"})),
        Case("GET", "/api/v1/rounds", "/api/v1/rounds", EVERYONE),
        Case(
            "POST",
            "/api/v1/rounds",
            "/api/v1/rounds",
            frozenset({"office"}),
            json={"round_id": "2027-Q1"},
        ),
        Case(
            "POST",
            "/api/v1/rounds/{round_id}/extend",
            "/api/v1/rounds/2030-Q2/extend",
            frozenset({"office"}),
            json={"new_deadline": "2030-06-30T23:59:59+08:00", "reason": "测试"},
        ),
        Case(
            "POST",
            "/api/v1/rounds/{round_id}/reopen",
            "/api/v1/rounds/2030-Q2/reopen",
            frozenset({"office"}),
            json={
                "unit_code": UNIT_A,
                "new_deadline": "2030-07-03T23:59:59+08:00",
                "reason": "测试",
            },
        ),
        Case(
            "POST",
            "/api/v1/rounds/{round_id}/close",
            "/api/v1/rounds/2030-Q2/close",
            frozenset({"office"}),
        ),
        Case(
            "POST",
            "/api/v1/employees/{employee_no}/erasure",
            "/api/v1/employees/NOBODY-9/erasure",  # the office is answered 404: none held
            frozenset({"office"}),
            json={"reason": "测试"},
        ),
        Case(
            "POST",
            "/api/v1/nominations/{nomination_id}/correction",
            "/api/v1/nominations/00000000-0000-0000-0000-000000000009/correction",  # office: 404
            frozenset({"office"}),
            json={"field": "name", "value": "张伟", "reason": "测试"},
        ),
        Case(
            "GET",
            "/api/v1/rounds/{round_id}/quota",
            f"/api/v1/rounds/{ROUND}/quota?unit_code={UNIT_A}",
            UNIT_A_READERS,
        ),
        Case("GET", "/api/v1/nominations", "/api/v1/nominations", READERS),
        Case(
            "GET", "/api/v1/nominations", f"/api/v1/nominations?unit_code={UNIT_A}", UNIT_A_READERS
        ),
        Case(
            "POST",
            "/api/v1/nominations",
            "/api/v1/nominations",
            NOMINATORS,
            json=nomination_body("E102", deeds="太短"),
        ),
        Case(
            "GET", "/api/v1/nominations/{nomination_id}", "/api/v1/nominations/{n1}", UNIT_A_READERS
        ),
        Case(
            "PUT",
            "/api/v1/nominations/{nomination_id}",
            "/api/v1/nominations/{n1}",
            frozenset({"nominator"}),
            json={"category": "striving", "deeds": DEEDS + "（修改）", "recommendation": "同意"},
        ),
        Case(
            "POST",
            "/api/v1/nominations/{nomination_id}/withdraw",
            "/api/v1/nominations/{n2}/withdraw",
            frozenset({"nominator"}),
            json={"reason": "测试撤回"},
        ),
        Case(
            "POST",
            "/api/v1/nominations/{nomination_id}/consent",
            "/api/v1/nominations/{n1}/consent",
            frozenset({"nominator"}),
            json={"consent": {"uses": ["notice"]}},
        ),
        Case(
            "GET",
            "/api/v1/directory/units",
            "/api/v1/directory/units",
            frozenset({"office", "auditor", "admin", "nominator", "nominator_b"}),
        ),
        Case(
            "GET",
            "/api/v1/directory/employees",
            f"/api/v1/directory/employees?unit_code={UNIT_A}",
            frozenset({"office", "auditor", "admin", "nominator"}),
        ),
        Case(
            "POST",
            "/api/v1/directory/import",
            "/api/v1/directory/import",
            frozenset({"admin"}),
            json={"rows": []},
        ),
        Case(
            "POST",
            "/api/v1/directory/import.csv",
            "/api/v1/directory/import.csv",
            frozenset({"admin"}),
            files=employee_csv,
        ),
        Case(
            "GET",
            "/api/v1/directory/template.{fmt}",
            "/api/v1/directory/template.xlsx",
            frozenset({"admin"}),
        ),
        Case("GET", "/api/v1/openapi.json", "/api/v1/openapi.json", EVERYONE | {ANON}),
        *review_api_cases(),
        *payroll_publicity_audit_api_cases(),
    ]


def page_cases() -> list[Case]:
    admin = frozenset({"admin"})
    office = frozenset({"office"})
    return [
        Case("GET", "/", "/", EVERYONE),
        Case("GET", "/account", "/account", EVERYONE),
        Case(
            "POST",
            "/account/password",
            "/account/password",
            EVERYONE,
            data={"current_password": "wrong", "new_password": "x", "confirm_password": "x"},
        ),
        Case("GET", "/nominations", "/nominations", READERS),
        Case("GET", "/nominations/new", "/nominations/new", NOMINATORS),
        Case(
            "POST",
            "/nominations/new",
            "/nominations/new",
            NOMINATORS,
            data={"round_id": ROUND, "employee_no": ""},
        ),
        Case("GET", "/nominations/{nomination_id}", "/nominations/{n1}", UNIT_A_READERS),
        Case("GET", "/files/{digest}/{name}", f"/files/{'0' * 64}/x.pdf", READERS | {"panelist"}),
        Case(
            "GET",
            "/nominations/{nomination_id}/edit",
            "/nominations/{n1}/edit",
            frozenset({"nominator"}),
        ),
        Case(
            "POST",
            "/nominations/{nomination_id}/edit",
            "/nominations/{n1}/edit",
            frozenset({"nominator"}),
            data={"deeds": ""},
        ),
        Case(
            "POST",
            "/nominations/{nomination_id}/withdraw",
            "/nominations/{n1}/withdraw",
            frozenset({"nominator"}),
            data={"reason": ""},
        ),
        Case(
            "POST",
            "/nominations/{nomination_id}/consent",
            "/nominations/{n1}/consent",
            frozenset({"nominator"}),
            data={"consent": "notice"},
        ),
        Case("GET", "/office/rounds", "/office/rounds", office),
        Case("POST", "/office/rounds", "/office/rounds", office, data={"round_id": ""}),
        Case(
            "POST",
            "/office/rounds/{round_id}/extend",
            "/office/rounds/2030-Q2/extend",
            office,
            data={"new_deadline": "", "reason": ""},
        ),
        Case(
            "POST",
            "/office/rounds/{round_id}/reopen",
            "/office/rounds/2030-Q2/reopen",
            office,
            data={"new_deadline": "", "reason": ""},
        ),
        Case("POST", "/office/rounds/{round_id}/close", "/office/rounds/2030-Q2/close", office),
        Case("GET", "/admin/users", "/admin/users", admin),
        Case("GET", "/admin/users/new", "/admin/users/new", admin),
        Case("POST", "/admin/users/new", "/admin/users/new", admin, data={"username": ""}),
        Case("GET", "/admin/users/{user_id}", "/admin/users/{target}", admin),
        Case(
            "POST",
            "/admin/users/{user_id}",
            "/admin/users/{target}",
            admin,
            data={"display_name": "目标", "roles": "staff", "active": "on"},
        ),
        Case(
            "POST",
            "/admin/users/{user_id}/password",
            "/admin/users/{target}/password",
            admin,
            data={"new_password": "x"},
        ),
        Case(
            "POST",
            "/admin/users/{user_id}/tokens",
            "/admin/users/{target}/tokens",
            admin,
            data={"name": "x"},
        ),
        Case("POST", "/admin/tokens/{token_id}/revoke", "/admin/tokens/{token2}/revoke", admin),
        Case("GET", "/admin/directory", "/admin/directory", admin),
        Case(
            "GET",
            "/employees/activation",
            "/employees/activation",
            frozenset({"nominator", "nominator_b", "admin"}),
        ),
        Case(  # WY's sheet: its nominator and the administrator, not CY's nominator
            "POST",
            "/employees/activation",
            "/employees/activation",
            frozenset({"nominator", "admin"}),
            data={"unit_code": UNIT_A},
        ),
        Case("POST", "/admin/employees/sync", "/admin/employees/sync", admin),
        Case("POST", "/admin/directory", "/admin/directory", admin),
        *review_page_cases(),
        *payroll_publicity_audit_page_cases(),
    ]


# The review (prepared by tests/gateway/review_setup.prepare_for_the_matrix): n1 and nb are
# accepted, the panelist sits on the panel and may never score `nself` (themselves).
OFFICE_ONLY = frozenset({"office"})
REVIEW_READERS = frozenset({"office", "leader", "discipline", "auditor"})
OVERSEERS = frozenset({"office", "leader", "discipline"})
REVIEW = f"/api/v1/review/rounds/{ROUND}"
R = "/api/v1/review/rounds/{round_id}"
N = R + "/nominations/{nomination_id}"


def review_api_cases() -> list[Case]:
    leader, panelist = frozenset({"leader"}), frozenset({"panelist"})
    criteria = ("achievements", "exemplary_role", "innovation", "recognition")
    sheet = {"criteria": dict.fromkeys(criteria, "80")}
    return [
        Case("GET", "/api/v1/review/rounds", "/api/v1/review/rounds", EVERYONE),
        Case("GET", R + "/summary", REVIEW + "/summary", REVIEW_READERS),
        Case("GET", R + "/candidates", REVIEW + "/candidates", REVIEW_READERS | NOMINATORS),
        Case("GET", "/api/v1/review/audits/pending", "/api/v1/review/audits/pending", OFFICE_ONLY),
        Case("POST", N + "/accept", REVIEW + "/nominations/{n1}/accept", OFFICE_ONLY),
        Case(
            "POST",
            N + "/reject",
            REVIEW + "/nominations/{n1}/reject",
            OFFICE_ONLY,
            json={"reason": "x"},
        ),
        Case("GET", R + "/panel", REVIEW + "/panel", REVIEW_READERS),
        Case(
            "GET",
            "/api/v1/review/panelist-accounts",
            "/api/v1/review/panelist-accounts",
            OFFICE_ONLY,
        ),
        Case("POST", R + "/panel", REVIEW + "/panel", OFFICE_ONLY, json={"user_id": NOBODY}),
        Case(
            "POST",
            R + "/panel/{panelist_id}/remove",
            REVIEW + "/panel/{nobody}/remove",
            OFFICE_ONLY,
            json={"reason": "x"},
        ),
        Case("GET", R + "/panel/progress", REVIEW + "/panel/progress", OFFICE_ONLY),
        Case(
            "POST",
            R + "/panel/{panelist_id}/remind",
            REVIEW + "/panel/{nobody}/remind",
            OFFICE_ONLY,
        ),
        Case("GET", "/api/v1/review/scoring", "/api/v1/review/scoring", panelist),
        Case("PUT", N + "/score", REVIEW + "/nominations/{n1}/score", panelist, json=sheet),
        # Never, for anyone: not even the panelist, however the request is made.
        Case("PUT", N + "/score", REVIEW + "/nominations/{nself}/score", frozenset(), json=sheet),
        Case("GET", N + "/scores", REVIEW + "/nominations/{n1}/scores", OVERSEERS | panelist),
        Case(
            "POST",
            N + "/veto",
            REVIEW + "/nominations/{nb}/veto",
            frozenset({"discipline"}),
            json={"reason": "x"},
        ),
        Case("GET", R + "/ranking", REVIEW + "/ranking", OVERSEERS),
        Case(
            "POST",
            R + "/decisions",
            REVIEW + "/decisions",
            leader,
            json={"category": "striving", "winners": [NOBODY]},
        ),
        Case(
            "POST",
            R + "/replacements",
            REVIEW + "/replacements",
            leader,
            json={"category": "striving", "nomination_id": NOBODY},
        ),
        Case(
            "POST", N + "/revoke", REVIEW + "/nominations/{n1}/revoke", leader, json={"reason": "x"}
        ),
        Case("POST", R + "/notices", REVIEW + "/notices", OFFICE_ONLY),
        Case("GET", R + "/notices", REVIEW + "/notices", EVERYONE),
        Case("GET", R + "/objections", REVIEW + "/objections", EVERYONE),
        Case(
            "POST",
            R + "/objections",
            REVIEW + "/objections",
            EVERYONE,
            json={"nomination_id": NOBODY, "text": "x"},
        ),
        Case(
            "POST",
            R + "/objections/{objection_no}/notes",
            REVIEW + "/objections/1/notes",
            OFFICE_ONLY,
            json={"note": "x"},
        ),
        Case(
            "POST",
            R + "/objections/{objection_no}/resolve",
            REVIEW + "/objections/1/resolve",
            OFFICE_ONLY,
            json={"outcome": "dismissed", "resolution": "x"},
        ),
        Case("POST", R + "/publish", REVIEW + "/publish", OFFICE_ONLY),
        Case("GET", R + "/result", REVIEW + "/result", EVERYONE),
        Case("GET", "/api/v1/review/results", "/api/v1/review/results", EVERYONE),
    ]


def review_page_cases() -> list[Case]:
    leader, panelist = frozenset({"leader"}), frozenset({"panelist"})
    own = "/review/scoring/{round_id}/{nomination_id}"
    return [
        Case("GET", "/review/audits", "/review/audits", OFFICE_ONLY),
        Case(
            "POST",
            "/review/audits/{round_id}/{nomination_id}/accept",
            f"/review/audits/{ROUND}/{{n1}}/accept",
            OFFICE_ONLY,
        ),
        Case(
            "POST",
            "/review/audits/{round_id}/{nomination_id}/reject",
            f"/review/audits/{ROUND}/{{n1}}/reject",
            OFFICE_ONLY,
            data={"reason": ""},
        ),
        Case("GET", "/review/panel", "/review/panel", OFFICE_ONLY),
        Case(
            "POST",
            "/review/panel/{round_id}/assign",
            f"/review/panel/{ROUND}/assign",
            OFFICE_ONLY,
            data={"user_id": ""},
        ),
        Case(
            "POST",
            "/review/panel/{round_id}/{panelist_id}/remove",
            f"/review/panel/{ROUND}/{{nobody}}/remove",
            OFFICE_ONLY,
            data={"reason": ""},
        ),
        Case(
            "POST",
            "/review/panel/{round_id}/{panelist_id}/remind",
            f"/review/panel/{ROUND}/{{nobody}}/remind",
            OFFICE_ONLY,
        ),
        Case("GET", "/review/summary", "/review/summary", REVIEW_READERS),
        Case("GET", "/review/sheet", "/review/sheet", REVIEW_READERS),
        Case(
            "GET",
            "/review/sheet/{round_id}.xlsx",
            f"/review/sheet/{ROUND}.xlsx",
            REVIEW_READERS,
        ),
        Case(
            "POST",
            "/review/summary/{round_id}/notice",
            f"/review/summary/{ROUND}/notice",
            OFFICE_ONLY,
        ),
        Case(
            "POST",
            "/review/summary/{round_id}/publish",
            f"/review/summary/{ROUND}/publish",
            OFFICE_ONLY,
        ),
        Case("GET", "/review/objections", "/review/objections", OFFICE_ONLY),
        Case(
            "POST",
            "/review/objections/{round_id}/{objection_no}/note",
            f"/review/objections/{ROUND}/1/note",
            OFFICE_ONLY,
            data={"note": ""},
        ),
        Case(
            "POST",
            "/review/objections/{round_id}/{objection_no}/resolve",
            f"/review/objections/{ROUND}/1/resolve",
            OFFICE_ONLY,
            data={"resolution": ""},
        ),
        Case("GET", "/review/scoring", "/review/scoring", panelist),
        Case("GET", own, f"/review/scoring/{ROUND}/{{n1}}", panelist),
        Case("POST", own, f"/review/scoring/{ROUND}/{{n1}}", panelist, data={"comment": ""}),
        Case("GET", own, f"/review/scoring/{ROUND}/{{nself}}", frozenset()),
        Case(
            "POST",
            own,
            f"/review/scoring/{ROUND}/{{nself}}",
            frozenset(),
            data={f"criterion_{c}": "99" for c in ("achievements", "exemplary_role")},
        ),
        Case("GET", "/review/veto", "/review/veto", frozenset({"discipline"})),
        Case(
            "POST",
            "/review/veto/{round_id}/{nomination_id}",
            f"/review/veto/{ROUND}/{{nb}}",
            frozenset({"discipline"}),
            data={"reason": ""},
        ),
        Case("GET", "/review/ranking", "/review/ranking", OVERSEERS),
        Case(
            "POST",
            "/review/ranking/{round_id}/decide",
            f"/review/ranking/{ROUND}/decide",
            leader,
            data={"category": "striving"},
        ),
        Case(
            "POST",
            "/review/ranking/{round_id}/replace",
            f"/review/ranking/{ROUND}/replace",
            leader,
            data={"category": "striving"},
        ),
        Case(
            "POST",
            "/review/results/{round_id}/{nomination_id}/revoke",
            f"/review/results/{ROUND}/{{n1}}/revoke",
            leader,
            data={"reason": ""},
        ),
        Case("GET", "/review/notice", "/review/notice", EVERYONE),
        Case(
            "POST",
            "/review/notice/{round_id}/objection",
            f"/review/notice/{ROUND}/objection",
            EVERYONE,
            data={"nomination_id": "x", "text": ""},
        ),
        Case("GET", "/review/results", "/review/results", EVERYONE),
    ]


# Payroll, publicity and audit (prepared by tests/gateway/published.py: a paid result of
# PAST_ROUND with its drafts). The auditor reads what payroll and publicity read.
PAYROLL_READERS = frozenset({"payroll", "auditor"})
PAYROLL_ONLY = frozenset({"payroll"})
DRAFT_READERS = frozenset({"publicity", "auditor"})
PUBLICITY_ONLY = frozenset({"publicity"})
REPORT_READERS = frozenset({"publicity", "office", "leader", "auditor"})
AUDITOR_ONLY = frozenset({"auditor"})
ACCESS_READERS = frozenset({"office", "admin", "auditor"})  # who looked at personal data
PHOTO_READERS = frozenset({"office", "publicity", "auditor"})
PHOTO_GIVERS = frozenset({"office", "publicity"})
A_WINNER = "00000000-0000-0000-0000-00000000f00d"  # no such winner: refused after the role check
ROUND_REPORT = f"scope=round&round_id={PAST_ROUND}"


def payroll_publicity_audit_api_cases() -> list[Case]:
    adj = "/api/v1/payroll/adjustments/{adjustment_id}"
    per = "/api/v1/payroll/periods/{period}"
    draft = "/api/v1/publicity/drafts/{material_id}"
    return [
        Case("GET", "/api/v1/payroll/periods", "/api/v1/payroll/periods", PAYROLL_READERS),
        Case("GET", "/api/v1/payroll/adjustments", "/api/v1/payroll/adjustments", PAYROLL_READERS),
        Case("GET", adj, "/api/v1/payroll/adjustments/{pay_adj}", PAYROLL_READERS),
        Case(
            "POST",
            adj + "/acknowledge",
            "/api/v1/payroll/adjustments/{pay_adj}/acknowledge",
            PAYROLL_ONLY,
            json={},
        ),
        Case(
            "POST",
            per + "/acknowledge",
            f"/api/v1/payroll/periods/{PERIOD}/acknowledge",
            PAYROLL_ONLY,
            json={},
        ),
        Case("GET", per + "/export", f"/api/v1/payroll/periods/{PERIOD}/export", PAYROLL_READERS),
        Case(
            "GET",
            per + "/reconciliation",
            f"/api/v1/payroll/periods/{PERIOD}/reconciliation",
            PAYROLL_READERS,
        ),
        Case("GET", "/api/v1/payroll/ledger", "/api/v1/payroll/ledger", PAYROLL_READERS),
        Case(
            "GET",
            "/api/v1/awards",
            "/api/v1/awards",
            frozenset({"payroll", "auditor", "office", "leader"}),
        ),
        Case("GET", "/api/v1/pacesetters", "/api/v1/pacesetters?year=2026", EVERYONE),
        Case("GET", "/api/v1/honor-roll", "/api/v1/honor-roll", EVERYONE),
        Case("GET", "/api/v1/inbox", "/api/v1/inbox", EVERYONE),
        Case("GET", "/api/v1/inbox/unread", "/api/v1/inbox/unread", EVERYONE),
        Case("GET", "/api/v1/notification-settings", "/api/v1/notification-settings", EVERYONE),
        Case(
            "PUT",
            "/api/v1/notification-settings",
            "/api/v1/notification-settings",
            EVERYONE,
            json={"channels": ["inbox"]},
        ),
        Case(
            "POST",
            "/api/v1/inbox/{notification_id}/read",
            "/api/v1/inbox/00000000-0000-0000-0000-00000000beef/read",
            EVERYONE,
        ),
        Case("GET", "/api/v1/publicity/rounds", "/api/v1/publicity/rounds", DRAFT_READERS),
        Case(
            "GET",
            "/api/v1/publicity/rounds/{round_id}/drafts",
            f"/api/v1/publicity/rounds/{PAST_ROUND}/drafts",
            DRAFT_READERS,
        ),
        Case("GET", draft, "/api/v1/publicity/drafts/{pub_bulletin}", DRAFT_READERS),
        Case("PUT", draft, "/api/v1/publicity/drafts/{pub_bulletin}", PUBLICITY_ONLY, json={}),
        Case(
            "POST",
            draft + "/approve",
            "/api/v1/publicity/drafts/{pub_bulletin}/approve",
            PUBLICITY_ONLY,
            json={},
        ),
        Case(
            "POST",
            draft + "/publish",
            "/api/v1/publicity/drafts/{pub_official}/publish",
            PUBLICITY_ONLY,
            json={"channel": "official_account"},
        ),
        Case(
            "GET",
            draft + "/artefacts/{fmt}",
            "/api/v1/publicity/drafts/{pub_bulletin}/artefacts/html",
            DRAFT_READERS,
        ),
        Case(
            "GET",
            "/api/v1/publicity/reports",
            f"/api/v1/publicity/reports?{ROUND_REPORT}",
            REPORT_READERS,
        ),
        Case(
            "GET",
            "/api/v1/publicity/reports/export",
            f"/api/v1/publicity/reports/export?{ROUND_REPORT}",
            REPORT_READERS,
        ),
        Case(
            "GET",
            "/api/v1/publicity/reports/charts/{chart}",
            f"/api/v1/publicity/reports/charts/nominations_by_unit?{ROUND_REPORT}",
            REPORT_READERS,
        ),
        Case("POST", "/api/v1/audit/verify", "/api/v1/audit/verify", AUDITOR_ONLY),
        Case("GET", "/api/v1/audit/heads", "/api/v1/audit/heads", AUDITOR_ONLY),
        Case("GET", "/api/v1/audit/events", "/api/v1/audit/events?service=rewards", AUDITOR_ONLY),
        Case(
            "GET",
            "/api/v1/audit/events/{service}/{position}",
            "/api/v1/audit/events/rewards/1",
            AUDITOR_ONLY,
        ),
        Case(
            "POST",
            "/api/v1/audit/events/{service}/{position}/open",
            "/api/v1/audit/events/rewards/1/open",
            AUDITOR_ONLY,
        ),
        Case("GET", "/api/v1/personal-data/access", "/api/v1/personal-data/access", ACCESS_READERS),
        Case(
            "GET",
            "/api/v1/personal-data/access/verify",
            "/api/v1/personal-data/access/verify",
            ACCESS_READERS,
        ),
        Case(
            "POST",
            "/api/v1/personal-data/exports",
            "/api/v1/personal-data/exports",
            frozenset({"office"}),
            json={"employee_no": "E999", "reason": "x"},
        ),
    ]


def payroll_publicity_audit_page_cases() -> list[Case]:
    per = "/payroll/periods/{period}"
    draft = "/publicity/drafts/{material_id}"
    return [
        Case("GET", "/payroll", "/payroll", PAYROLL_READERS),
        Case("GET", per, f"/payroll/periods/{PERIOD}", PAYROLL_READERS),
        Case("GET", per + "/export", f"/payroll/periods/{PERIOD}/export", PAYROLL_READERS),
        Case(
            "GET",
            per + "/reconciliation",
            f"/payroll/periods/{PERIOD}/reconciliation",
            PAYROLL_READERS,
        ),
        Case("POST", per + "/acknowledge", f"/payroll/periods/{PERIOD}/acknowledge", PAYROLL_ONLY),
        Case(
            "GET",
            "/payroll/adjustments/{adjustment_id}",
            "/payroll/adjustments/{pay_adj}",
            PAYROLL_READERS,
        ),
        Case(
            "POST",
            "/payroll/adjustments/{adjustment_id}/acknowledge",
            "/payroll/adjustments/{pay_adj}/acknowledge",
            PAYROLL_ONLY,
        ),
        Case("GET", "/payroll/feed", "/payroll/feed", PAYROLL_READERS),
        Case("GET", "/payroll/ledger", "/payroll/ledger", PAYROLL_READERS),
        Case("GET", "/publicity", "/publicity", DRAFT_READERS),
        Case("GET", "/publicity/rounds", "/publicity/rounds", DRAFT_READERS),
        Case(
            "GET",
            "/publicity/rounds/{round_id}",
            f"/publicity/rounds/{PAST_ROUND}",
            DRAFT_READERS,
        ),
        Case("GET", draft, "/publicity/drafts/{pub_bulletin}", DRAFT_READERS),
        Case("GET", draft + "/preview", "/publicity/drafts/{pub_bulletin}/preview", DRAFT_READERS),
        Case(
            "GET",
            draft + "/download/{fmt}",
            "/publicity/drafts/{pub_bulletin}/download/docx",
            DRAFT_READERS,
        ),
        Case("GET", draft + "/edit", "/publicity/drafts/{pub_storyboard}/edit", PUBLICITY_ONLY),
        Case(
            "POST",
            draft + "/edit",
            "/publicity/drafts/{pub_storyboard}/edit",
            PUBLICITY_ONLY,
            data={"title": ""},
        ),
        Case(
            "POST",
            draft + "/approve",
            "/publicity/drafts/{pub_storyboard}/approve",
            PUBLICITY_ONLY,
            data={"expected_revision": "99"},
        ),
        Case(
            "POST",
            draft + "/publish",
            "/publicity/drafts/{pub_storyboard}/publish",
            PUBLICITY_ONLY,
            data={"channel": ""},
        ),
        Case("GET", draft + "/video", "/publicity/drafts/{pub_storyboard}/video", DRAFT_READERS),
        Case(
            "POST",
            draft + "/correct",
            "/publicity/drafts/{pub_storyboard}/correct",
            PUBLICITY_ONLY,
            data={"correction": ""},
        ),
        Case("POST", draft + "/video", "/publicity/drafts/{pub_storyboard}/video", PUBLICITY_ONLY),
        Case(
            "GET",
            draft + "/video.mp4",
            "/publicity/drafts/{pub_storyboard}/video.mp4",
            DRAFT_READERS,
        ),
        Case("GET", "/publicity/reports", f"/publicity/reports?{ROUND_REPORT}", REPORT_READERS),
        Case(
            "GET",
            "/publicity/reports/chart",
            f"/publicity/reports/chart?{ROUND_REPORT}&chart=score_spread",
            REPORT_READERS,
        ),
        Case(
            "GET",
            "/publicity/reports/download",
            f"/publicity/reports/download?{ROUND_REPORT}&format=csv",
            REPORT_READERS,
        ),
        Case("GET", "/honor-roll", "/honor-roll", EVERYONE),
        Case(
            "GET",
            "/publicity/rounds/{round_id}/photos",
            f"/publicity/rounds/{PAST_ROUND}/photos",
            PHOTO_READERS,
        ),
        Case(
            "POST",
            "/publicity/rounds/{round_id}/photos/{nomination_id}",
            f"/publicity/rounds/{PAST_ROUND}/photos/{A_WINNER}",
            PHOTO_GIVERS,
        ),
        Case(
            "GET",
            "/honor-roll/{round_id}/photos/{nomination_id}.jpg",
            f"/honor-roll/{PAST_ROUND}/photos/{A_WINNER}.jpg",
            EVERYONE,
        ),
        Case("GET", "/pacesetters", "/pacesetters", EVERYONE),
        Case("GET", "/inbox", "/inbox", EVERYONE),
        Case("GET", "/settings/notifications", "/settings/notifications", EVERYONE),
        Case("POST", "/settings/notifications", "/settings/notifications", EVERYONE),
        Case(
            "POST",
            "/inbox/{notification_id}/read",
            "/inbox/00000000-0000-0000-0000-00000000beef/read",
            EVERYONE,
        ),
        Case("GET", "/personal-data/access", "/personal-data/access", ACCESS_READERS),
        Case("GET", "/personal-data/export", "/personal-data/export", frozenset({"office"})),
        Case(
            "POST",
            "/personal-data/export",
            "/personal-data/export",
            frozenset({"office"}),
            data={"employee_no": "", "reason": ""},
        ),
        Case("GET", "/personal-data", "/personal-data?employee_no=E100", frozenset({"office"})),
        Case(
            "POST",
            "/personal-data/correction",
            "/personal-data/correction",
            frozenset({"office"}),
            data={"employee_no": "E100", "nomination_id": "", "value": "", "reason": ""},
        ),
        Case(
            "POST",
            "/personal-data/erasure",
            "/personal-data/erasure",
            frozenset({"office"}),
            data={"employee_no": "E100", "reason": ""},
        ),
        Case(
            "POST",
            "/audit/events/{service}/{position}/open",
            "/audit/events/rewards/1/open",
            AUDITOR_ONLY,
        ),
        Case("GET", "/audit", "/audit", AUDITOR_ONLY),
        Case("POST", "/audit/verify", "/audit/verify", AUDITOR_ONLY),
        Case("GET", "/audit/events", "/audit/events", AUDITOR_ONLY),
        Case(
            "GET",
            "/audit/events/{service}/{position}",
            "/audit/events/rewards/1",
            AUDITOR_ONLY,
        ),
    ]


def declared_routes(gateway: Harness) -> set[tuple[str, str]]:
    routes: set[tuple[str, str]] = set()
    for route in gateway.app.routes:
        if isinstance(route, APIRoute):
            routes |= {(m, route.path) for m in (route.methods or set()) - {"HEAD"}}
    routes.add(("GET", "/api/v1/openapi.json"))
    return routes


async def prepare(gateway: Harness) -> dict[str, str]:
    """Accounts for every role, nominations of both units, a user and tokens to administer."""
    await gateway.role_accounts()
    target = await gateway.account("target", {"staff"})
    ids: dict[str, str] = {"target": str(target.user_id)}
    for n, token_key in ((1, "token"), (2, "token2")):
        issued, _ = await gateway.state.accounts.create_token(target.user_id, f"t{n}", actor="test")
        ids[token_key] = str(issued.token_id)
    async with gateway.client() as client:
        for key, username, body in (
            ("n1", "nominator", nomination_body("E100")),
            ("n2", "nominator", nomination_body("E101", category="dedication")),
            ("nb", "nominator_b", nomination_body("E200")),
        ):
            bearer = await gateway.token(username)
            reply = await client.post(
                "/api/v1/nominations", json=body, headers={"Authorization": f"Bearer {bearer}"}
            )
            assert reply.status_code == 201, reply.text
            ids[key] = reply.json()["nomination_id"]
    return ids


def denied(status: int, location: str, *, page: bool, anonymous: bool) -> bool:
    if page and anonymous:
        return status == 403 or (status == 303 and location.startswith("/login"))
    return status in (401, 403)


async def test_every_endpoint_allows_exactly_the_roles_it_should(gateway: Harness) -> None:
    ids = await prepare(gateway)
    ids.update(await prepare_for_the_matrix(gateway, ids))
    ids.update(await prepare_payroll_and_publicity(gateway))
    apis, pages = api_cases(), page_cases()
    covered = {(c.method, c.route) for c in [*apis, *pages]}
    missing = declared_routes(gateway) - covered - PUBLIC
    assert not missing, f"routes missing from the authorisation matrix: {sorted(missing)}"

    bearer = {role: await gateway.token(role) for role in ROLES}
    sessions = {role: await gateway.signed_in(role) for role in ROLES}
    anonymous = gateway.client()
    wrong: list[str] = []

    async def check(case: Case, who: str, client: httpx.AsyncClient, page: bool) -> None:
        path = case.path.format(**ids)
        headers = {}
        data = dict(case.data or {})
        if not page and who != ANON:
            headers["Authorization"] = f"Bearer {bearer[who]}"
        if page and who != ANON and case.method == "POST":
            data["csrf_token"] = gateway.csrf_for(client)
        response = await client.request(
            case.method,
            path,
            headers=headers,
            json=case.json,
            data=data or None,
            files=case.files,
        )
        was_denied = denied(
            response.status_code,
            response.headers.get("location", ""),
            page=page,
            anonymous=who == ANON,
        )
        should_allow = who in case.allowed
        if was_denied == should_allow:
            wrong.append(
                f"{case.method} {path} as {who}: {response.status_code} "
                f"(expected {'allowed' if should_allow else 'refused'}) {response.text[:200]}"
            )
        if not page and was_denied:
            assert response.headers["content-type"].startswith("application/problem+json")

    for case in apis:
        for who in (ANON, *ROLES):
            await check(case, who, anonymous if who == ANON else sessions[who], page=False)
    for case in pages:
        for who in (ANON, *ROLES):
            await check(case, who, anonymous if who == ANON else sessions[who], page=True)
    for client in [*sessions.values(), anonymous]:
        await client.aclose()
    assert not wrong, "\n".join(wrong)


async def test_a_nominator_of_one_unit_can_never_act_for_another(gateway: Harness) -> None:
    ids = await prepare(gateway)
    a = {"Authorization": f"Bearer {await gateway.token('nominator')}"}
    async with gateway.client() as client:
        crafted = await client.post(
            "/api/v1/nominations", json=nomination_body("E200", unit_code=UNIT_B), headers=a
        )
        assert crafted.status_code == 403
        assert crafted.json()["code"] == "not_own_unit"
        other_staff = await client.post(
            "/api/v1/nominations", json=nomination_body("E201"), headers=a
        )
        assert other_staff.json()["code"] == "employee_not_in_unit"
        smuggled = await client.post(
            "/api/v1/nominations",
            json={**nomination_body("E201"), "actor_unit_code": UNIT_B},
            headers=a,
        )
        assert smuggled.status_code == 422  # the unit comes from the account, never the request
        for method, path, body in (
            (
                "PUT",
                f"/api/v1/nominations/{ids['nb']}",
                {"category": "striving", "deeds": DEEDS, "recommendation": "同意"},
            ),
            ("POST", f"/api/v1/nominations/{ids['nb']}/withdraw", {"reason": "x"}),
            ("GET", f"/api/v1/nominations/{ids['nb']}", None),
            ("GET", f"/api/v1/nominations?unit_code={UNIT_B}", None),
            ("GET", f"/api/v1/rounds/{ROUND}/quota?unit_code={UNIT_B}", None),
            ("GET", f"/api/v1/directory/employees?unit_code={UNIT_B}", None),
        ):
            reply = await client.request(method, path, json=body, headers=a)
            assert reply.status_code == 403, (method, path, reply.text)
            assert reply.json()["code"] == "not_own_unit"
        listed = await client.get("/api/v1/nominations", headers=a)
        assert {n["unit_code"] for n in listed.json()} == {UNIT_A}
    page_client = await gateway.signed_in("nominator")
    token = gateway.csrf_for(page_client)
    for path in (f"/nominations/{ids['nb']}/withdraw", f"/nominations/{ids['nb']}/edit"):
        reply = await page_client.post(path, data={"csrf_token": token, "reason": "x"})
        assert reply.status_code == 403
    await page_client.aclose()
    # The service refuses too, should the gateway's own check ever be bypassed.
    principal = Principal(gateway.users["nominator"], "token")
    services = Services(gateway.rpc, principal, "test")
    with pytest.raises(RemoteError) as refused:
        await services.command(
            "nomination", "withdraw", WithdrawNomination, nomination_id=ids["nb"], reason="x"
        )
    assert refused.value.error.code == "not_own_unit"
    remaining = await gateway.rpc.query("nomination", "nominations", {"unit_code": UNIT_B})
    assert [n["status"] for n in remaining] == ["submitted"]
