"""shared.pmap.PMap reads exactly as a dict changed the same way, and old versions never change."""

from __future__ import annotations

import random

import pytest

from shared.pmap import PMap


def _same(pmap: PMap[int, str], expected: dict[int, str]) -> None:
    assert list(pmap) == list(expected)  # insertion order, a replaced key keeps its place
    assert list(pmap.items()) == list(expected.items())
    assert list(pmap.values()) == list(expected.values())
    assert list(pmap.keys()) == list(expected.keys())
    assert len(pmap) == len(expected)
    assert pmap == expected
    assert expected == pmap
    for key in range(-1, 60):
        assert (key in pmap) == (key in expected)
        assert pmap.get(key) == expected.get(key)
        assert pmap.get(key, "none") == expected.get(key, "none")
        if key in expected:
            assert pmap[key] == expected[key]
        else:
            with pytest.raises(KeyError):
                pmap[key]


@pytest.mark.parametrize("seed", range(5))
def test_a_pmap_reads_as_a_dict_changed_the_same_way(seed: int) -> None:
    rng = random.Random(seed)
    start = {k: f"v{k}" for k in rng.sample(range(50), rng.randrange(0, 30))}
    pmap, expected = PMap(start), dict(start)
    for step in range(400):
        key = rng.randrange(50)
        pmap, expected = pmap.set(key, f"s{step}"), {**expected, key: f"s{step}"}
        _same(pmap, expected)


def test_every_older_version_stays_as_it_was() -> None:
    versions: list[tuple[PMap[int, str], dict[int, str]]] = [(PMap(), {})]
    for step in range(300):
        pmap, expected = versions[-1]
        key = (step * 7) % 45
        versions.append((pmap.set(key, f"s{step}"), {**expected, key: f"s{step}"}))
    for pmap, expected in versions:
        _same(pmap, expected)


def test_of_keeps_a_pmap_and_copies_any_other_mapping() -> None:
    pmap = PMap({1: "a"})
    assert PMap.of(pmap) is pmap
    source = {1: "a"}
    copied = PMap.of(source)
    source[2] = "b"  # the PMap holds its own copy
    assert copied == {1: "a"}
