"""Winners' photos through the publicity service, against real NATS and PostgreSQL: a photo is
kept in the file store under its SHA-256, recorded as a fact, and from then on the poster
(phone PNG and A3), the article and its package and the honor roll show it; a revoked
winner's photo is no longer served."""

from __future__ import annotations

import base64
import io
import zipfile

import pytest
from PIL import Image

from services.publicity.app import DRAFTS_CONSUMER
from services.publicity.photos import store_for
from services.publicity.poster import PHONE, poster_plan
from services.publicity.rendering import poster_content
from shared.contracts.publicity import MaterialKind, material_id_for, publicity_stream_id
from shared.filestore import digest_of
from shared.rpc import RemoteError, RpcClient
from shared.service import ServiceRuntime
from tests.publicity.fixtures import N_REFORM, N_STRIVING, RESULT, ROUND, revocation
from tests.publicity.test_rendering import all_views
from tests.publicity.test_service import (
    bus,  # noqa: F401  (the tests' hands on the bus)
    deliver,
    deliver_consents,
    rpc,  # noqa: F401
    seen,
    service,  # noqa: F401
)
from tests.support import eventually

pytestmark = pytest.mark.integration

OFFICE = {"actor": "office-1", "roles": ["office"]}
BLUE = (20, 60, 200)


def blue_png(size: tuple[int, int] = (900, 1200)) -> str:
    out = io.BytesIO()
    Image.new("RGB", size, BLUE).save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode()


async def give(
    client: RpcClient, photo: str, nomination_id: object = N_STRIVING
) -> dict[str, object]:
    reply: dict[str, object] = await client.command(
        "publicity",
        "attach_photo",
        {**OFFICE, "round_id": ROUND, "nomination_id": str(nomination_id), "photo": photo},
    )
    return reply


async def artefact(client: RpcClient, kind: MaterialKind, fmt: str) -> bytes:
    reply = await client.query(
        "publicity", "artefact", {"material_id": str(material_id_for(ROUND, kind)), "format": fmt}
    )
    content = reply["content"]
    return base64.b64decode(content) if reply["encoding"] == "base64" else content.encode()


async def test_a_photo_is_kept_recorded_and_shown_by_every_picture_of_the_round(
    service: ServiceRuntime,  # noqa: F811
    rpc: RpcClient,  # noqa: F811
) -> None:
    await deliver_consents(service)
    await deliver(service, RESULT)
    await eventually(lambda: seen(service, DRAFTS_CONSUMER) == 1, what="the result")

    # Refused in Chinese: not a picture; not someone who gives photos.
    out = io.BytesIO()
    Image.new("RGB", (10, 10)).save(out, "GIF")
    with pytest.raises(RemoteError) as gif:
        await give(rpc, base64.b64encode(out.getvalue()).decode())
    assert gif.value.error.code == "photo_refused"
    assert "JPEG 或 PNG" in gif.value.error.message_zh
    with pytest.raises(RemoteError) as staff:
        await rpc.command(
            "publicity",
            "attach_photo",
            {"actor": "u1", "roles": ["staff"], "round_id": ROUND,
             "nomination_id": str(N_STRIVING), "photo": blue_png()},
        )  # fmt: skip
    assert staff.value.error.code == "not_photo_giver"

    reply = await give(rpc, blue_png())
    assert reply["events"] == ["WinnerPhotoAttached"]
    assert (reply["width"], reply["height"]) == (900, 1200)  # within the limit: not resized
    sha256 = str(reply["sha256"])
    kept = store_for(service.settings).get(sha256)
    assert kept is not None
    assert digest_of(kept) == sha256
    assert (await give(rpc, blue_png()))["events"] == []  # the same photo: nothing new

    stream = await service.store.load(publicity_stream_id(ROUND))
    fact = stream.events[-1]
    assert fact.type == "WinnerPhotoAttached"
    assert fact.data["sha256"] == sha256
    assert fact.data["attached_by"] == "office-1"

    roll = await rpc.query("publicity", "honor_roll", {"round_id": ROUND})
    photos = {w["nomination_id"]: w["photo_sha256"] for w in roll["winners"]}
    assert photos[str(N_STRIVING)] == sha256
    assert sum(1 for p in photos.values() if p) == 1
    served = await rpc.query(
        "publicity", "winner_photo", {"round_id": ROUND, "nomination_id": str(N_STRIVING)}
    )
    assert base64.b64decode(served["content"]) == kept

    # The phone poster: the winner's frame is the photo's blue, the others a placeholder.
    png = Image.open(io.BytesIO(await artefact(rpc, "honor_roll", "png"))).convert("RGB")
    assert png.size == PHONE
    plan = poster_plan(poster_content(all_views()["honor_roll"]), PHONE[1])
    for frame in plan.photos:
        centre = png.getpixel((round(frame.x + frame.w / 2), round(frame.y + frame.h / 4)))
        if frame.nomination_id == str(N_STRIVING):
            assert centre == pytest.approx(BLUE, abs=14)
        else:
            assert centre != pytest.approx(BLUE, abs=40)
    assert (await artefact(rpc, "honor_roll", "pdf")).startswith(b"%PDF")

    # The article and its package: the photo inline, no address anywhere.
    inline = "data:image/jpeg;base64," + base64.b64encode(kept).decode()
    html = (await artefact(rpc, "official_account", "html")).decode()
    assert inline in html
    with zipfile.ZipFile(io.BytesIO(await artefact(rpc, "official_account", "zip"))) as z:
        article = z.read("article.html").decode()
        assert z.read("images/01.jpg") == kept
    assert inline in article
    assert "http://" not in article
    assert "https://" not in article
    draft = await rpc.query(
        "publicity", "draft", {"material_id": str(material_id_for(ROUND, "honor_roll"))}
    )
    assert inline in draft["html"]

    # Replaced: a new fact, and the pictures follow it.
    again = await give(rpc, blue_png((600, 600)))
    assert again["events"] == ["WinnerPhotoAttached"]
    assert again["sha256"] != sha256

    # A revoked winner: no photo is given or served any more.
    await give(rpc, blue_png((500, 700)), N_REFORM)
    await deliver(service, revocation())
    await eventually(lambda: seen(service, DRAFTS_CONSUMER) == 2, what="the revocation")
    with pytest.raises(RemoteError) as revoked:
        await rpc.query(
            "publicity", "winner_photo", {"round_id": ROUND, "nomination_id": str(N_REFORM)}
        )
    assert revoked.value.error.status == 404
    with pytest.raises(RemoteError) as late:
        await give(rpc, blue_png((400, 400)), N_REFORM)
    assert late.value.error.code == "winner_revoked"
