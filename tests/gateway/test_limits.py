"""What the gateway refuses at the door (services/gateway/limits.py and the request models):
oversized bodies (413), fields over their maximum length (422), text PostgreSQL cannot store
(422) — each as problem+json with a code, and none of it ever reaching a service: a spy on
`flowers.cmd.>` and `flowers.qry.>` sees nothing while they are refused."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn

from deploy.embedded import free_port
from services.gateway.config import GatewaySettings
from services.gateway.limits import (
    MULTIPART_SLACK,
    body_limit,
    body_problem,
    json_has_unstorable_text,
    request_line_problem,
)
from shared.settings import Settings
from tests.gateway.harness import (
    DEEDS,
    FAST_HASHING,
    ROUND,
    Harness,
    nomination_body,
    running_gateway,
)
from tests.support import admin_connect, eventually

pytestmark = pytest.mark.integration

API = "/api/v1"
DIRECTORY_HEADER = b"employee_no,name,unit_code,unit_name,position,active\n"


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert body["status"] == status
    return body


@dataclass
class BusSpy:
    """Every command and query request sent on NATS while it listens."""

    nc: Any
    subscriptions: list[Any] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)

    async def requests(self) -> list[str]:
        # A round trip to the server: whatever it routed before is in the queues by now.
        await self.nc.flush()
        for subscription in self.subscriptions:
            while subscription.pending_msgs:
                self.seen.append((await subscription.next_msg()).subject)
        return list(self.seen)


@asynccontextmanager
async def bus_spy(nats_url: str) -> AsyncIterator[BusSpy]:
    spy = BusSpy(await admin_connect(nats_url))  # the admin may listen to every command
    for subjects in ("flowers.cmd.>", "flowers.qry.>"):
        spy.subscriptions.append(await spy.nc.subscribe(subjects))
    await spy.nc.flush()
    try:
        yield spy
    finally:
        await spy.nc.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- Pure: the limits and the text checks ---------------------------------------------------


def test_the_directory_imports_get_the_upload_limit_and_everything_else_the_body_limit() -> None:
    s = GatewaySettings(request_body_max_bytes=4096, directory_upload_max_bytes=16384)
    assert body_limit(s, "POST", "/api/v1/nominations") == 4096
    assert body_limit(s, "PUT", "/api/v1/nominations/x") == 4096
    assert body_limit(s, "POST", "/api/v1/directory/import.csv") == 16384 + MULTIPART_SLACK
    assert body_limit(s, "POST", "/api/v1/directory/import") == 16384 + MULTIPART_SLACK
    assert body_limit(s, "POST", "/admin/directory/") == 16384 + MULTIPART_SLACK
    assert body_limit(s, "GET", "/admin/directory") == 4096
    assert GatewaySettings().request_body_max_bytes == 1024 * 1024


@pytest.mark.parametrize(
    ("document", "unstorable"),
    [
        ({"deeds": "正常的文字 🌸 <script> '; DROP TABLE x; --"}, False),
        ({"deeds": "a\x00b"}, True),
        ({"a\x00": 1}, True),
        ({"results": [{"metric": "\ud800"}]}, True),
        (["ok", ["deeper", {"k": "\udfff"}]], True),
        ({"emoji_from_a_surrogate_pair": json.loads('"\\ud83c\\udf38"')}, False),
        ({"n": 1, "b": True, "z": None}, False),
    ],
)
def test_nul_and_lone_surrogates_are_found_anywhere_in_a_json_document(
    document: Any, unstorable: bool
) -> None:
    assert json_has_unstorable_text(document) is unstorable


def test_a_request_line_or_body_with_nul_is_refused_and_malformed_json_left_to_the_route() -> None:
    def scope(path: str = "/x", query: bytes = b"") -> dict[str, Any]:
        return {"type": "http", "path": path, "query_string": query}

    assert request_line_problem(scope()) is None
    assert request_line_problem(scope(query=b"text=%E4%B8%AD&x=%27%3B")) is None
    for bad in (scope("/a\x00b"), scope(query=b"q=%00"), scope(query=b"q=\xff")):
        found = request_line_problem(bad)
        assert found is not None
        assert found.code == "invalid_text"
    assert body_problem(b'{"deeds": "\\u0000"}', "json") is not None
    assert body_problem(b'{"deeds": "\\\\u0000"}', "json") is None  # a backslash, then text
    assert body_problem(b"{not json", "json") is None
    assert body_problem(b"[" * 100_000, "json") is None  # too deep for json: the route's 400
    assert body_problem(b"reason=a%00b", "application/x-www-form-urlencoded") is not None
    assert body_problem(b"reason=%E4%B8%AD", "application/x-www-form-urlencoded") is None


# --- Body size: 413 before anything is read or sent -----------------------------------------

SMALL = FAST_HASHING.model_copy(
    update={"request_body_max_bytes": 4096, "directory_upload_max_bytes": 16384}
)


@pytest.fixture
async def small_gateway(settings: Settings) -> AsyncIterator[Harness]:
    async with running_gateway(settings, SMALL) as harness:
        yield harness


async def test_a_body_over_the_limit_is_refused_before_any_route_or_service_sees_it(
    small_gateway: Harness, settings: Settings
) -> None:
    gateway = small_gateway
    await gateway.role_accounts()
    token = await gateway.token("nominator")
    oversized = nomination_body("E100", deeds=DEEDS * 60)  # ~16 KB of UTF-8
    payload = json.dumps(oversized).encode()
    assert len(payload) > 4096
    chunks_read: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), 1024):
            chunks_read.append(start)
            yield payload[start : start + 1024]

    async with bus_spy(settings.nats_url) as spy, gateway.client() as client:
        declared = await client.post(
            f"{API}/nominations",
            content=chunks(),
            headers={
                **bearer(token),
                "Content-Type": "application/json",
                "Content-Length": str(len(payload)),
            },
        )
        body = problem(declared, 413, "body_too_large")
        assert body["details"] == {"max_bytes": 4096}
        assert declared.headers["X-Request-Id"]  # the refusal went through Observe
        assert declared.headers["X-Content-Type-Options"] == "nosniff"
        assert chunks_read == []  # a declared length over the limit: not one byte was read

        chunked = await client.post(
            f"{API}/nominations", content=chunks(), headers={**bearer(token)}
        )
        problem(chunked, 413, "body_too_large")
        streamed = await client.post(
            f"{API}/nominations",
            content=chunks(),
            headers={**bearer(token), "Content-Type": "application/octet-stream"},
        )
        problem(streamed, 413, "body_too_large")
        page = await client.post(
            "/nominations/new",
            content=b"deeds=" + b"x" * 5000,
            headers={**bearer(token), "Content-Type": "application/x-www-form-urlencoded"},
        )
        problem(page, 413, "body_too_large")
        assert await spy.requests() == []  # nothing reached a service

        # The same nomination within the limit goes through, and the spy sees it.
        fits = await client.post(
            f"{API}/nominations", json=nomination_body("E100"), headers=bearer(token)
        )
        assert fits.status_code == 201, fits.text
        assert "flowers.cmd.nomination.submit" in await spy.requests()


async def test_a_directory_export_gets_the_upload_limit_and_its_own_file_check(
    small_gateway: Harness, settings: Settings
) -> None:
    gateway = small_gateway
    await gateway.role_accounts()
    admin = bearer(await gateway.token("admin"))
    rows = [f"E{n:05d},职工{n},WY,物业服务中心,维修工,true\n".encode() for n in range(300)]
    csv = DIRECTORY_HEADER + b"".join(rows)
    assert 4096 < len(csv) < 16384  # over the body limit, within the upload limit
    async with gateway.client() as client:
        imported = await client.post(
            f"{API}/directory/import.csv", files={"file": ("hr.csv", csv)}, headers=admin
        )
        assert imported.status_code == 200, imported.text
        assert imported.json()["changes"]
        as_json = {
            "rows": [
                {
                    "unit_code": "WY",
                    "unit_name": "物业服务中心",
                    "employee_no": f"E{n:05d}",
                    "name": f"职工{n}",
                    "position": "维修工",
                }
                for n in range(60)
            ]
        }
        assert len(json.dumps(as_json).encode()) > 4096
        replayed = await client.post(f"{API}/directory/import", json=as_json, headers=admin)
        assert replayed.status_code == 200, replayed.text

        over_the_file_limit = csv + b"".join(rows[:150])  # > 16 KiB, within the framing slack
        problem(
            await client.post(
                f"{API}/directory/import.csv",
                files={"file": ("hr.csv", over_the_file_limit)},
                headers=admin,
            ),
            413,
            "file_too_large",
        )
        far_over = csv * 30  # past the upload limit and the slack: refused at the door
        problem(
            await client.post(
                f"{API}/directory/import.csv", files={"file": ("hr.csv", far_over)}, headers=admin
            ),
            413,
            "body_too_large",
        )


async def test_over_a_real_connection_the_413_comes_before_the_body_is_sent(
    small_gateway: Harness,
) -> None:
    """uvicorn on a loopback port: the refusal arrives while the client still holds most of
    the body, the connection is closed, and the server goes on serving."""
    gateway = small_gateway
    await gateway.role_accounts()
    token = await gateway.token("nominator")
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(gateway.app, host="127.0.0.1", port=port, lifespan="off", log_level="error")
    )
    task = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: server.started or task.done(), what="uvicorn to start")
        assert server.started
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /api/v1/nominations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Authorization: Bearer " + token.encode() + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: 10485760\r\n\r\n"
            + b'{"deeds": "'
            + b"x" * 1000
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 413 "), head
        assert b"application/problem+json" in head
        assert b"connection: close" in head.lower()
        writer.close()

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            big = json.dumps(nomination_body("E100", deeds=DEEDS * 60)).encode()

            async def chunks() -> AsyncIterator[bytes]:
                for start in range(0, len(big), 512):
                    yield big[start : start + 512]

            chunked = await client.post(
                f"{API}/nominations",
                content=chunks(),
                headers={**bearer(token), "Content-Type": "application/json"},
            )
            problem(chunked, 413, "body_too_large")
            fits = await client.post(
                f"{API}/nominations", json=nomination_body("E100"), headers=bearer(token)
            )
            assert fits.status_code == 201, fits.text
    finally:
        server.should_exit = True
        await task


# --- Fields over their maximum length: 422 naming the field, nothing sent -------------------


def long(n: int) -> str:
    return "长" * n


def nomination_with(**overrides: Any) -> dict[str, Any]:
    return {**nomination_body("E100"), **overrides}


FIELD_CASES: list[tuple[str, str, str, dict[str, Any], str]] = [
    ("nominator", "POST", "/nominations", nomination_with(deeds=long(20_001)), "deeds"),
    (
        "nominator",
        "POST",
        "/nominations",
        nomination_with(recommendation=long(2_001)),
        "recommendation",
    ),
    (
        "nominator",
        "POST",
        "/nominations",
        nomination_with(results=[{"metric": long(101), "value": "1", "unit": "元"}]),
        "results.0.metric",
    ),
    (
        "nominator",
        "POST",
        "/nominations",
        nomination_with(results=[{"metric": "节约", "value": "1", "unit": long(21)}]),
        "results.0.unit",
    ),
    (
        "nominator",
        "POST",
        "/nominations",
        nomination_with(results=[{"metric": "节约", "value": "1" * 21, "unit": "元"}]),
        "results.0.value",
    ),
    (
        "nominator",
        "POST",
        "/nominations",
        nomination_with(results=[{"metric": "m", "value": "1", "unit": ""}] * 21),
        "results",
    ),
    (
        "nominator",
        "POST",
        "/nominations",
        nomination_with(evidence_links=["https://example.com/" + "a" * 2_000]),
        "evidence_links.0",
    ),
    (
        "nominator",
        "POST",
        "/nominations",
        nomination_with(evidence_links=["https://example.com/"] * 11),
        "evidence_links",
    ),
    ("nominator", "POST", "/nominations", nomination_with(employee_no="E" * 65), "employee_no"),
    (
        "admin",
        "POST",
        "/directory/import",
        {
            "rows": [
                {"unit_code": "WY", "unit_name": "物业", "employee_no": "E1", "name": long(101)}
            ]
        },
        "rows.0.name",
    ),
    (
        "admin",
        "POST",
        "/directory/import",
        {"rows": [{"unit_code": "WY", "unit_name": long(101), "employee_no": "E1", "name": "张"}]},
        "rows.0.unit_name",
    ),
    (
        "admin",
        "POST",
        "/directory/import",
        {"rows": [{"unit_code": "W" * 65, "unit_name": "物业", "employee_no": "E1", "name": "张"}]},
        "rows.0.unit_code",
    ),
    (
        "office",
        "POST",
        "/rounds/{round}/extend",
        {"new_deadline": "2026-12-31T17:00:00+08:00", "reason": long(2_001)},
        "reason",
    ),
    (
        "office",
        "POST",
        "/review/rounds/{round}/nominations/{nid}/reject",
        {"reason": long(2_001)},
        "reason",
    ),
    (
        "staff",
        "POST",
        "/review/rounds/{round}/objections",
        {"nomination_id": "{nid}", "text": long(5_001)},
        "text",
    ),
    (
        "panelist",
        "PUT",
        "/review/rounds/{round}/nominations/{nid}/score",
        {"criteria": {"achievements": "90"}, "comment": long(2_001)},
        "comment",
    ),
]


def _filled(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.replace("{round}", ROUND).replace("{nid}", ids["nid"])
    if isinstance(value, list):
        return [_filled(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _filled(v, ids) for k, v in value.items()}
    return value


async def test_every_field_over_its_maximum_length_is_refused_naming_it_before_any_service(
    gateway: Harness, settings: Settings
) -> None:
    await gateway.role_accounts()
    tokens = {u: await gateway.token(u) for u in {case[0] for case in FIELD_CASES}}
    ids = {"nid": "00000000-0000-4000-8000-000000000000"}
    async with bus_spy(settings.nats_url) as spy, gateway.client() as client:
        for who, method, path, body, field in FIELD_CASES:
            response = await client.request(
                method,
                API + _filled(path, ids),
                json=_filled(body, ids),
                headers=bearer(tokens[who]),
            )
            refused = problem(response, 422, "invalid_input")
            named = [f["field"] for f in refused["details"]["fields"]]
            assert field in named, (path, field, named)
        assert await spy.requests() == []


def _string_schemas(
    schema: Any, components: dict[str, Any], where: str
) -> Iterator[tuple[str, Any]]:
    """Every string and array schema in a request body, by dotted name."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        yield from _string_schemas(components[name], components, name)
        return
    alternatives = schema.get("anyOf", [])
    if any(a.get("type") == "number" for a in alternatives):
        return  # a decimal: bounded by its digits
    for alternative in alternatives:
        yield from _string_schemas(alternative, components, where)
    kind = schema.get("type")
    if kind in ("string", "array"):
        yield where, schema
    if kind == "array":
        yield from _string_schemas(schema.get("items", {}), components, where + "[]")
    for name, sub in schema.get("properties", {}).items():
        yield from _string_schemas(sub, components, f"{where}.{name}")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _string_schemas(schema["additionalProperties"], components, where + ".*")


