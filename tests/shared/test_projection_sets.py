"""Writes grouped by table for a rebuild's long runs (shared.projection.grouped_by_table)."""

from __future__ import annotations

import pytest

from shared.projection import Statement, grouped_by_table, statement, written_table

ROUND = "INSERT INTO rounds (round_id) VALUES ($1)"
NOMINATION = "INSERT INTO nominations (nomination_id, round_id) VALUES ($1, $2)"
CLOSE = "UPDATE nominations SET status = 'closed' WHERE round_id = $1"
RENAME = "\n    UPDATE units SET name = $2 WHERE unit_code = $1"


@pytest.mark.parametrize(
    ("sql", "table"),
    [
        (ROUND, "rounds"),
        (CLOSE, "nominations"),
        (RENAME, "units"),
        ("delete from Rejections WHERE nomination_id = $1", "rejections"),
        ("SELECT 1", None),
        ("WITH x AS (SELECT 1) UPDATE rounds SET status = 'open'", None),
    ],
)
def test_the_table_a_write_names(sql: str, table: str | None) -> None:
    assert written_table(sql) == table


@pytest.mark.parametrize(
    ("given", "grouped"),
    [
        pytest.param([], [], id="nothing"),
        pytest.param(
            [
                statement(ROUND, "R1"),
                statement(NOMINATION, "N1", "R1"),
                statement(NOMINATION, "N2", "R1"),
                statement(ROUND, "R2"),
                statement(NOMINATION, "N3", "R2"),
                statement(CLOSE, "R1"),
                statement(NOMINATION, "N4", "R2"),
            ],
            [
                statement(ROUND, "R1"),
                statement(ROUND, "R2"),
                statement(NOMINATION, "N1", "R1"),
                statement(NOMINATION, "N2", "R1"),
                statement(NOMINATION, "N3", "R2"),
                statement(CLOSE, "R1"),  # still after N1..N3 and before N4: its table's order
                statement(NOMINATION, "N4", "R2"),
            ],
            id="rounds and their nominations: each table's writes in their order",
        ),
        pytest.param(
            [statement(NOMINATION, "N1", "R1"), statement("SELECT 1"), statement(ROUND, "R1")],
            [statement(NOMINATION, "N1", "R1"), statement("SELECT 1"), statement(ROUND, "R1")],
            id="a write naming no table: the given order",
        ),
    ],
)
def test_writes_grouped_by_table(given: list[Statement], grouped: list[Statement]) -> None:
    assert grouped_by_table(given) == grouped


def test_every_write_of_nominations_own_projection_names_its_table() -> None:
    """project_bulk groups them: a write naming no table would quietly keep the slow order,
    and one reading another table could not be grouped at all."""
    import inspect

    from services.nomination import projections

    source = inspect.getsource(projections.writes)
    assert "SELECT" not in source.upper().replace("SELECTED", "")
    assert projections.OWN.bulk is projections.project_bulk
