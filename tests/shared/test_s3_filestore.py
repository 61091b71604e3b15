"""The S3-compatible file store against a real S3-speaking server (moto's server mode): kept
under `<prefix>/<two hex>/<digest>`, once; a damaged object is not served; a wrong key is
named as such."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import moto.settings
import pytest
from pydantic import SecretStr

from shared.filestore import FileStoreError, S3FileStore, file_store
from tests.s3 import S3Server, running_s3


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with running_s3() as server:
        yield server


@pytest.fixture
def store(s3: S3Server) -> S3FileStore:
    chosen = file_store(f"s3://{s3.bucket()}/flowers/evidence", Path("unused"), s3.settings)
    assert isinstance(chosen, S3FileStore)
    return chosen


@pytest.mark.integration
def test_a_file_is_kept_in_the_bucket_under_its_digest_and_once(
    s3: S3Server, store: S3FileStore
) -> None:
    data = b"%PDF-1.4 evidence"
    digest = store.put(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert store.get(digest) == data
    assert store.put(data) == digest
    listed = s3.client().list_objects_v2(Bucket=store.bucket)
    assert [o["Key"] for o in listed["Contents"]] == [f"flowers/evidence/{digest[:2]}/{digest}"]


@pytest.mark.integration
def test_a_damaged_or_unknown_object_is_not_served(s3: S3Server, store: S3FileStore) -> None:
    digest = store.put(b"original")
    assert store.get("0" * 64) is None
    assert store.get("../../etc/passwd") is None
    s3.client().put_object(Bucket=store.bucket, Key=store.key(digest), Body=b"tampered")
    assert store.get(digest) is None  # damaged bytes are never served as the evidence


@pytest.mark.integration
def test_an_erased_object_is_deleted_and_others_stay(s3: S3Server, store: S3FileStore) -> None:
    erased, kept = store.put(b"%PDF his s3"), store.put(b"%PDF hers s3")
    assert store.delete(erased) is True
    assert store.get(erased) is None
    assert store.delete(erased) is False
    assert store.get(kept) == b"%PDF hers s3"


@pytest.mark.integration
def test_wrong_credentials_are_named_in_the_error(
    s3: S3Server, store: S3FileStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = s3.settings.model_copy(update={"secret_access_key": SecretStr("not-the-secret")})
    refused = file_store(f"s3://{store.bucket}/flowers", Path("unused"), wrong)
    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)  # check every call
    assert store.get(store.put(b"with the right key")) == b"with the right key"
    with pytest.raises(FileStoreError, match="refused the credentials") as caught:
        refused.put(b"with a wrong key")  # refused at the HEAD: nothing is written
    with pytest.raises(FileStoreError, match=r"refused the credentials.*SignatureDoesNotMatch"):
        refused.get(hashlib.sha256(b"with the right key").hexdigest())
    assert "not-the-secret" not in str(caught.value)
    assert "FLOWERS_S3_SECRET_ACCESS_KEY" in str(caught.value)


def test_an_s3_url_names_a_bucket_and_never_carries_credentials() -> None:
    with pytest.raises(ValueError, match="must not carry credentials") as caught:
        file_store("s3://AKIA:topsecret@evidence/flowers", Path("unused"))
    assert "topsecret" not in str(caught.value)
    with pytest.raises(ValueError, match="no bucket"):
        file_store("s3:///flowers", Path("unused"))
    with pytest.raises(ValueError, match="s3://bucket/prefix"):
        file_store("https://minio.example.com/evidence", Path("unused"))
