"""The content-addressed file store: kept by SHA-256, once, atomically; nothing else served."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from shared.filestore import LocalFileStore, S3FileStore, file_store


def test_a_file_is_kept_under_its_digest_and_once(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path / "files")
    data = b"%PDF-1.4 evidence"
    digest = store.put(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert (tmp_path / "files" / digest[:2] / digest).read_bytes() == data
    assert store.put(data) == digest
    assert [p.name for p in (tmp_path / "files" / digest[:2]).iterdir()] == [digest]
    assert store.get(digest) == data


def test_an_erased_file_is_deleted_and_others_stay(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path)
    erased, kept = store.put(b"%PDF his"), store.put(b"%PDF hers")
    assert store.delete(erased) is True
    assert store.get(erased) is None
    assert not (tmp_path / erased[:2] / erased).exists()
    assert store.delete(erased) is False  # deleting again: nothing there
    assert store.get(kept) == b"%PDF hers"
    with pytest.raises(ValueError, match="not a SHA-256 digest"):
        store.delete("../../etc/passwd")


def test_nothing_but_an_intact_file_under_a_digest_is_returned(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path)
    digest = store.put(b"original")
    assert store.get("0" * 64) is None
    assert store.get("../../etc/passwd") is None
    (tmp_path / digest[:2] / digest).write_bytes(b"tampered")
    assert store.get(digest) is None  # damaged bytes are never served as the evidence


def test_the_store_is_chosen_by_url(tmp_path: Path) -> None:
    assert isinstance(file_store("", tmp_path), LocalFileStore)
    chosen = file_store(f"file://{tmp_path}/shared", tmp_path / "unused")
    assert isinstance(chosen, LocalFileStore)
    assert chosen.root == tmp_path / "shared"
    assert isinstance(file_store("s3://evidence-bucket/flowers", tmp_path), S3FileStore)
    with pytest.raises(ValueError, match="unknown file store URL scheme"):
        file_store("ftp://x/y", tmp_path)
