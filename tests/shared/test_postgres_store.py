"""The PostgreSQL store under concurrency and tampering (real server)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import uuid

import asyncpg
import pytest

from shared.events import (
    GENESIS_HASH,
    DomainEvent,
    EventMetadata,
    NewEvent,
    RecordedEvent,
    metadata_json,
)
from shared.eventstore import AppendRequest, ConcurrencyError
from shared.postgres import PostgresEventStore, create_pool, set_checkpoint

YIELD_S = 0  # the reader yields to the writers between empty reads


class Counted(DomainEvent):
    service = "test"
    writer: int
    n: int


def counted(writer: int, n: int) -> NewEvent:
    return NewEvent.of(Counted(writer=writer, n=n), EventMetadata(actor=f"writer-{writer}"))


async def test_eight_concurrent_appenders_leave_no_gap_and_a_tailing_reader_sees_each_once(
    pg_store: PostgresEventStore,
) -> None:
    writers, per_writer = 8, 500
    total = writers * per_writer
    done = asyncio.Event()
    seen: list[int] = []
    seen_ids: list[str] = []

    async def write(writer: int) -> None:
        for n in range(per_writer):
            await pg_store.append(f"writer-{writer}", [counted(writer, n)])

    async def tail() -> None:
        after = 0
        while True:
            batch = await pg_store.read_all(after=after, limit=200)
            for event in batch:
                seen.append(event.position)
                seen_ids.append(str(event.event_id))
            if batch:
                after = batch[-1].position
            elif done.is_set() and after >= total:
                return
            else:
                await asyncio.sleep(YIELD_S)  # let the writers run

    reader = asyncio.create_task(tail())
    await asyncio.gather(*(write(w) for w in range(writers)))
    done.set()
    await asyncio.wait_for(reader, 30)

    assert seen == list(range(1, total + 1))
    assert len(set(seen_ids)) == total
    positions = [r["position"] for r in await pg_store.pool.fetch("SELECT position FROM events")]
    assert sorted(positions) == list(range(1, total + 1))
    for writer in range(writers):
        stream = await pg_store.load(f"writer-{writer}")
        assert [e.data["n"] for e in stream.events] == list(range(per_writer))
    assert (await pg_store.verify_chain()).ok


async def test_two_stores_on_one_log_with_expected_versions_keep_it_whole(
    pool: asyncpg.Pool,
) -> None:
    """Each store appends after the head it last saw, in one statement; when the other
    store (another process) or a rolled-back transaction moved the head or left it
    behind, the append takes the head lock and reads it. The log stays one gap-free chain,
    and a stale expected version is still refused."""
    stores = [PostgresEventStore(pool), PostgresEventStore(pool)]
    per_stream = 60

    async def write(writer: int) -> None:
        store = stores[writer % 2]
        for n in range(per_stream):
            await store.append(f"w-{writer}", [counted(writer, n)], expected_version=n)
            if n == per_stream // 2:  # a caller's transaction that rolls back after appending
                with contextlib.suppress(RuntimeError):
                    async with pool.acquire() as conn, conn.transaction():
                        await store.append(
                            f"w-{writer}", [counted(writer, -1)], expected_version=n + 1, conn=conn
                        )
                        raise RuntimeError("the caller changed its mind")

    await asyncio.gather(*(write(w) for w in range(6)))
    total = 6 * per_stream
    assert await stores[0].head() == total
    positions = [r["position"] for r in await pool.fetch("SELECT position FROM events")]
    assert sorted(positions) == list(range(1, total + 1))
    for writer in range(6):
        stream = await stores[1].load(f"w-{writer}")
        assert [e.data["n"] for e in stream.events] == list(range(per_stream))
    assert (await stores[0].verify_chain()).ok
    with pytest.raises(ConcurrencyError) as stale:
        await stores[1].append("w-0", [counted(0, 99)], expected_version=3)
    assert (stale.value.expected, stale.value.actual) == (3, per_stream)


async def _fill(store: PostgresEventStore, count: int = 10) -> None:
    for n in range(count):
        await store.append(f"s-{n % 3}", [counted(0, n)])


async def test_an_updated_past_row_is_named_by_verify_chain(pg_store: PostgresEventStore) -> None:
    await _fill(pg_store)
    await pg_store.pool.execute(
        """UPDATE events SET data = jsonb_set(data, '{n}', '99') WHERE position = 4"""
    )
    report = await pg_store.verify_chain()
    assert not report.ok
    assert report.first_break is not None
    assert report.first_break.position == 4
    assert report.checked == 3


async def test_a_deleted_past_row_is_named_by_verify_chain(pg_store: PostgresEventStore) -> None:
    await _fill(pg_store)
    await pg_store.pool.execute("DELETE FROM events WHERE position = 6")
    report = await pg_store.verify_chain()
    assert report.first_break is not None
    assert report.first_break.position == 6
    assert "missing" in report.first_break.reason


async def test_reordered_rows_are_detected(pg_store: PostgresEventStore) -> None:
    await _fill(pg_store)
    async with pg_store.pool.acquire() as conn, conn.transaction():
        await conn.execute("UPDATE events SET position = -1 WHERE position = 7")
        await conn.execute("UPDATE events SET position = 7 WHERE position = 8")
        await conn.execute("UPDATE events SET position = 8 WHERE position = -1")
    report = await pg_store.verify_chain()
    assert report.first_break is not None
    assert report.first_break.position == 7


async def test_a_deleted_last_row_is_detected_by_the_head(pg_store: PostgresEventStore) -> None:
    await _fill(pg_store)
    await pg_store.pool.execute("DELETE FROM events WHERE position = 10")
    report = await pg_store.verify_chain()
    assert report.first_break is not None
    assert report.first_break.position == 10


async def test_tampered_metadata_is_named_by_verify_chain(pg_store: PostgresEventStore) -> None:
    """Tampering with the metadata (who did it) is caught like tampering with the data."""
    await _fill(pg_store)
    await pg_store.pool.execute(
        """UPDATE events SET metadata = jsonb_set(metadata, '{actor}', '"someone-else"')
           WHERE position = 2"""
    )
    report = await pg_store.verify_chain()
    assert report.first_break is not None
    assert report.first_break.position == 2


async def test_appends_wait_for_the_lock_no_longer_than_the_timeout(
    pool: asyncpg.Pool, db_url: str
) -> None:
    bounded = await create_pool(db_url, lock_timeout_ms=100)
    try:
        store = PostgresEventStore(bounded)
        await store.append("s", [counted(0, 0)])
        async with pool.acquire() as holder, holder.transaction():
            await holder.execute("SELECT * FROM event_log_head FOR UPDATE")
            try:
                await store.append("s", [counted(0, 1)])
            except asyncpg.LockNotAvailableError:
                pass
            else:
                raise AssertionError("the append should have given up waiting for the lock")
        assert await store.head() == 1
    finally:
        await bounded.close()


async def test_a_stale_append_in_a_callers_transaction_needs_no_second_connection(
    db_url: str, pool: asyncpg.Pool
) -> None:
    """The conflict is reported on the caller's connection alone: with every connection of
    the pool held by such callers, none waits for another (the pool-exhaustion hang)."""
    await PostgresEventStore(pool).append("s-1", [counted(0, 0)], expected_version=0)
    single = await create_pool(db_url, min_size=1, max_size=1)
    try:
        store = PostgresEventStore(single)
        with pytest.raises(ConcurrencyError) as stale:
            async with store.transaction() as conn:
                await asyncio.wait_for(
                    store.append("s-1", [counted(0, 1)], expected_version=0, conn=conn), 5
                )
        # The insert's own statement found the stream ahead: the current version with it.
        assert (stale.value.stream_id, stale.value.expected, stale.value.actual) == ("s-1", 0, 1)
        # Its own transaction reads the current version on its one connection.
        with pytest.raises(ConcurrencyError) as own:
            await asyncio.wait_for(store.append("s-1", [counted(0, 1)], expected_version=0), 5)
        assert own.value.actual == 1
    finally:
        await single.close()


class Spelled(DomainEvent):
    service = "test"
    text: str
    nested: dict[str, list[float | int | str | None]]


TRICKY = Spelled(
    text='红花 "quoted" \\ back\nline \u2028 tab\t é',
    nested={"z": [1.5, 2, "二"], "a": [None, -3, 0.25], "m": []},
)


def _legacy_chain_hash(prev: str, *fields: object) -> str:
    """The chain formula as the store wrote it before appends encoded each event once: the
    canonical JSON of the whole list, hashed."""
    body = json.dumps(
        [prev, *(str(f) if isinstance(f, uuid.UUID) else f for f in fields)],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


async def test_a_log_written_before_appends_encoded_once_still_verifies_and_grows(
    pg_store: PostgresEventStore,
) -> None:
    # Rows as the earlier store wrote them: jsonb from json.dumps, hash over the whole list.
    prev = GENESIS_HASH
    async with pg_store.pool.acquire() as conn:
        for position in (1, 2):
            event = NewEvent.of(TRICKY, EventMetadata(actor="老用户", correlation_id="c-1"))
            meta = metadata_json(event.metadata)
            fields = (
                position,
                "old-stream",
                position,
                event.event_id,
                event.type,
                1,
                event.data,
                meta,
            )
            digest = _legacy_chain_hash(prev, *fields)
            await conn.execute(
                "INSERT INTO events (position, stream_id, version, event_id, type, "
                "schema_version, data, metadata, prev_hash, hash) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                *fields,
                prev,
                digest,
            )
            prev = digest
        await conn.execute(
            "UPDATE event_log_head SET position = 2, hash = $1 WHERE singleton", prev
        )

    recorded = await pg_store.append(
        "old-stream", [NewEvent.of(TRICKY, EventMetadata(actor="新用户"))], expected_version=2
    )

    report = await pg_store.verify_chain()
    assert report.ok, report.first_break
    assert report.checked == 3
    # The new row's hash is the very one the old formula gives for what is stored.
    row = await pg_store.pool.fetchrow("SELECT * FROM events WHERE position = 3")
    assert row is not None
    assert (
        row["hash"]
        == recorded[0].hash
        == _legacy_chain_hash(
            prev,
            3,
            "old-stream",
            3,
            row["event_id"],
            row["type"],
            row["schema_version"],
            row["data"],
            row["metadata"],
        )
    )
    assert row["data"] == TRICKY.to_data()


async def test_the_relays_bodies_spelled_by_postgresql_decode_to_the_stored_envelopes(
    pg_store: PostgresEventStore,
) -> None:
    await pg_store.append(
        "spelled", [NewEvent.of(TRICKY, EventMetadata(actor="红", causation_id="x"))]
    )
    await pg_store.append("spelled", [counted(1, 2)])

    published = await pg_store.read_published(after=0)
    stored = await pg_store.read_all(after=0)

    assert [RecordedEvent.model_validate_json(p.body) for p in published] == stored
    assert [(p.position, p.event_id, p.type) for p in published] == [
        (e.position, e.event_id, e.type) for e in stored
    ]


async def test_the_relay_reads_past_a_named_checkpoint_in_the_same_statement(
    pg_store: PostgresEventStore,
) -> None:
    await pg_store.append("after-checkpoint", [counted(1, 2), counted(3, 4), counted(5, 6)])

    # No checkpoint yet: from the start of the log.
    assert [p.position for p in await pg_store.read_published(after="relay:test")] == [1, 2, 3]
    await set_checkpoint(pg_store.pool, "relay:test", 2)
    assert [p.position for p in await pg_store.read_published(after="relay:test")] == [3]
    assert [p.position for p in await pg_store.read_published(after=1, limit=1)] == [2]


async def test_a_stale_version_writes_nothing_and_leaves_the_callers_transaction_usable(
    pool: asyncpg.Pool,
) -> None:
    """The versions expected are checked by the insert's statement before it writes, so a
    caller decides again in the same transaction (no savepoint); a request without events
    checks its stream's version the same way, and so does an expected version too high."""
    store = PostgresEventStore(pool)
    await store.append("t-1", [counted(0, 0)], expected_version=0)
    async with store.transaction() as conn:
        for wanted in (0, 5):
            with pytest.raises(ConcurrencyError) as stale:
                await store.append("t-1", [counted(0, 1)], expected_version=wanted, conn=conn)
            assert (stale.value.expected, stale.value.actual) == (wanted, 1)
        with pytest.raises(ConcurrencyError):
            await store.append_batch(
                [AppendRequest("t-2", [counted(0, 0)], 0), AppendRequest("t-1", [], 0)], conn=conn
            )
        recorded = await store.append_batch(
            [AppendRequest("t-2", [counted(0, 0)], 0), AppendRequest("t-1", [], 1)], conn=conn
        )
        assert [(r.stream_id, r.version) for r in recorded] == [("t-2", 1)]
    assert [e.version for e in (await store.load("t-1")).events] == [1]
    assert [e.version for e in (await store.load("t-2")).events] == [1]
