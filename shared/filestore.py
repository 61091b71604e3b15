"""A content-addressed file store: a file is kept under the SHA-256 of its bytes, so the same
file stored twice is kept once and a name (the digest) can never point at other bytes.

`file_store(url)` picks the store from a URL: `""` or `file:///path` is a directory on this
machine (by default `.data/files` under the project); `s3://bucket/prefix` is a bucket of an
S3-compatible store (AWS S3, MinIO, Ceph …) reached with boto3: the endpoint and region come
from `S3Settings` (FLOWERS_S3_*), the credentials from there or boto3's usual chain
(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile, an instance role) — never from the URL,
which is logged.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DIGEST = re.compile(r"^[0-9a-f]{64}$")


class FileStore(Protocol):
    """Where uploaded files are kept, by the SHA-256 of their content."""

    def put(self, data: bytes) -> str:
        """Keep `data`; its hex SHA-256, the name to fetch it by."""
        ...

    def get(self, digest: str) -> bytes | None:
        """The bytes kept under `digest`, or None."""
        ...

    def delete(self, digest: str) -> bool:
        """Forget the bytes kept under `digest` (an erasure); True if they were there."""
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

    def delete(self, digest: str) -> bool:
        try:
            self._path(digest).unlink()
        except FileNotFoundError:
            return False
        return True


class FileStoreError(RuntimeError):
    """The store could not be reached or refused the request (not: the file is missing)."""


class S3Settings(BaseSettings):
    """Where an `s3://` store is (prefix FLOWERS_S3_); unset keys fall back to boto3's chain."""

    model_config = SettingsConfigDict(env_prefix="FLOWERS_S3_", env_file=".env", extra="ignore")

    endpoint_url: str = ""  # empty: AWS itself; e.g. http://minio:9000 for MinIO
    region: str = "us-east-1"
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None


@lru_cache(maxsize=8)
def _s3_client(endpoint_url: str, region: str, key_id: str | None, secret: str | None) -> Any:
    # One client per place and identity: building one costs tens of milliseconds, and a
    # boto3 client (unlike a session) may be shared between threads.
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url or None,
        region_name=region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 3, "mode": "standard"}),
    )


class S3FileStore:
    """Objects in a bucket: `<prefix>/<first two hex digits>/<digest>`.

    The calls block (boto3 is synchronous): async code runs them in a thread."""

    def __init__(self, bucket: str, prefix: str, settings: S3Settings) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.where = f"s3://{bucket}/{self.prefix}" + (
            f" at {settings.endpoint_url}" if settings.endpoint_url else ""
        )
        self._client = _s3_client(
            settings.endpoint_url,
            settings.region,
            settings.access_key_id.get_secret_value() if settings.access_key_id else None,
            settings.secret_access_key.get_secret_value() if settings.secret_access_key else None,
        )

    def key(self, digest: str) -> str:
        if not DIGEST.match(digest):
            raise ValueError(f"not a SHA-256 digest: {digest!r}")
        name = f"{digest[:2]}/{digest}"
        return f"{self.prefix}/{name}" if self.prefix else name

    def _failed(self, error: Exception) -> FileStoreError:
        if isinstance(error, ClientError):
            code = error.response.get("Error", {}).get("Code", "")
            if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403"):
                return FileStoreError(
                    f"the file store {self.where} refused the credentials or their rights "
                    f"({code}): check FLOWERS_S3_ACCESS_KEY_ID / FLOWERS_S3_SECRET_ACCESS_KEY "
                    "(or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)"
                )
            return FileStoreError(f"the file store {self.where} answered {code or error}")
        return FileStoreError(f"the file store {self.where} could not be reached: {error}")

    def _exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise self._failed(error) from error
        except BotoCoreError as error:
            raise self._failed(error) from error
        return True

    def put(self, data: bytes) -> str:
        digest = digest_of(data)
        key = self.key(digest)
        if self._exists(key):
            return digest  # the same bytes are kept once
        try:
            # An S3 PUT is atomic: a reader sees the whole object or none. The checksum makes
            # the store refuse bytes damaged on the way.
            self._client.put_object(
                Bucket=self.bucket, Key=key, Body=data, ChecksumAlgorithm="SHA256"
            )
        except (ClientError, BotoCoreError) as error:
            raise self._failed(error) from error
        return digest

    def get(self, digest: str) -> bytes | None:
        try:
            key = self.key(digest)
        except ValueError:
            return None
        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=key)
            data: bytes = answer["Body"].read()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self._failed(error) from error
        except BotoCoreError as error:
            raise self._failed(error) from error
        return data if digest_of(data) == digest else None  # a damaged object is not served

    def delete(self, digest: str) -> bool:
        key = self.key(digest)
        if not self._exists(key):
            return False
        try:
            self._client.delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as error:
            raise self._failed(error) from error
        return True


def file_store(url: str, default_root: Path, s3: S3Settings | None = None) -> FileStore:
    """The store a URL names: empty for `default_root`, `file:///dir` for a directory,
    `s3://bucket/prefix` for a bucket (`s3`: where it is; default: read from the environment)."""
    if not url:
        return LocalFileStore(default_root)
    parts = urlsplit(url)
    if parts.scheme == "file":
        return LocalFileStore(Path(unquote(parts.path)))
    if parts.scheme == "s3":
        if "@" in parts.netloc:
            # Not echoed: the part before "@" would be a secret, and this message is logged.
            raise ValueError(
                "the s3:// file store URL must not carry credentials: set "
                "FLOWERS_S3_ACCESS_KEY_ID / FLOWERS_S3_SECRET_ACCESS_KEY instead"
            )
        if not parts.netloc:
            raise ValueError(f"no bucket in the file store URL {url!r} (s3://bucket/prefix)")
        return S3FileStore(parts.netloc, unquote(parts.path), s3 or S3Settings())
    if parts.scheme in ("https", "http"):
        raise ValueError(
            "an S3-compatible file store is named s3://bucket/prefix, with its address in "
            "FLOWERS_S3_ENDPOINT_URL"
        )
    raise ValueError(f"unknown file store URL scheme: {parts.scheme!r}")
