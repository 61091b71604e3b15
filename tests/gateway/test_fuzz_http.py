"""Property-based fuzzing of the gateway's HTTP API from its own OpenAPI document.

Schemathesis turns `/api/v1/openapi.json` into Hypothesis strategies, one per operation:
valid requests (with the ids of real rounds, nominations, drafts and adjustments, and with
generated ones), invalid ones (wrong types, missing fields, unknown fields, odd query
strings) and hostile ones (valid requests with some strings and numbers swapped for NUL,
lone surrogates, markup, SQL, bidi controls, 5,000 characters, numbers past 64 bits). Each
request is sent with the bearer token of one of the harness's role accounts — mostly a role
the route admits, sometimes another, sometimes none — to the real gateway app with every
service in-process on real NATS and PostgreSQL.

Whatever comes in: never a 5xx, and every refusal is `application/problem+json` carrying a
`code` and its status. The examples are generated first (derandomised: the same every run)
and then sent in turn; about 800 requests, some 15 seconds. A second test sets every integer
parameter of every read to 2**63, where a random draw rarely goes.
"""

from __future__ import annotations

import inspect
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.core.result import Ok

from services.gateway.routes import ROUTERS
from tests.gateway.harness import ROLE_ACCOUNTS, ROUND, Harness, nomination_body
from tests.gateway.published import PAST_ROUND, PERIOD, prepare_payroll_and_publicity

pytestmark = pytest.mark.integration

EXAMPLES = 3
"""Per operation and kind of example (known ids, generated, invalid, hostile): ~850 requests."""
ANONYMOUS = "anonymous"
EVERY_ACCOUNT = tuple(ROLE_ACCOUNTS)
SERVER_ERROR = 500
HOSTILE_TEXT = (
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "<script>alert(1)</script>",
    "'; DROP TABLE users; --",
    "\u200b\u202e右到左",
    '=HYPERLINK("http://example.com")',
    "../../etc/passwd",
    "%00",
    "🌸🌸🌸",
    "x" * 5000,
    "",
)
HOSTILE_NUMBERS = (2**63, -(2**63) - 1, 10**30, -1, 0)


@dataclass(frozen=True)
class Example:
    operation: str  # "POST /api/v1/nominations"
    kind: str  # known | generated | invalid | hostile
    who: str  # a username of ROLE_ACCOUNTS, or ANONYMOUS
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None


def _roles_of(dependant: Any) -> set[str]:
    """The roles named by `deps.allow(...)` anywhere in a route's dependencies."""
    found: set[str] = set()
    for sub in dependant.dependencies:
        call = sub.call
        if getattr(call, "__name__", "").startswith("allow_"):
            found |= set(inspect.getclosurevars(call).nonlocals["wanted"])
        found |= _roles_of(sub)
    return found


PUBLIC_API = "/api/v1/public/"
"""Operations open to anyone, signed in or not (the public notice: test_public_notice.py)."""


def admitted_accounts() -> dict[str, tuple[str, ...]]:
    """`"METHOD /path"` → the harness accounts whose roles the route admits."""
    admitted: dict[str, tuple[str, ...]] = {}
    for router in ROUTERS:
        for route in router.routes:
            if not isinstance(route, APIRoute) or not route.include_in_schema:
                continue
            roles = _roles_of(route.dependant)
            accounts = tuple(
                username
                for username, spec in ROLE_ACCOUNTS.items()
                if "*" in roles or spec["roles"] & roles or route.path.startswith(PUBLIC_API)
            )
            for method in route.methods or ():
                admitted[f"{method} {route.path}"] = accounts
    return admitted


def known_parameters(path: str, parameters: Iterable[str], ids: dict[str, str]) -> dict[str, Any]:
    """Real values for an operation's path parameters, so valid examples get past the lookup."""
    past = path.startswith(("/api/v1/publicity", "/api/v1/honor-roll"))
    values: dict[str, Any] = {
        "round_id": PAST_ROUND if past else ROUND,
        "nomination_id": ids["n1"],
        "user_id": ids["target"],
        "token_id": ids["token"],
        "material_id": ids["pub_bulletin"],
        "adjustment_id": ids["pay_adj"],
        "period": PERIOD,
        "fmt": "docx",
        "chart": "by_category",
        "service": "nomination",
        "position": 1,
        "objection_no": 1,
        "panelist_id": ids["target"],
    }
    return {name: values[name] for name in parameters if name in values}


