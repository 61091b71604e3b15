"""A persistent mapping: immutable, and a changed copy costs O(√n), not a whole dict's copy.

Evolving a state by one event must leave the old state as it was (deciders are pure and
states are cached), so a fold that copies a dict per event is quadratic in the dict's size:
a round's review copied its whole candidate map for every candidate recorded. A PMap keeps
a base dict that its versions share, and the changes since in a small dict of their own;
once the changes outgrow √n they are merged into a new base (so a change costs at most
~√n entries copied, plus the merges spread over the changes between them).

It reads as a dict does: the same iteration order (insertion order, a replaced key keeps
its place), equal to a dict with the same items.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterable, Iterator, KeysView, Mapping, ValuesView
from typing import Any, TypeVar, overload

K = TypeVar("K")
V = TypeVar("V")
D = TypeVar("D")

_MISSING: Any = object()
_MERGE_AT = 8  # changes kept apart at least this many before a merge (small maps)


class PMap(Mapping[K, V]):
    __slots__ = ("_added", "_base", "_changes")

    _base: dict[K, V]  # shared between versions: never changed once made
    _changes: dict[K, V]  # this version's changes to the base: never changed once made
    _added: int  # keys in `_changes` that are not in `_base`

    def __init__(self, items: Mapping[K, V] | Iterable[tuple[K, V]] = ()) -> None:
        self._base = dict(items)
        self._changes = {}
        self._added = 0

    @classmethod
    def of(cls, mapping: Mapping[K, V]) -> PMap[K, V]:
        """`mapping` itself if it is a PMap, else a PMap of its items."""
        return mapping if isinstance(mapping, PMap) else cls(mapping)

    def set(self, key: K, value: V) -> PMap[K, V]:
        """A new PMap with `key` set to `value`; this one is unchanged."""
        base, changes = self._base, self._changes
        new = PMap.__new__(PMap)
        if len(changes) >= _MERGE_AT and len(changes) * len(changes) >= len(base):
            merged = {**base, **changes}
            merged[key] = value
            new._base, new._changes, new._added = merged, {}, 0
        else:
            new._base, new._changes = base, {**changes, key: value}
            new._added = self._added + (key not in base and key not in changes)
        return new

    def __getitem__(self, key: K) -> V:
        value = self._changes.get(key, _MISSING)
        return self._base[key] if value is _MISSING else value

    @overload
    def get(self, key: K, /) -> V | None: ...
    @overload
    def get(self, key: K, default: V | D, /) -> V | D: ...
    def get(self, key: K, default: Any = None) -> Any:
        value = self._changes.get(key, _MISSING)
        return self._base.get(key, default) if value is _MISSING else value

    def __contains__(self, key: object) -> bool:
        return key in self._changes or key in self._base

    def __len__(self) -> int:
        return len(self._base) + self._added

    def __iter__(self) -> Iterator[K]:
        if not self._changes:
            return iter(self._base)
        return self._iter_changed()

    def _iter_changed(self) -> Iterator[K]:
        base = self._base
        yield from base
        yield from (key for key in self._changes if key not in base)

    # The base's own views where nothing changed since (reading a merged map costs a dict's).
    def keys(self) -> KeysView[K]:
        return self._base.keys() if not self._changes else KeysView(self)

    def values(self) -> ValuesView[V]:
        return self._base.values() if not self._changes else ValuesView(self)

    def items(self) -> ItemsView[K, V]:
        return self._base.items() if not self._changes else ItemsView(self)

    def __repr__(self) -> str:
        return f"PMap({dict(self.items())!r})"
