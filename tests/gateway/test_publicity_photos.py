"""Winners' photos through the gateway's pages: the office uploads one from the winner's row;
a file that is not a JPEG or PNG (by its content, whatever its name) or is too big is refused
beside that row in Chinese; the honor roll then shows the photo, served by the gateway."""

from __future__ import annotations

import io
import uuid

import pytest
from PIL import Image

from shared.contracts.publicity_commands import PHOTO_MAX_BYTES
from tests.gateway.harness import Harness, csrf_in
from tests.gateway.published import PAST_ROUND, WINNERS, publish_past_result

pytestmark = pytest.mark.integration


def nomination_of(employee_no: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"{PAST_ROUND}/{employee_no}")


def jpeg(size: tuple[int, int] = (600, 800)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(out, "JPEG")
    return out.getvalue()


async def test_the_office_uploads_a_winners_photo_and_the_honor_roll_shows_it(
    gateway: Harness,
) -> None:
    await gateway.role_accounts()
    await publish_past_result(gateway)
    winner = nomination_of(WINNERS[0][1])
    page_url = f"/publicity/rounds/{PAST_ROUND}/photos"
    upload_url = f"{page_url}/{winner}"
    office = await gateway.signed_in("office")
    page = await office.get(page_url)
    assert page.status_code == 200
    assert WINNERS[0][2] in page.text
    assert f'action="{upload_url}"' in page.text
    assert "未上传照片" in page.text
    token = csrf_in(page.text)

    refusals = [
        # A GIF called .jpg: judged by its content.
        (("假照片.jpg", b"GIF89a" + b"\x00" * 100, "image/jpeg"), "照片只接受 JPEG 或 PNG 图片"),
        (("文档.png", b"%PDF-1.7 not a picture", "image/png"), "照片只接受 JPEG 或 PNG 图片"),
        (("大照片.jpg", b"\xff\xd8\xff" + b"0" * PHOTO_MAX_BYTES, "image/jpeg"), "超过上限 5 MB"),
    ]
    for file, message in refusals:
        refused = await office.post(upload_url, data={"csrf_token": token}, files={"photo": file})
        assert refused.status_code == 422, refused.text
        assert f'id="err-photo:{winner}"' in refused.text
        assert message in refused.text
    assert "未上传照片" in (await office.get(page_url)).text

    photo = jpeg()
    sent = await office.post(
        upload_url,
        data={"csrf_token": token},
        files={"photo": ("张伟.JPG", photo, "image/jpeg")},
    )
    assert sent.status_code == 303, sent.text
    shown = await office.get(sent.headers["location"])
    assert "照片已保存" in shown.text
    src = f"/honor-roll/{PAST_ROUND}/photos/{winner}.jpg"
    assert f'src="{src}?v=' in shown.text

    # Everyone signed in sees it on the honor roll, served by the gateway.
    staff = await gateway.signed_in("staff")
    roll = await staff.get(f"/honor-roll?round_id={PAST_ROUND}")
    assert f'src="{src}?v=' in roll.text
    assert "上传获奖职工照片" not in roll.text  # staff give no photos
    served = await staff.get(src)
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(served.content)) as kept:
        assert kept.format == "JPEG"
        assert kept.size == (600, 800)
        assert kept.convert("RGB").getpixel((300, 400)) == pytest.approx((200, 40, 40), abs=12)
    other = nomination_of(WINNERS[1][1])
    assert (await staff.get(f"/honor-roll/{PAST_ROUND}/photos/{other}.jpg")).status_code == 404
    assert (await gateway.client().get(src)).status_code in (303, 401, 403)  # signed in only

    # Staff may neither open the photos page nor upload.
    assert (await staff.get(page_url)).status_code == 403
    publicity = await gateway.signed_in("publicity")
    listing = await publicity.get(f"/publicity/rounds/{PAST_ROUND}")
    assert f'href="{page_url}"' in listing.text
