"""A content-addressed file store: a file is kept under the SHA-256 of its bytes, so the same
file stored twice is kept once and a name (the digest) can never point at other bytes.

`file_store(url)` picks the store from a URL: `""` or `file:///path` is a directory on this
machine (by default `.data/files` under the project); an S3-compatible store (`s3://bucket/…`)
is not built yet and is refused by name rather than silently kept on local disk.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

DIGEST = re.compile(r"^[0-9a-f]{64}$")


class FileStore(Protocol):
    """Where uploaded files are kept, by the SHA-256 of their content."""

    def put(self, data: bytes) -> str:
        """Keep `data`; its hex SHA-256, the name to fetch it by."""
        ...

    def get(self, digest: str) -> bytes | None:
        """The bytes kept under `digest`, or None."""
        ...


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class LocalFileStore:
    """Files in a directory: `<root>/<first two hex digits>/<digest>`, written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, digest: str) -> Path:
        if not DIGEST.match(digest):
            raise ValueError(f"not a SHA-256 digest: {digest!r}")
        return self.root / digest[:2] / digest

    def put(self, data: bytes) -> str:
        digest = digest_of(data)
        path = self._path(digest)
        if path.exists():
            return digest  # the same bytes are kept once
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written beside, synced, then renamed: a reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def get(self, digest: str) -> bytes | None:
        try:
            path = self._path(digest)
        except ValueError:
            return None
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        return data if digest_of(data) == digest else None  # a damaged file is not served


def file_store(url: str, default_root: Path) -> FileStore:
    """The store a URL names: empty for `default_root`, `file:///dir` for a directory."""
    if not url:
        return LocalFileStore(default_root)
    parts = urlsplit(url)
    if parts.scheme == "file":
        return LocalFileStore(Path(unquote(parts.path)))
    if parts.scheme in ("s3", "https", "http"):
        raise ValueError(
            "an S3-compatible file store is not built yet: use a directory "
            "(FLOWERS_GATEWAY_FILE_STORE_URL=file:///path, shared by every gateway instance)"
        )
    raise ValueError(f"unknown file store URL scheme: {parts.scheme!r}")
