"""The test sessions' directories (tests/conftest.py `session_dir`): a finished one is
removed by the next session's start, a running one (its lock held) is left alone."""

from __future__ import annotations

from pathlib import Path

from tests.support import eventually, remove_finished_sessions, session_lock


def names(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir())


def make_session(path: Path) -> None:
    (path / "pg" / "pgdata").mkdir(parents=True)
    (path / "pg" / "pgdata" / "PG_VERSION").write_text("18\n")


async def test_a_finished_session_is_removed_and_a_running_one_kept(tmp_path: Path) -> None:
    finished, running = tmp_path / "session-done", tmp_path / "session-live"
    make_session(finished)
    make_session(running)
    session_lock(finished).close()  # its session ended: the lock is free again
    with session_lock(running):
        removing = remove_finished_sessions(tmp_path)
        assert [p.name.startswith("trash-") for p in removing] == [True]
        assert "session-done" not in names(tmp_path)  # renamed at once
        assert names(running / "pg" / "pgdata") == ["PG_VERSION"]

        await eventually(lambda: names(tmp_path) == ["session-live"], what="the background rm")