GATEWAY_OWN = ("/api/v1/users", "/api/v1/tokens")
"""Accounts never reach a service; AccountStore checks every field's length itself."""
BOUNDED_OTHERWISE: set[str] = set()  # fields bounded by other means than the schema says


async def test_every_text_and_list_a_service_receives_declares_its_maximum(
    gateway: Harness,
) -> None:
    async with gateway.client() as client:
        document = (await client.get(f"{API}/openapi.json")).json()
    components = document["components"]["schemas"]
    unbounded: list[str] = []
    for path, operations in document["paths"].items():
        if path.startswith(GATEWAY_OWN):
            continue
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            schema = content.get("application/json", {}).get("schema")
            if schema is None:
                continue
            for where, sub in _string_schemas(schema, components, f"{method.upper()} {path}"):
                if where in BOUNDED_OTHERWISE:
                    continue
                if sub.get("type") == "string" and not (
                    "maxLength" in sub
                    or "enum" in sub
                    or "pattern" in sub
                    or sub.get("format") in ("uuid", "date-time")
                ):
                    unbounded.append(where)
                if sub.get("type") == "array" and "maxItems" not in sub:
                    unbounded.append(where)
    assert unbounded == []


# --- Text PostgreSQL cannot store: 422 invalid_text wherever it comes in --------------------


