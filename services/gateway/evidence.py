"""Evidence files sent with a nomination: checked (size, kind by name and by content), kept in
the content-addressed file store, and named in the nomination as a link to this site,
`/files/<sha256>/<name>` — the nomination service accepts such a link beside web links.

Every file sent or kept by a form is recorded in `evidence_uploads` with the time (before its
bytes are put in the store): the sweep (services/gateway/evidence_sweep.py) deletes only
recorded files, and none sent or kept within its grace period, so a file on its way into a
nomination stays.

Refusals are sentences in Chinese that name the file and the limit it broke.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote

import asyncpg
from starlette.datastructures import UploadFile

from services.gateway.config import GatewaySettings
from services.gateway.i18n import Text
from services.gateway.problems import Problem
from shared.filestore import DIGEST, FileStore, digest_of, file_store
from shared.settings import Settings

FILES_PATH = "/files"

# What each kind of file starts with (its "magic"), and what it is called in Chinese.
MAGIC: dict[str, tuple[bytes, ...]] = {
    "pdf": (b"%PDF-",),
    "jpg": (b"\xff\xd8\xff",),
    "jpeg": (b"\xff\xd8\xff",),
    "png": (b"\x89PNG\r\n\x1a\n",),
    "docx": (b"PK\x03\x04",),
    "xlsx": (b"PK\x03\x04",),
}
KIND_ZH = {
    "pdf": "PDF",
    "jpg": "JPG",
    "jpeg": "JPG",
    "png": "PNG",
    "docx": "Word（.docx）",
    "xlsx": "Excel（.xlsx）",
}
MEDIA_TYPES = {
    "pdf": "application/pdf",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True)
class Stored:
    """A kept evidence file: its digest and the name it was sent with."""

    digest: str
    name: str

    @property
    def link(self) -> str:
        return f"{FILES_PATH}/{self.digest}/{quote(self.name, safe='')}"


def evidence_limits(gateway: GatewaySettings) -> dict[str, Any]:
    """What the form says about uploads (and what `accept` lists)."""
    kinds = [k for k in gateway.evidence_types if k in MAGIC]
    return {
        "max_size": size_text(gateway.evidence_max_bytes),
        "max_files": gateway.evidence_max_files,
        "kinds_zh": "、".join(dict.fromkeys(KIND_ZH[k] for k in kinds)),
        "accept": ",".join(f".{k}" for k in kinds),
    }


def store_for(settings: Settings, gateway: GatewaySettings) -> FileStore:
    return file_store(gateway.file_store_url, settings.data_dir / "files")


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f}".rstrip("0").rstrip(".")


def size_text(size: int) -> str:
    """A size as people read it: "10 MB", "4 KB", "1.5 MB"."""
    if size < 1024 * 1024:
        return f"{max(1, round(size / 1024))} KB"
    return f"{_mb(size)} MB"


def kind_of(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def refusal(
    name: str, data: bytes, gateway: GatewaySettings, size: int | None = None
) -> Text | None:
    """Why this file is refused, or None (`size`: the whole file's, when `data` is its start)."""
    size = len(data) if size is None else size
    kind = kind_of(name)
    allowed = [k for k in gateway.evidence_types if k in MAGIC]
    if kind not in allowed:
        kinds = "、".join(dict.fromkeys(KIND_ZH[k] for k in allowed))
        return (
            f"文件“{name}”的类型不允许上传，只接受 {kinds} 文件。",
            f"“{name}” is not an accepted kind of file ({', '.join(allowed)}).",
        )
    if size > gateway.evidence_max_bytes:
        shown, limit = size_text(size), size_text(gateway.evidence_max_bytes)
        return (
            f"文件“{name}”大小 {shown}，超过上限 {limit}。",
            f"“{name}” is {shown}, over the {limit} limit.",
        )
    if not data:
        return (f"文件“{name}”是空文件。", f"“{name}” is empty.")
    if not data.startswith(MAGIC[kind]):
        return (
            f"文件“{name}”的内容不是 {KIND_ZH[kind]} 文件，请检查后重新上传。",
            f"The content of “{name}” is not a {kind} file.",
        )
    return None


def clean_name(raw: str) -> str:
    """The file's own name, without any folder, control characters or slashes."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:120] or "file"


async def record_uploads(pool: asyncpg.Pool, digests: Iterable[str], now: datetime) -> None:
    """Note that these files were sent or kept now (the sweep's grace period counts from the
    last time). Called before the bytes are put: a sweep deleting the same bytes holds the
    row, so the upload waits for it and then puts them again."""
    rows = sorted({d for d in digests if DIGEST.match(d)})
    if rows:
        await pool.execute(
            "INSERT INTO evidence_uploads (digest, last_uploaded_at)"
            " SELECT unnest($1::text[]), $2"
            " ON CONFLICT (digest) DO UPDATE SET last_uploaded_at ="
            " greatest(evidence_uploads.last_uploaded_at, excluded.last_uploaded_at)",
            rows,
            now,
        )


async def receive(
    uploads: list[UploadFile],
    already: int,
    store: FileStore,
    gateway: GatewaySettings,
    pool: asyncpg.Pool,
    now: datetime,
) -> tuple[list[Stored], list[Text]]:
    """Keep the acceptable files of a form (recorded at `now`); the refusals of the others,
    one sentence each."""
    stored: list[Stored] = []
    refused: list[Text] = []
    for upload in uploads:
        if not upload.filename:
            continue  # the file input left empty
        name = clean_name(upload.filename)
        data = await upload.read(gateway.evidence_max_bytes + 1)
        why = refusal(name, data, gateway, upload.size)
        if why is None and already + len(stored) >= gateway.evidence_max_files:
            why = (
                f"最多上传 {gateway.evidence_max_files} 个证明材料文件，“{name}”未保存。",
                f"At most {gateway.evidence_max_files} files: “{name}” was not kept.",
            )
        if why is not None:
            refused.append(why)
            continue
        await record_uploads(pool, [digest_of(data)], now)
        # The store may be a network away (S3): its blocking call runs in a thread.
        stored.append(Stored(await asyncio.to_thread(store.put, data), name))
    return stored, refused


def parse_link(link: str) -> Stored | None:
    """The stored file a link on this site names, or None for any other link."""
    prefix = FILES_PATH + "/"
    if not link.startswith(prefix):
        return None
    digest, _, name = link[len(prefix) :].partition("/")
    if not DIGEST.match(digest) or not name or "/" in name:
        return None
    return Stored(digest, unquote(name))


def link_text(link: str) -> str:
    """How a link is shown: an uploaded file by its name, any other link as it is."""
    stored = parse_link(link)
    return f"📎 {stored.name}" if stored is not None else link


def not_found() -> Problem:
    return Problem(404, "file_not_found", ("找不到该文件。", "No such file."))
