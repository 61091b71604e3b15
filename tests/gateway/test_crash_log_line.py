"""A request that crashes is logged by its route's template, never by the path as sent (a
path may carry an employee number: issue 18, no log line in clear)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI, Request, Response

from services.gateway.app import route_template


async def test_a_crash_is_logged_by_its_route_not_by_the_employee_number_in_its_path() -> None:
    app = FastAPI()
    logged: list[str] = []

    @app.post("/api/v1/employees/{employee_no}/erasure")
    async def erase(employee_no: str) -> None:
        raise RuntimeError("the handler crashed")

    @app.exception_handler(Exception)
    async def on_crash(request: Request, exc: Exception) -> Response:  # as the gateway's
        logged.append(route_template(request))
        return Response(status_code=500)

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.post("/api/v1/employees/HQ1004/erasure")
    assert response.status_code == 500
    assert logged == ["/api/v1/employees/{employee_no}/erasure"]