def prepared(case: Case[Any]) -> tuple[str, str, dict[str, str], bytes | None]:
    """The request exactly as schemathesis's own transport would put it on the wire."""
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    kwargs.pop("timeout", None)
    kwargs.pop("verify", None)
    kwargs.pop("allow_redirects", None)
    request = requests.Request(**kwargs).prepare()
    raw = request.body
    body = raw.encode() if isinstance(raw, str) else raw if isinstance(raw, bytes) else None
    headers = {
        k: v if isinstance(v, str) else v.decode("latin-1")
        for k, v in request.headers.items()
        if k.lower() != "cookie"
    }
    return request.method or case.method.upper(), request.url or "", headers, body


def roughen(value: Any, data: st.DataObject) -> Any:
    """Some of a valid example's strings and integers swapped for hostile ones."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and data.draw(st.booleans()):
        return data.draw(st.sampled_from(HOSTILE_TEXT))
    if isinstance(value, int) and data.draw(st.booleans()):
        return data.draw(st.sampled_from(HOSTILE_NUMBERS))
    if isinstance(value, list):
        return [roughen(v, data) for v in value]
    if isinstance(value, dict):
        return {k: roughen(v, data) for k, v in value.items()}
    return value


def draw(
    strategy: st.SearchStrategy[Case[Any]],
    who: st.SearchStrategy[str],
    name: str,
    kind: str,
) -> list[Example]:
    drawn: list[Example] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy, account=who, data=st.data())
    def collect(case: Case[Any], account: str, data: st.DataObject) -> None:
        if kind == "hostile":
            case.path_parameters = roughen(case.path_parameters, data)
            case.query = roughen(case.query, data)
            if isinstance(case.body, dict | list):
                case.body = roughen(case.body, data)
        try:
            method, url, headers, body = prepared(case)
        except (ValueError, TypeError, UnicodeError):
            return  # not expressible as an HTTP request at all
        drawn.append(Example(name, kind, account, method, url, headers, body))

    collect()
    return drawn


def generate(document: dict[str, Any], ids: dict[str, str]) -> list[Example]:
    schema = schemathesis.openapi.from_dict(document)
    admitted = admitted_accounts()
    examples: list[Example] = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # the document is the app's own: it must load
        operation = result.ok()
        name = f"{operation.method.upper()} {operation.path}"
        allowed = admitted.get(name, ())
        # Mostly an account the route admits (to reach the service), now and then anyone.
        who = st.sampled_from([*(allowed * 6), *EVERY_ACCOUNT, ANONYMOUS])
        path_names = [p.name for p in operation.path_parameters]
        strategies = {
            "known": operation.as_strategy(
                path_parameters=known_parameters(operation.path, path_names, ids)
            ),
            "generated": operation.as_strategy(),
            "invalid": operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
            "hostile": operation.as_strategy(
                path_parameters=known_parameters(operation.path, path_names, ids)
            ),
        }
        for kind, strategy in strategies.items():
            try:
                examples += draw(strategy, who, name, kind)
            except Unsatisfiable:
                continue  # nothing to make invalid (no parameters, no body)
    return examples


def wrong_with(response: httpx.Response) -> str | None:
    """What is wrong with this answer, or None."""
    if response.status_code >= SERVER_ERROR:
        return f"server error {response.status_code}: {response.text[:300]}"
    if response.status_code < 400:
        return None
    media_type = response.headers.get("content-type", "")
    if not media_type.startswith("application/problem+json"):
        return f"refusal {response.status_code} as {media_type!r}: {response.text[:200]}"
    try:
        body = response.json()
    except json.JSONDecodeError:
        return f"refusal {response.status_code} is not JSON: {response.text[:200]}"
    if not isinstance(body, dict) or not isinstance(body.get("code"), str) or not body["code"]:
        return f"refusal {response.status_code} without a code: {response.text[:200]}"
    if body.get("status") != response.status_code:
        return f"refusal {response.status_code} says status {body.get('status')!r}"
    return None


async def prepare(gateway: Harness) -> dict[str, str]:
    """Accounts of every role, a nomination, a published past round (awards and drafts)."""
    await gateway.role_accounts()
    target = await gateway.account("target", {"staff"})
    token, _ = await gateway.state.accounts.create_token(target.user_id, "t", actor="test")
    ids = {"target": str(target.user_id), "token": str(token.token_id)}
    async with gateway.client() as client:
        reply = await client.post(
            "/api/v1/nominations",
            json=nomination_body("E100"),
            headers={"Authorization": f"Bearer {await gateway.token('nominator')}"},
        )
        assert reply.status_code == 201, reply.text
        ids["n1"] = reply.json()["nomination_id"]
    ids.update(await prepare_payroll_and_publicity(gateway))
    return ids


def client_of(gateway: Harness) -> httpx.AsyncClient:
    """A client that gets the 500 a crash produces as an answer, instead of the exception."""
    transport = httpx.ASGITransport(
        app=gateway.app, raise_app_exceptions=False, client=("10.0.0.1", 50000)
    )
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_the_http_api_never_fails_and_refuses_only_with_coded_problems(
    gateway: Harness,
) -> None:
    ids = await prepare(gateway)
    tokens = {username: await gateway.token(username) for username in EVERY_ACCOUNT}
    async with client_of(gateway) as client:
        document = (await client.get("/api/v1/openapi.json")).json()
        examples = generate(document, ids)
        operations = {e.operation for e in examples}
        assert len(operations) == sum(len(methods) for methods in document["paths"].values())
        assert len(examples) > 400

        statuses: Counter[int] = Counter()
        codes: Counter[str] = Counter()
        reached: set[str] = set()
        failures: list[str] = []
        for example in examples:
            headers = dict(example.headers)
            if example.who != ANONYMOUS:
                headers["Authorization"] = f"Bearer {tokens[example.who]}"
            response = await client.request(
                example.method, example.url, headers=headers, content=example.body
            )
            statuses[response.status_code] += 1
            if response.status_code < 400:
                reached.add(example.operation)
            elif "problem+json" in response.headers.get("content-type", ""):
                codes[response.json().get("code", "")] += 1
            problem = wrong_with(response)
            if problem:
                sent = f" body={example.body[:300]!r}" if example.body else ""
                failures.append(
                    f"{example.operation} [{example.kind}] as {example.who}: "
                    f"{example.method} {example.url}{sent}: {problem}"
                )
    print(f"\n{len(examples)} requests over {len(operations)} operations: {dict(statuses)}")
    print(f"refusal codes: {dict(codes.most_common())}")
    print(f"{len(reached)} operations answered 2xx at least once")
    assert not failures, f"{len(failures)} bad answer(s):\n" + "\n".join(failures[:25])
    # The fuzzer got past authentication and validation into the services, and was refused
    # by them as well as by the gateway.
    assert len(reached) >= len(operations) // 2
    assert codes["invalid_input"] > 0
    assert codes["invalid_text"] > 0
    assert codes["forbidden"] > 0
    assert codes["unauthenticated"] > 0


BIGINT_PAST = 2**63
"""One past PostgreSQL's bigint: a number the JSON and the models happily carry."""


