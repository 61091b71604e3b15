"""Every router of the gateway, in the order they are mounted.

To add a service's pages: write `routes/<service>_pages.py` (an APIRouter with
`dependencies=[Depends(page_csrf)]`, `include_in_schema=False`), its API in
`routes/api_<service>.py` (prefix /api/v1, `dependencies=[Depends(api_csrf)]`), register menu
entries with `web.nav_link` and home panels with `home.home_panel`, put templates under
`templates/<service>/`, add both routers below, and add the endpoints to the authorisation
matrix in tests/gateway/test_authorisation.py (it fails for an endpoint missing there).
"""

from __future__ import annotations

from fastapi import APIRouter

from services.gateway.routes.admin_pages import router as admin_pages
from services.gateway.routes.api_accounts import router as api_accounts
from services.gateway.routes.api_audit import router as api_audit
from services.gateway.routes.api_evidence import router as api_evidence
from services.gateway.routes.api_nomination import router as api_nomination
from services.gateway.routes.api_notification import router as api_notification
from services.gateway.routes.api_payroll import router as api_payroll
from services.gateway.routes.api_personal_data import router as api_personal_data
from services.gateway.routes.api_publicity import router as api_publicity
from services.gateway.routes.api_review import router as api_review
from services.gateway.routes.audit_pages import router as audit_pages
from services.gateway.routes.employee_pages import router as employee_pages
from services.gateway.routes.home_pages import router as home_pages
from services.gateway.routes.honors_pages import router as honors_pages
from services.gateway.routes.nomination_pages import router as nomination_pages
from services.gateway.routes.notice_pages import api as api_public
from services.gateway.routes.notice_pages import router as notice_pages
from services.gateway.routes.notification_pages import router as notification_pages
from services.gateway.routes.office_pages import router as office_pages
from services.gateway.routes.oidc_pages import router as oidc_pages
from services.gateway.routes.payroll_pages import router as payroll_pages
from services.gateway.routes.personal_data_pages import router as personal_data_pages
from services.gateway.routes.publicity_pages import router as publicity_pages
from services.gateway.routes.review_audit_pages import router as review_audit_pages
from services.gateway.routes.review_decision_pages import router as review_decision_pages
from services.gateway.routes.review_scoring_pages import router as review_scoring_pages
from services.gateway.routes.review_sheet_pages import router as review_sheet_pages
from services.gateway.routes.role_placeholders import router as role_placeholders
from services.gateway.routes.session_pages import router as session_pages

ROUTERS: list[APIRouter] = [
    session_pages,
    home_pages,
    notice_pages,
    api_public,
    employee_pages,
    oidc_pages,
    nomination_pages,
    office_pages,
    review_audit_pages,
    review_sheet_pages,
    review_scoring_pages,
    review_decision_pages,
    api_review,
    admin_pages,
    role_placeholders,
    api_accounts,
    api_nomination,
    api_evidence,
    payroll_pages,
    publicity_pages,
    audit_pages,
    honors_pages,
    api_payroll,
    api_publicity,
    api_audit,
    personal_data_pages,
    api_personal_data,
    notification_pages,
    api_notification,
]
