from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shared.settings import Settings
from tests.gateway.harness import Harness, running_gateway


@pytest.fixture
async def gateway(settings: Settings) -> AsyncIterator[Harness]:
    async with running_gateway(settings) as harness:
        yield harness
