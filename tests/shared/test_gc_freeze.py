"""A running service keeps what it was started with out of the cycle collector's way
(docs/performance.md), and gives it back when it stops (tests and the bench go on)."""

from __future__ import annotations

import gc

from services.review.app import build_runtime
from shared.settings import Settings


async def test_a_started_service_freezes_its_objects_and_a_stopped_one_unfreezes_them(
    settings: Settings,
) -> None:
    gc.unfreeze()
    made_before = [object()]
    runtime = build_runtime(settings)
    await runtime.start()
    try:
        assert gc.get_freeze_count() > 0
        # A full collection no longer walks what existed when the service came up.
        assert not any(o is made_before for o in gc.get_objects(generation=2))
    finally:
        await runtime.stop()
    assert gc.get_freeze_count() == 0
    assert any(o is made_before for o in gc.get_objects())
