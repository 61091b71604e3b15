"""The retention job killed for real: the nomination service as its own OS process, SIGKILLed
between recording ExpiredPersonalDataShredded and destroying the keys.

The round is set up in-process (nominations, review's results heard), then the nomination
service runs as a process (`faststream run`) on a clock file three years on. Its job records
the run and, told so by FLOWERS_RETENTION_PAUSE_AFTER_RECORDING_S (a test-only setting),
logs `retention_paused_after_recording` and waits: the test sees that line in the process's
log and kills it. Every key still exists then; restarted without the pause, the service
destroys exactly the expired nominees' keys without recording the run again, and a further
run records nothing.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from deploy.stack import ServiceProcess, service_command
from services.nomination.app import build_runtime
from services.nomination.retention_job import RetentionJob, RunReport
from services.review.app import build_runtime as review_runtime
from shared.clock import SHANGHAI, FixedClock
from shared.contracts.common import Category
from shared.database_roles import AUDITOR
from shared.keystore import PostgresKeyStore, open_keystore
from shared.settings import Settings
from tests.nomination.test_retention import (
    EXPIRES_AT,
    EXPIRING,
    NAMES,
    NOMINATED,
    publish,
    result,
    shredding_runs,
)
from tests.nomination.test_service import DIRECTORY, OFFICE, submission
from tests.support import eventually, rpc_client

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("processes")]

AFTER = EXPIRES_AT + timedelta(days=1)
PAUSED = "retention_paused_after_recording"


def nomination_process(settings: Settings, root: Path, pause_s: float, log: str) -> ServiceProcess:
    """The nomination service as `flowers up` runs it, on the clock file `root/now`."""
    env = {
        **os.environ,
        "FLOWERS_NATS_URL": settings.nats_url,
        "FLOWERS_DATABASE_URL": settings.database_url,
        "FLOWERS_DATABASE_PREFIX": settings.database_prefix,
        "FLOWERS_DATA_DIR": str(root),
        "FLOWERS_CLOCK_FILE": str(root / "now"),
        "FLOWERS_RETENTION_INTERVAL_S": "3600",  # the run at start is the one under test
        "FLOWERS_RETENTION_PAUSE_AFTER_RECORDING_S": str(pause_s),
        "FLOWERS_RELAY_POLL_INTERVAL_S": "0.2",
        "PYTHONUNBUFFERED": "1",
    }
    return ServiceProcess("nomination", service_command("nomination", settings), env, root / log)


def logged(process: ServiceProcess, event: str) -> list[dict[str, Any]]:
    """The process's log lines of `event` (JSON, shared/logging.py)."""
    lines = process.log_path.read_text(errors="replace").splitlines()
    found = [json.loads(line) for line in lines if line.startswith("{")]
    return [line for line in found if line.get("event") == event]


async def keys_held(keys: PostgresKeyStore) -> set[str]:
    """The directory's employees whose key still exists."""
    return {no for no in NAMES if await keys.subject_of(no) is not None}


async def test_a_retention_run_sigkilled_after_recording_shreds_exactly_the_expired_once(
    settings: Settings, nc: Any, session_dir: Path
) -> None:
    clock = FixedClock(datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI))
    quiet = settings.model_copy(update={"retention_interval_s": 3600.0})
    rpc = rpc_client(nc)
    nomination = build_runtime(quiet, clock=clock)
    review = review_runtime(quiet)
    await nomination.start()
    await review.start()
    try:
        await rpc.command("nomination", "import_directory", {**OFFICE, "rows": DIRECTORY})
        await rpc.command("nomination", "open_round", {**OFFICE, "round_id": "2026-Q4"})
        for no, flower in NOMINATED.items():
            await rpc.command("nomination", "submit", submission(no[1:3], no, flower))
        await publish(review, result("2026-Q4", {"EWY0": Category.STRIVING}))
        await publish(review, result("2026-Q3", {"ECY1": Category.REFORM}))

        async def heard() -> bool:
            pool = nomination.store.pool
            return bool(
                await pool.fetchval("SELECT count(*) = 2 FROM past_wins")
                and await pool.fetchval("SELECT count(*) = 2 FROM results_published")
            )

        await eventually(heard, timeout=20, what="the nomination service to hear the results")
    finally:
        await review.stop()
        await nomination.stop()

    root = session_dir / f"retention-{os.urandom(4).hex()}"
    root.mkdir()
    (root / "now").write_text(AFTER.isoformat())
    keys = await open_keystore(settings, login=AUDITOR)
    first = nomination_process(settings, root, pause_s=600, log="killed.log")
    second = nomination_process(settings, root, pause_s=0, log="restarted.log")
    try:
        assert await keys_held(keys) == set(NAMES)
        subjects = {no: await keys.subject_of(no) for no in NAMES}

        # The run records and pauses: killed there, before any key is destroyed.
        first.start()

        async def paused() -> bool:
            assert first.running, first.tail()
            return bool(logged(first, PAUSED))

        await eventually(paused, timeout=30, what="the run to record and pause")
        first.kill()
        assert await keys_held(keys) == set(NAMES)

        # Restarted: its job at start destroys the keys the recorded run names, records nothing.
        second.start()

        async def completed() -> bool:
            assert second.running, second.tail()
            return bool(logged(second, "retention_run"))

        await eventually(completed, timeout=30, what="the restarted job to destroy the keys")
        [run] = logged(second, "retention_run")
        assert (run["recorded"], run["keys_destroyed"]) == (False, len(EXPIRING))
        assert await keys_held(keys) == set(NAMES) - EXPIRING
        assert not logged(second, PAUSED)
    finally:
        first.stop()
        second.stop()
        await keys.pool.close()

    # Exactly one run recorded, naming exactly the expired; a further run records nothing.
    nomination = build_runtime(quiet, clock=FixedClock(AFTER))
    await nomination.start()
    try:
        runs = await shredding_runs(nomination)
        assert len(runs) == 1, runs
        assert {s.subject_id for s in runs[0].subjects} == {subjects[no] for no in EXPIRING}
        assert runs[0].counts == {"unsuccessful_nomination": len(EXPIRING)}
        assert await RetentionJob(nomination).run() == RunReport(recorded=False, keys_destroyed=0)
        assert len(await shredding_runs(nomination)) == 1
        assert nomination.keys is not None
        assert await keys_held(nomination.keys) == set(NAMES) - EXPIRING
    finally:
        await nomination.stop()
