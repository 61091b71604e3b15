"""Winners' photos as they come in: checked by their content (JPEG or PNG, whatever the file
is called), turned upright, resized to fit `max_px` and kept as a plain JPEG — no EXIF (a
phone's photo carries where and when it was taken), no transparency (flattened onto white).

`prepare` only computes; the handler keeps the result in the file store (`store_for`) and
records it.
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from services.publicity.errors import PhotoRefused
from shared.filestore import FileStore, file_store
from shared.settings import Settings

ACCEPTED = {"JPEG", "PNG"}
MAX_PIXELS = 50_000_000  # a decoded picture larger than this is refused (a "zip bomb" of pixels)
QUALITY = 85


@dataclass(frozen=True)
class PreparedPhoto:
    jpeg: bytes
    width: int
    height: int


def store_for(settings: Settings) -> FileStore:
    """Where winners' photos are kept (the setting publicity_file_store_url)."""
    return file_store(settings.publicity_file_store_url, settings.data_dir / "files")


def _refused(zh: str, en: str) -> PhotoRefused:
    return PhotoRefused(reason_zh=zh, reason_en=en)


def decode_base64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _refused("照片数据不完整，请重新上传。", "The photo's data is damaged.") from None


def prepare(data: bytes, max_px: int) -> PreparedPhoto:
    """The photo as it is kept, or PhotoRefused with a sentence saying why."""
    if not data:
        raise _refused("照片文件是空的。", "The photo file is empty.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.format not in ACCEPTED:
                    raise _refused(
                        "照片只接受 JPEG 或 PNG 图片（按文件内容判断，与文件名无关）。",
                        "A photo is a JPEG or PNG image (judged by its content).",
                    )
                if image.width * image.height > MAX_PIXELS:
                    raise _refused(
                        f"照片像素过多（{image.width}×{image.height}），请缩小后再上传。",
                        f"The photo has too many pixels ({image.width}×{image.height}).",
                    )
                image.load()
                upright = ImageOps.exif_transpose(image)
    except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise _refused(
            "照片只接受 JPEG 或 PNG 图片（按文件内容判断，与文件名无关）。",
            "A photo is a JPEG or PNG image (judged by its content).",
        ) from None
    except (OSError, SyntaxError, ValueError):
        raise _refused(
            "照片文件已损坏，无法读取，请重新上传。", "The photo file is damaged."
        ) from None
    if upright.mode in ("RGBA", "LA", "P"):
        rgba = upright.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        upright = flat
    else:
        upright = upright.convert("RGB")
    upright.thumbnail((max_px, max_px), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    upright.save(out, "JPEG", quality=QUALITY, optimize=True)
    return PreparedPhoto(out.getvalue(), upright.width, upright.height)


def data_uri(jpeg: bytes) -> str:
    """A photo inline in HTML (the article is pasted or uploaded without its pictures' URLs)."""
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()


def data_uris(photos: Mapping[str, bytes]) -> dict[str, str]:
    return {nid: data_uri(jpeg) for nid, jpeg in photos.items()}
