"""A nomination form that prevents mistakes: full flowers and nominated employees disabled
with the reason, each flower's meaning, a filter box over the employee list, drafts, and
evidence files kept in the content-addressed store (refused in Chinese when they do not fit)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator

import moto.settings
import pytest

from services.gateway.config import GatewaySettings
from services.gateway.limits import MULTIPART_SLACK, body_limit
from shared.settings import Settings
from tests.gateway.harness import (
    DEEDS,
    FAST_HASHING,
    UNIT_A,
    UNIT_B,
    Harness,
    nomination_body,
    running_gateway,
)
from tests.gateway.test_nominator_pages import form_data
from tests.s3 import running_s3

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
SMALL_FILES = FAST_HASHING.model_copy(update={"evidence_max_bytes": 4096})


@pytest.fixture
async def gateway(settings: Settings) -> AsyncIterator[Harness]:
    async with running_gateway(settings, GatewaySettings(**SMALL_FILES.model_dump())) as harness:
        yield harness


def option(html: str, employee_no: str) -> str:
    match = re.search(rf'<option value="{employee_no}"[^>]*>[^<]*</option>', html)
    assert match, f"no option for {employee_no}"
    return match.group(0)


@pytest.mark.integration
async def test_a_full_flower_and_a_nominated_employee_cannot_be_chosen(gateway: Harness) -> None:
    await gateway.account("wy", {"nominator"}, unit_code=UNIT_A)
    client = await gateway.signed_in("wy")
    page = await client.get("/nominations/new")
    assert 'enctype="multipart/form-data"' in page.text
    assert "敢打硬仗、勇挑重担" in page.text  # what the striving flower honours
    assert "带头改革创新" in page.text
    assert 'data-filter-for="employee_no"' in page.text  # the filter box (shown by JS)
    assert "disabled" not in option(page.text, "E100")
    sent = await client.post("/nominations/new", data=form_data(page.text))
    assert sent.status_code == 303

    again = await client.get("/nominations/new")
    striving = again.text.split('id="choice-striving"')[1].split("</label>")[0]
    assert 'value="striving" disabled' in striving
    assert "本单位本轮名额已用完，不能再选" in striving
    reform = again.text.split('id="choice-reform"')[1].split("</label>")[0]
    assert "disabled" not in reform
    zhang = option(again.text, "E100")
    assert "disabled" in zhang
    assert "本轮已被提名：拼搏之花" in zhang
    assert "disabled" not in option(again.text, "E101")


@pytest.mark.integration
async def test_a_draft_is_saved_loaded_for_its_author_only_and_gone_once_submitted(
    gateway: Harness,
) -> None:
    await gateway.account("wy", {"nominator"}, unit_code=UNIT_A)
    await gateway.account("wy2", {"nominator"}, unit_code=UNIT_A)
    client = await gateway.signed_in("wy")
    page = await client.get("/nominations/new")
    half = form_data(page.text, category="", recommendation="", action="draft")
    half["deeds"] = DEEDS[:30]  # too short to submit: a draft keeps it anyway
    saved = await client.post("/nominations/new", data=half)
    assert saved.status_code == 303
    loaded = await client.get(saved.headers["location"])
    assert "草稿已保存" in loaded.text
    assert "已载入您保存的草稿" in loaded.text
    assert DEEDS[:30] in loaded.text
    assert 'value="E100" selected' in loaded.text

    other = await gateway.signed_in("wy2")
    assert DEEDS[:30] not in (await other.get("/nominations/new")).text

    done = await client.post("/nominations/new", data=form_data(loaded.text, action="submit"))
    assert done.status_code == 303
    fresh = await client.get("/nominations/new")
    assert "已载入您保存的草稿" not in fresh.text


@pytest.mark.integration
async def test_evidence_files_are_kept_by_their_digest_and_shown_to_the_office(
    gateway: Harness,
) -> None:
    await gateway.account("wy", {"nominator"}, unit_code=UNIT_A)
    await gateway.account("cy", {"nominator"}, unit_code=UNIT_B)
    await gateway.account("office", {"office"})
    client = await gateway.signed_in("wy")
    page = await client.get("/nominations/new")
    sent = await client.post(
        "/nominations/new",
        data=form_data(page.text),
        files=[("evidence_files", ("维修台账.pdf", PDF, "application/pdf"))],
    )
    assert sent.status_code == 303, sent.text
    digest = hashlib.sha256(PDF).hexdigest()
    link = f"/files/{digest}/%E7%BB%B4%E4%BF%AE%E5%8F%B0%E8%B4%A6.pdf"
    detail = await client.get(sent.headers["location"])
    assert f'href="{link}"' in detail.text
    assert "📎 维修台账.pdf" in detail.text

    office = await gateway.signed_in("office")
    fetched = await office.get(link)
    assert fetched.status_code == 200
    assert fetched.content == PDF
    assert fetched.headers["content-type"] == "application/pdf"
    assert "sandbox" in fetched.headers["content-security-policy"]
    assert (await office.get(f"/files/{'0' * 64}/x.pdf")).status_code == 404
    assert (await gateway.client().get(link)).status_code in (303, 401, 403)  # signed in only


@pytest.mark.integration
@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        pytest.param(
            "setup.exe",
            b"MZ\x90\x00",
            "文件“setup.exe”的类型不允许上传，"
            "只接受 PDF、JPG、PNG、Word（.docx）、Excel（.xlsx） 文件。",
            id="a kind not accepted",
        ),
        pytest.param(
            "证明.pdf",
            b"<html>not a pdf</html>",
            "文件“证明.pdf”的内容不是 PDF 文件，请检查后重新上传。",
            id="content that is not what its name says",
        ),
        pytest.param(
            "扫描件.png",
            b"\x89PNG\r\n\x1a\n" + b"0" * 5000,
            "文件“扫描件.png”大小 5 KB，超过上限 4 KB。",
            id="a file over the size limit",
        ),
    ],
)
async def test_a_refused_file_is_named_in_chinese_and_nothing_is_submitted(
    gateway: Harness, name: str, content: bytes, message: str
) -> None:
    await gateway.account("wy", {"nominator"}, unit_code=UNIT_A)
    client = await gateway.signed_in("wy")
    page = await client.get("/nominations/new")
    refused = await client.post(
        "/nominations/new",
        data=form_data(page.text),
        files=[("evidence_files", (name, content, "application/octet-stream"))],
    )
    assert refused.status_code == 422
    assert 'id="err-evidence_files"' in refused.text
    assert message in refused.text
    assert "张伟" not in (await client.get("/nominations")).text.split("</h1>")[1]


def test_only_a_multipart_nomination_form_gets_room_for_its_files() -> None:
    s = GatewaySettings(request_body_max_bytes=4096, evidence_max_bytes=8192, evidence_max_files=2)
    room = 4096 + 2 * (8192 + MULTIPART_SLACK)
    multipart = "multipart/form-data; boundary=x"
    assert body_limit(s, "POST", "/nominations/new", multipart) == room
    edit = "/nominations/0b5e8f9c-3c1e-4a7e-9f51-2d5b8c1e7a10/edit"
    assert body_limit(s, "POST", edit, multipart) == room
    assert body_limit(s, "POST", "/nominations/new", "application/x-www-form-urlencoded") == 4096
    assert body_limit(s, "POST", "/nominations/x/withdraw", multipart) == 4096


@pytest.mark.integration
async def test_the_api_keeps_an_evidence_file_and_a_nomination_names_it(gateway: Harness) -> None:
    await gateway.account("wy", {"nominator"}, unit_code=UNIT_A)
    bearer = {"Authorization": f"Bearer {await gateway.token('wy')}"}
    async with gateway.client() as client:
        kept = await client.post(
            "/api/v1/evidence", files={"file": ("台账.pdf", PDF)}, headers=bearer
        )
        assert kept.status_code == 201, kept.text
        link = kept.json()["link"]
        assert kept.json()["sha256"] == hashlib.sha256(PDF).hexdigest()
        assert link == f"/files/{hashlib.sha256(PDF).hexdigest()}/%E5%8F%B0%E8%B4%A6.pdf"
        sent = await client.post(
            "/api/v1/nominations",
            json=nomination_body("E100", evidence_links=[link]),
            headers=bearer,
        )
        assert sent.status_code == 201, sent.text
        refused = await client.post(
            "/api/v1/evidence", files={"file": ("a.exe", b"MZ")}, headers=bearer
        )
        assert refused.status_code == 422
        assert "文件“a.exe”的类型不允许上传" in refused.json()["message_zh"]


def test_a_file_store_url_is_checked_with_the_settings() -> None:
    with pytest.raises(ValueError, match="must not carry credentials"):
        GatewaySettings(file_store_url="s3://AKIA:secret@evidence/flowers")
    with pytest.raises(ValueError, match="unknown file store URL scheme"):
        GatewaySettings(file_store_url="ftp://evidence/flowers")
    assert GatewaySettings(file_store_url="s3://evidence/flowers").file_store_url
    assert GatewaySettings(file_store_url="file:///srv/flowers/files").file_store_url


@pytest.mark.integration
async def test_an_evidence_file_lands_in_the_s3_store_when_the_setting_names_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_s3() as s3:
        bucket = s3.bucket()
        for name, value in (
            ("FLOWERS_S3_ENDPOINT_URL", s3.endpoint_url),
            ("FLOWERS_S3_ACCESS_KEY_ID", s3.settings.access_key_id),
            ("FLOWERS_S3_SECRET_ACCESS_KEY", s3.settings.secret_access_key),
        ):
            assert value
            monkeypatch.setenv(name, value if isinstance(value, str) else value.get_secret_value())
        in_s3 = SMALL_FILES.model_copy(update={"file_store_url": f"s3://{bucket}/flowers"})
        async with running_gateway(settings, GatewaySettings(**in_s3.model_dump())) as gateway:
            await gateway.account("wy", {"nominator"}, unit_code=UNIT_A)
            await gateway.account("office", {"office"})
            client = await gateway.signed_in("wy")
            page = await client.get("/nominations/new")
            pdf = PDF + f"% {bucket}\n".encode()  # bytes no other test keeps
            sent = await client.post(
                "/nominations/new",
                data=form_data(page.text),
                files=[("evidence_files", ("维修台账.pdf", pdf, "application/pdf"))],
            )
            assert sent.status_code == 303, sent.text
            digest = hashlib.sha256(pdf).hexdigest()
            kept = s3.client().get_object(Bucket=bucket, Key=f"flowers/{digest[:2]}/{digest}")
            assert kept["Body"].read() == pdf
            assert not (settings.data_dir / "files" / digest[:2] / digest).exists()  # not on disk
            office = await gateway.signed_in("office")
            fetched = await office.get(f"/files/{digest}/%E7%BB%B4%E4%BF%AE%E5%8F%B0%E8%B4%A6.pdf")
            assert fetched.status_code == 200
            assert fetched.content == pdf

            # The store refusing the gateway's key: 503 in Chinese, not a crash.
            monkeypatch.setenv("FLOWERS_S3_SECRET_ACCESS_KEY", "not-the-secret")
            monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
            refused = await office.get(f"/files/{digest}/x.pdf")
            assert refused.status_code == 503
            assert "证明材料文件存储暂时无法访问" in refused.text
