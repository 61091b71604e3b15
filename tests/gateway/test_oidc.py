"""OpenID Connect sign-in against a real provider the test starts: node's `oidc-provider`
(tests/oidc/, installed by `npm ci` into .data/test/oidc), the full authorization-code flow
with PKCE through the gateway, the employee-number claim mapped to the directory's account."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest

from deploy.embedded import free_port
from services.gateway.auth import SESSION_COOKIE
from services.gateway.employees import EmployeeAccounts
from services.gateway.oidc import STATE_COOKIE
from shared.settings import PROJECT_ROOT, Settings
from tests.gateway.harness import FAST_HASHING, Harness, running_gateway
from tests.support import eventually

pytestmark = pytest.mark.integration

SOURCE = PROJECT_ROOT / "tests" / "oidc"
INSTALL = PROJECT_ROOT / ".data" / "test" / "oidc"
CLIENT_ID, CLIENT_SECRET = "flowers-gateway", "test-client-secret-not-real"
SITE = "http://testserver"
ACCOUNTS = {  # login at the provider -> its claims
    "zhang.wei": {"employee_no": "E100", "name": "张伟"},
    "stranger": {"employee_no": "X999", "name": "外单位人员"},
}
FORM = re.compile(r'<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>', re.S)
INPUT = re.compile(r"<input([^>]*)>")
ATTR = re.compile(r'(\w+)="([^"]*)"')


def install_provider() -> Path:
    """`npm ci` of tests/oidc into .data/test/oidc, once per lock file."""
    INSTALL.mkdir(parents=True, exist_ok=True)
    lock = (SOURCE / "package-lock.json").read_bytes()
    for name in ("package.json", "package-lock.json", "provider.mjs"):
        shutil.copyfile(SOURCE / name, INSTALL / name)
    stamp = INSTALL / "node_modules" / ".installed-lock"
    if not stamp.exists() or stamp.read_bytes() != lock:
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is needed to install the test's OIDC provider (node 20 or later)")
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=INSTALL,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(f"npm ci of the OIDC provider failed:\n{result.stdout}{result.stderr}")
        stamp.write_bytes(lock)
    return INSTALL


@pytest.fixture
async def provider() -> AsyncIterator[str]:
    """The provider running on a free port; its issuer URL."""
    where = await asyncio.to_thread(install_provider)
    node = shutil.which("node")
    assert node, "node is needed for the test's OIDC provider"
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    client = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [f"{SITE}/login/oidc/callback"],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
    }
    env = {
        **os.environ,
        "PORT": str(port),
        "OIDC_CLIENTS": json.dumps([client]),
        "OIDC_ACCOUNTS": json.dumps(ACCOUNTS, ensure_ascii=False),
    }
    process = await asyncio.create_subprocess_exec(
        node,
        "provider.mjs",
        cwd=where,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient() as probe:

            async def serving() -> bool:
                if process.returncode is not None:
                    raise AssertionError("the OIDC provider exited")
                try:
                    found = await probe.get(f"{issuer}/.well-known/openid-configuration")
                except httpx.HTTPError:
                    return False
                return found.status_code == 200

            await eventually(serving, timeout=30, interval=0.05, what="the OIDC provider")
        yield issuer
    finally:
        process.terminate()
        await process.wait()


@pytest.fixture
async def gateway_with_oidc(settings: Settings, provider: str) -> AsyncIterator[Harness]:
    configured = FAST_HASHING.model_copy(
        update={
            "oidc_issuer": provider,
            "oidc_client_id": CLIENT_ID,
            "oidc_client_secret": CLIENT_SECRET,
            "oidc_label": "企业微信登录",
            "public_url": SITE,
        }
    )
    async with running_gateway(settings, configured) as harness:
        directory = await harness.rpc.query(
            "nomination", "employees", {"unit_code": None, "active_only": False}
        )
        await EmployeeAccounts(harness.state.accounts).provision(directory, actor="test")
        yield harness


async def sign_in_at_the_provider(authorize_url: str, login: str) -> str:
    """Play the provider's pages as a person would; the URL it finally sends them back to."""
    async with httpx.AsyncClient() as browser:
        url, method, data = authorize_url, "GET", None
        for _ in range(12):
            response = await browser.request(method, url, data=data)
            if response.is_redirect:
                target = urljoin(url, response.headers["location"])
                if target.startswith(SITE):
                    return target
                url, method, data = target, "GET", None
                continue
            assert response.status_code == 200, response.text[:500]
            form = FORM.search(response.text)
            assert form, response.text[:500]
            fields = {}
            for attrs in INPUT.findall(form.group(2)):
                found = dict(ATTR.findall(attrs))
                if "name" in found:
                    fields[found["name"]] = found.get("value", "")
            if "login" in fields:
                fields.update(login=login, password="any password")
            url, method, data = urljoin(url, form.group(1)), "POST", fields
    raise AssertionError("the provider never sent the browser back")


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def test_an_employee_signs_in_through_the_company_provider_with_pkce(
    gateway_with_oidc: Harness,
) -> None:
    gateway = gateway_with_oidc
    phone = gateway.client()
    login = await phone.get("/login?next=/gongshi")
    assert 'href="/login/oidc?next=/gongshi"' in login.text
    assert "企业微信登录" in login.text

    begun = await phone.get("/login/oidc?next=/gongshi")
    assert begun.status_code == 303
    authorize = begun.headers["location"]
    query = parse_qs(urlsplit(authorize).query)
    assert query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == [f"{SITE}/login/oidc/callback"]
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43
    assert query["nonce"]
    assert phone.cookies.get(STATE_COOKIE) == query["state"][0]

    back = await sign_in_at_the_provider(authorize, "zhang.wei")
    assert parse_qs(urlsplit(back).query)["state"] == query["state"]
    done = await phone.get(path_of(back))
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/gongshi"
    assert phone.cookies.get(SESSION_COOKIE)
    me = (await phone.get("/api/v1/me")).json()
    assert me["username"] == "e100"
    assert me["display_name"] == "张伟"
    assert me["roles"] == ["employee"]

    # The same answer again (a replay) finds no flow: the state was spent.
    replay = await gateway.client().get(path_of(back))
    assert replay.status_code == 401
    assert "统一身份登录未能完成" in replay.text

    # A flow finished in another browser than the one that began it is refused.
    starter = gateway.client()
    begun = await starter.get("/login/oidc")
    back = await sign_in_at_the_provider(begun.headers["location"], "zhang.wei")
    thief = await gateway.client().get(path_of(back))
    assert thief.status_code == 401
    assert not thief.cookies.get(SESSION_COOKIE)

    # Someone the provider knows but the directory does not: no account, said in Chinese.
    outsider = gateway.client()
    begun = await outsider.get("/login/oidc")
    back = await sign_in_at_the_provider(begun.headers["location"], "stranger")
    refused = await outsider.get(path_of(back))
    assert refused.status_code == 401
    assert "没有与您的工号对应的有效账户" in refused.text
    assert not outsider.cookies.get(SESSION_COOKIE)