async def test_integers_past_bigint_get_a_coded_refusal_not_a_crash(gateway: Harness) -> None:
    """Every integer parameter of every read, set to 2**63, as an account the route admits."""
    ids = await prepare(gateway)
    admitted = admitted_accounts()
    tokens = {username: await gateway.token(username) for username in EVERY_ACCOUNT}
    crashed: dict[str, str] = {}
    tried = 0
    async with client_of(gateway) as client:
        document = (await client.get("/api/v1/openapi.json")).json()
        for path, operations in document["paths"].items():
            operation = operations.get("get")
            if operation is None:
                continue
            name = f"GET {path}"
            parameters = operation.get("parameters", [])
            known = known_parameters(
                path, [p["name"] for p in parameters if p["in"] == "path"], ids
            )
            for parameter in parameters:
                schema = parameter["schema"]
                kinds = {schema.get("type")} | {s.get("type") for s in schema.get("anyOf", [])}
                if "integer" not in kinds:
                    continue
                if parameter["in"] == "path":
                    url, query = path.format(**{**known, parameter["name"]: BIGINT_PAST}), {}
                else:
                    url, query = path.format(**known), {parameter["name"]: BIGINT_PAST}
                account = admitted[name][0]
                response = await client.get(
                    url, params=query, headers={"Authorization": f"Bearer {tokens[account]}"}
                )
                tried += 1
                problem = wrong_with(response)
                if problem:
                    crashed[name] = f"{parameter['name']}: {problem[:160]}"
    assert tried >= 10
    assert crashed == {}, crashed


def test_every_operation_declares_who_may_call_it() -> None:
    """The fuzzer picks its accounts from `allow(...)`: a route without one would be open."""
    assert all(admitted_accounts().values())
