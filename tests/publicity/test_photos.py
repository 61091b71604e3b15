"""Winners' photos, without servers: a photo is judged by its content and kept as an upright,
resized JPEG without camera data; giving one is decided like every other publicity command
(who may, which winner, replacing = a new fact, the same photo again = nothing)."""

from __future__ import annotations

import base64
import io
import zipfile
from uuid import UUID

import pytest
from PIL import Image

from services.publicity.domain import PhotoGiven, attach_photo, react_to_revocation
from services.publicity.errors import PublicityError
from services.publicity.photos import decode_base64, prepare
from services.publicity.rendering import render
from shared.contracts.publicity import WinnerPhotoAttached
from shared.contracts.publicity_commands import OFFICE, PUBLICITY
from tests.publicity.fixtures import N_REFORM, N_STRIVING, revocation
from tests.publicity.test_domain import LATER, POLICY, drafted, given
from tests.publicity.test_rendering import RS, all_views

SHA_A = "a" * 64
SHA_B = "b" * 64


def picture(
    fmt: str, size: tuple[int, int] = (400, 300), mode: str = "RGB", **save: object
) -> bytes:
    out = io.BytesIO()
    colour: tuple[int, ...] = (20, 60, 200) if mode == "RGB" else (20, 60, 200, 0)
    Image.new(mode, size, colour).save(out, fmt, **save)
    return out.getvalue()


def gift(
    sha256: str = SHA_A,
    nomination_id: UUID = N_STRIVING,
    roles: frozenset[str] = frozenset({OFFICE}),
) -> PhotoGiven:
    return PhotoGiven(
        actor="office-1",
        roles=roles,
        nomination_id=nomination_id,
        sha256=sha256,
        width=300,
        height=400,
        size=12_345,
    )


# --- Checked by content, resized, stripped ---------------------------------------------------


def test_a_large_png_is_kept_as_a_jpeg_that_fits_the_limit() -> None:
    kept = prepare(picture("PNG", (3000, 2000)), max_px=1600)
    assert (kept.width, kept.height) == (1600, 1067)
    with Image.open(io.BytesIO(kept.jpeg)) as image:
        assert image.format == "JPEG"
        assert image.size == (1600, 1067)


def test_a_small_photo_is_not_enlarged() -> None:
    kept = prepare(picture("JPEG", (300, 400)), max_px=1600)
    assert (kept.width, kept.height) == (300, 400)


def test_a_transparent_png_is_flattened_onto_white() -> None:
    kept = prepare(picture("PNG", (50, 50), mode="RGBA"), max_px=1600)
    with Image.open(io.BytesIO(kept.jpeg)) as image:
        assert image.convert("RGB").getpixel((25, 25)) == pytest.approx((255, 255, 255), abs=3)


def test_a_phone_photo_is_turned_upright_and_loses_its_camera_data() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: the camera was turned; the picture is shown rotated 90°
    exif[0x010F] = "PhoneMaker"
    kept = prepare(picture("JPEG", (400, 300), exif=exif.tobytes()), max_px=1600)
    assert (kept.width, kept.height) == (300, 400)
    with Image.open(io.BytesIO(kept.jpeg)) as image:
        assert not image.getexif()
    assert b"PhoneMaker" not in kept.jpeg


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (picture("GIF"), "JPEG 或 PNG"),
        (picture("BMP"), "JPEG 或 PNG"),
        (b"%PDF-1.7 not a picture", "JPEG 或 PNG"),
        (b"", "空的"),
        (picture("PNG")[:60], "损坏"),
    ],
    ids=["gif", "bmp", "pdf", "empty", "truncated"],
)
def test_anything_but_a_whole_jpeg_or_png_is_refused_in_chinese(data: bytes, why: str) -> None:
    with pytest.raises(PublicityError) as caught:
        prepare(data, max_px=1600)
    assert caught.value.code == "photo_refused"
    assert why in caught.value.message_zh


def test_damaged_base64_is_refused() -> None:
    with pytest.raises(PublicityError) as caught:
        decode_base64("not*base64")
    assert caught.value.code == "photo_refused"


# --- Decided like every other command ---------------------------------------------------------


def test_the_office_gives_a_winner_a_photo_and_a_second_replaces_it() -> None:
    state = given(*drafted())
    [first] = attach_photo(state, gift(), LATER)
    assert isinstance(first, WinnerPhotoAttached)
    assert (first.nomination_id, first.sha256, first.attached_by) == (N_STRIVING, SHA_A, "office-1")
    state = given(*drafted(), first)
    assert state.photos == {N_STRIVING: SHA_A}
    assert attach_photo(state, gift(), LATER) == []  # the same photo again: nothing new
    [second] = attach_photo(state, gift(SHA_B, roles=frozenset({PUBLICITY})), LATER)
    assert given(*drafted(), first, second).photos == {N_STRIVING: SHA_B}


@pytest.mark.parametrize(
    ("events", "photo", "code"),
    [
        ("drafted", gift(roles=frozenset({"staff"})), "not_photo_giver"),
        ("nothing", gift(), "round_not_drafted"),
        ("drafted", gift(nomination_id=UUID(int=99)), "not_a_winner"),
        ("revoked", gift(nomination_id=N_REFORM), "winner_revoked"),
    ],
)
def test_a_photo_is_refused_outside_the_rules(events: str, photo: PhotoGiven, code: str) -> None:
    history = [] if events == "nothing" else drafted()
    state = given(*history)
    if events == "revoked":
        state = given(*history, *react_to_revocation(state, revocation(), LATER, POLICY))
    with pytest.raises(PublicityError) as caught:
        attach_photo(state, photo, LATER)
    assert caught.value.code == code
    assert caught.value.message_zh


# --- The article carries its photos inside -----------------------------------------------------


def test_the_article_and_its_package_carry_the_photo_inside_and_no_address() -> None:
    view = all_views()["official_account"]
    first = view.entries[0].nomination_id
    jpeg = prepare(picture("PNG", (300, 400)), max_px=1600).jpeg
    html = render(view, "html", RS, photos={first: jpeg}).content
    assert isinstance(html, str)
    inline = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
    assert f'src="{inline}"' in html
    assert html.count("<img") == 1
    assert html.count("【照片：") == len(view.entries) - 1  # the others keep their placeholder
    package = render(view, "zip", RS, photos={first: jpeg}).content
    assert isinstance(package, bytes)
    with zipfile.ZipFile(io.BytesIO(package)) as z:
        article = z.read("article.html").decode()
        assert z.read("images/01.jpg") == jpeg
    assert inline in article
    for external in ("http://", "https://", 'src="/', "src='/"):
        assert external not in article
    for forbidden in ("<h1", "<style", "<script", "class="):
        assert forbidden not in article


def test_the_honor_roll_page_shows_the_photo_in_its_box() -> None:
    view = all_views()["honor_roll"]
    first = view.entries[0].nomination_id
    jpeg = prepare(picture("PNG", (300, 400)), max_px=1600).jpeg
    html = render(view, "html", RS, photos={first: jpeg}).content
    assert isinstance(html, str)
    assert '<div class="photo has-photo"><img src="data:image/jpeg;base64,' in html
    assert html.count("照片位") == len(view.entries) - 1
