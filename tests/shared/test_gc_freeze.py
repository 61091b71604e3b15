"""A running service keeps what it was started with out of the cycle collector's way and
collects its young objects less often (docs/performance.md); it gives the frozen ones back
when it stops (tests and the bench go on)."""

from __future__ import annotations

import gc

from services.review.app import build_runtime
from shared.service import YOUNG_GC_THRESHOLD
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
        assert gc.get_threshold()[0] == YOUNG_GC_THRESHOLD
        # A full collection no longer walks what existed when the service came up.
        assert not any(o is made_before for o in gc.get_objects(generation=2))
    finally:
        await runtime.stop()
    assert gc.get_freeze_count() == 0
    assert any(o is made_before for o in gc.get_objects())
