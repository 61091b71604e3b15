"""The API's evidence upload: a file kept in the content-addressed store, answered with the
link a nomination's `evidence_links` may carry (`/files/<sha256>/<name>`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Request, UploadFile
from pydantic import BaseModel

from services.gateway import evidence as ev
from services.gateway import nomination as nom
from services.gateway.auth import Principal
from services.gateway.deps import allow, api_csrf
from services.gateway.problems import Problem
from services.gateway.state import gw_state

router = APIRouter(prefix="/api/v1", tags=["nomination"], dependencies=[Depends(api_csrf)])


class EvidenceOut(BaseModel):
    link: str
    name: str
    sha256: str


@router.post("/evidence", response_model=EvidenceOut, status_code=201)
async def upload_evidence(
    request: Request,
    principal: Annotated[Principal, Depends(allow(*nom.NOMINATION_WRITERS))],
    file: Annotated[UploadFile, File(description="A PDF, image, .docx or .xlsx (settings)")],
) -> EvidenceOut:
    """Keep an evidence file; put the returned `link` in the nomination's `evidence_links`."""
    gw = gw_state(request)
    store = ev.store_for(gw.settings, gw.gateway)
    stored, refused = await ev.receive([file], 0, store, gw.gateway, gw.pool, gw.clock.now())
    if refused or not stored:
        message = refused[0] if refused else ("请选择要上传的文件。", "Choose a file to upload.")
        raise Problem(422, "file_refused", message)
    return EvidenceOut(link=stored[0].link, name=stored[0].name, sha256=stored[0].digest)