async def test_nul_and_lone_surrogates_are_refused_with_a_code_on_every_way_in(
    gateway: Harness, settings: Settings
) -> None:
    await gateway.role_accounts()
    tokens = {u: bearer(await gateway.token(u)) for u in ("admin", "auditor", "nominator")}
    admin, auditor, nominator = tokens["admin"], tokens["auditor"], tokens["nominator"]
    staff_id = gateway.users["staff"].user_id
    new_user = {"username": "newbie", "password": "long-enough-1", "roles": ["staff"]}
    json_type = {"Content-Type": "application/json"}
    async with bus_spy(settings.nats_url) as spy, gateway.client() as client:
        refusals = [
            # the gateway's own tables (these were 500s: PostgreSQL refuses the bytes)
            await client.post(
                f"{API}/users", json={**new_user, "display_name": "a\x00b"}, headers=admin
            ),
            await client.post(
                f"{API}/users",
                content=b'{"username": "newbie", "password": "long-enough-1", '
                b'"roles": ["staff"], "display_name": "\\ud800"}',
                headers={**admin, **json_type},
            ),
            await client.post(
                f"{API}/users/{staff_id}/tokens", json={"name": "t\x00"}, headers=admin
            ),
            # read-only audit queries
            await client.get(f"{API}/audit/events", params={"type": "\x00"}, headers=auditor),
            await client.get(f"{API}/audit/events", params={"text": "a\x00"}, headers=auditor),
            await client.get("/audit/events", params={"actor": "\x00"}, headers=auditor),
            # the services (refused here first, with the same code as shared/rpc.py)
            await client.post(
                f"{API}/nominations", json=nomination_body(deeds=DEEDS + "\x00"), headers=nominator
            ),
            await client.get(f"{API}/nominations/%00", headers=nominator),
            # a page's form
            await client.post("/login", data={"username": "admin\x00", "password": "x"}),
        ]
        for response in refusals:
            problem(response, 422, "invalid_text")
        assert await spy.requests() == []
        # An emoji escaped as a surrogate pair (as json.dumps writes it) is a character, not
        # a lone surrogate: it goes through.
        escaped = json.dumps(nomination_body(deeds=DEEDS + "🌸")).encode()
        assert b"\\ud83c\\udf38" in escaped
        accepted = await client.post(
            f"{API}/nominations", content=escaped, headers={**nominator, **json_type}
        )
        assert accepted.status_code == 201, accepted.text
        stored = await client.get(
            f"{API}/nominations/{accepted.json()['nomination_id']}", headers=nominator
        )
        assert stored.json()["deeds"].endswith("🌸")


def test_the_limit_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWERS_GATEWAY_REQUEST_BODY_MAX_BYTES", "2048")
    assert GatewaySettings().request_body_max_bytes == 2048
