"""How the payroll system reads stream PAYROLL: each message opened with the key store's keys.

A PAYROLL message (services/rewards/payroll_feed.py) carries the winner's employee number
and name sealed under the winner's key, exactly as the rewards log stored them. The
payroll system logs in to the key store as its own read-only role (`<prefix>payroll`:
SELECT on the pseudonyms and keys of `data_subjects`, nothing else, shared/keystore.py)
and opens a batch of messages with one query for their keys. Nothing is cached: a key
destroyed a moment ago (an erasure, the retention job) reads 已删除 in the next batch.

    async with payroll_reader(settings) as reader:
        lines = await reader.open([msg.data for msg in batch])
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from shared.contracts.rewards import PayrollLine, open_payroll_line
from shared.database_roles import PAYROLL_KEYS
from shared.keystore import PostgresKeyStore, open_keystore
from shared.personal_data import subject_ids
from shared.settings import Settings


class PayrollReader:
    """Opens PAYROLL messages with the keys of the subjects they name (one query a batch)."""

    def __init__(self, keys: PostgresKeyStore) -> None:
        self.keys = keys

    async def open(self, messages: Sequence[bytes | Mapping[str, Any]]) -> list[PayrollLine]:
        """The messages as payroll lines, in the order given; an erased winner's employee
        number reads `已删除·<8 hex of the pseudonym>` and their name 已删除."""
        parsed = [json.loads(m) if isinstance(m, bytes) else dict(m) for m in messages]
        wanted: set[uuid.UUID] = set()
        for data in parsed:
            wanted |= subject_ids(data)
        found = await self.keys.keys(sorted(wanted, key=str)) if wanted else {}
        by_text = {str(subject): key for subject, key in found.items()}
        return [open_payroll_line(data, by_text.get) for data in parsed]


@asynccontextmanager
async def payroll_reader(settings: Settings) -> AsyncIterator[PayrollReader]:
    """A reader logged in to the key store as the payroll system's role while the block runs."""
    keys = await open_keystore(settings, login=PAYROLL_KEYS)
    try:
        yield PayrollReader(keys)
    finally:
        await keys.pool.close()
