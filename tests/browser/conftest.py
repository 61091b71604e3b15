"""Browser tests: Playwright for Python driving Debian's Chromium against a served gateway.

The browser is installed by deploy/ensure-browser.sh (apt-get; never `playwright install`).
If it cannot be installed the tests fail: nothing here is skipped.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
from playwright.async_api import Browser, Dialog, Error, Page, async_playwright

from deploy.embedded import free_port
from shared.settings import PROJECT_ROOT, Settings
from tests.gateway.harness import Harness, running_gateway

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "browser"

POLL_S = 0.01  # between checks that the server is up (with a deadline)


@pytest.fixture(scope="session")
def chromium() -> str:
    script = PROJECT_ROOT / "deploy" / "ensure-browser.sh"
    result = subprocess.run(
        ["bash", str(script)], capture_output=True, text=True, timeout=900, check=False
    )
    if result.returncode != 0 or not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not available ({script}):\n{result.stdout}{result.stderr}")
    return CHROMIUM


@pytest.fixture(scope="session")
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


class Served:
    def __init__(self, harness: Harness, url: str) -> None:
        self.harness = harness
        self.url = url


@pytest.fixture
async def served(settings: Settings) -> AsyncIterator[Served]:
    """The gateway (with the nomination service behind it) on a real port."""
    async with running_gateway(settings) as harness:
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(
                harness.app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"
            )
        )
        task = asyncio.create_task(server.serve())
        try:
            deadline = asyncio.get_running_loop().time() + 30
            while not server.started:
                if task.done():
                    task.result()
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError("the gateway did not start within 30 s")
                await asyncio.sleep(POLL_S)
            yield Served(harness, f"http://127.0.0.1:{port}")
        finally:
            server.should_exit = True
            await task


def confirm_dialogs(page: Page) -> None:
    """Accept every "are you sure?" the page asks before a final step. A dialog the page
    closed itself before the answer arrived (it navigated meanwhile) needs none."""

    async def accept(dialog: Dialog) -> None:
        try:
            await dialog.accept()
        except Error as exc:
            if "No dialog is showing" not in exc.message:
                raise

    page.on("dialog", accept)
