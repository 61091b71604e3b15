"""What the gateway refuses at the door, before any route (or service) sees the request.

`InputLimits` is a pure ASGI middleware, registered in app.py inside `Observe` (so a refusal
still gets the request id, the security headers and the metrics). Every refusal is
`application/problem+json` with a code (pages included: a browser only meets these by posting
megabytes or control characters to a form).

**Body size** (`body_too_large`, 413). The limit is the gateway setting
`request_body_max_bytes` (1 MiB); the directory imports, which carry a whole HR export, get
`directory_upload_max_bytes` plus room for the multipart framing, so their own, more precise
`file_too_large` check still answers for a file just over its limit. A multipart nomination
form (new or amended) gets room for its evidence files (`evidence_max_files` ×
`evidence_max_bytes`), so services/gateway/evidence.py names a file over its own limit.
- A declared `Content-Length` over the limit is refused at once: the app is never called.
- A body sent without a length (chunked) is counted as it arrives. JSON and form bodies are
  read whole here (they are checked below) and refused as soon as they pass the limit; any
  other body (an upload) is passed on as it comes, and past the limit the read fails
  (`BodyTooLarge`): the route stops before it could send a command, and the reply is the 413.
- Refused mid-body, the rest of the body (up to `DRAIN_MAX_BYTES`) is read and dropped
  before the 413 is sent, and the connection closed: a client still sending would otherwise
  see a reset, not the answer.

**Text PostgreSQL cannot store** (`invalid_text`, 422): U+0000 (NUL) and unpaired UTF-16
surrogates (`"\\ud800"` in JSON), anywhere in the path, the query string, a JSON body (keys
and values) or a form body. The services refuse NUL the same way (shared/rpc.py); here the
gateway's own tables (accounts, sessions) and the read-only audit queries are covered too, and
a client gets one answer whichever route it called.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.config import GatewaySettings
from services.gateway.i18n import locale_of
from services.gateway.problems import Problem, problem_response
from shared.contracts.publicity_commands import PHOTO_MAX_BYTES

MULTIPART_SLACK = 64 * 1024
"""Room for the multipart framing around an upload of exactly the file limit."""

LARGE_BODY_ROUTES = frozenset(
    {
        ("POST", "/api/v1/directory/import"),
        ("POST", "/api/v1/directory/import.csv"),
        ("POST", "/admin/directory"),
    }
)
"""Routes whose body is a whole directory export: they get the upload limit."""

FORM = "application/x-www-form-urlencoded"
DRAIN_MAX_BYTES = 8 * 1024 * 1024
"""Refused mid-body, up to this much of the rest is read and dropped before the 413, so the
client, still sending, reads the refusal instead of a connection reset."""


class BodyTooLarge(Exception):
    """Raised from `receive` once more than the limit was read."""


# The nomination form (new and amend) carries its evidence files; the API uploads them alone.
EVIDENCE_FORM = re.compile(r"/nominations/(new|[0-9a-fA-F-]{36}/edit)|/api/v1/evidence")
# A winner's photo (routes/publicity_pages.py): one file of at most PHOTO_MAX_BYTES.
PHOTO_FORM = re.compile(r"/publicity/rounds/[^/]+/photos/[0-9a-fA-F-]{36}")


def body_limit(settings: GatewaySettings, method: str, path: str, content_type: str = "") -> int:
    """The most bytes a request to `method path` may carry (a multipart nomination form
    carries its evidence files: room for as many as allowed, each as big as allowed)."""
    if (method, path.rstrip("/") or "/") in LARGE_BODY_ROUTES:
        return max(settings.request_body_max_bytes, settings.directory_upload_max_bytes) + (
            MULTIPART_SLACK
        )
    multipart = content_type.lower().startswith("multipart/form-data")
    if method == "POST" and multipart and EVIDENCE_FORM.fullmatch(path.rstrip("/")):
        files = settings.evidence_max_files * (settings.evidence_max_bytes + MULTIPART_SLACK)
        return settings.request_body_max_bytes + files
    if method == "POST" and multipart and PHOTO_FORM.fullmatch(path.rstrip("/")):
        return settings.request_body_max_bytes + PHOTO_MAX_BYTES + MULTIPART_SLACK
    return settings.request_body_max_bytes


def too_large(limit: int) -> Problem:
    return Problem(
        413,
        "body_too_large",
        (
            f"请求内容过大（上限 {limit} 字节）。",
            f"The request body is too large (at most {limit} bytes).",
        ),
        max_bytes=limit,
    )


def invalid_text(where: str) -> Problem:
    return Problem(
        422,
        "invalid_text",
        (
            "文本中含有不允许的字符（空字符 NUL 或不成对的代理码位）。",
            "The text contains a character that is not allowed (NUL or an unpaired surrogate).",
        ),
        where=where,
    )


def is_unstorable(text: str) -> bool:
    """NUL, or a lone surrogate (a valid pair from JSON is already one character here)."""
    return "\x00" in text or any("\ud800" <= ch <= "\udfff" for ch in text)


def json_has_unstorable_text(value: Any) -> bool:
    """Any key or string value in a decoded JSON document that PostgreSQL cannot store."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if is_unstorable(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _unquoted_has_nul(encoded: bytes) -> bool:
    return b"\x00" in encoded or b"\x00" in unquote_to_bytes(encoded.replace(b"+", b" "))


def request_line_problem(scope: Scope) -> Problem | None:
    """A path or query string carrying text that is not allowed."""
    path = scope.get("path", "")
    if is_unstorable(path):
        return invalid_text("path")
    query: bytes = scope.get("query_string", b"")
    try:
        query.decode()
    except UnicodeDecodeError:
        return invalid_text("query")
    if _unquoted_has_nul(query):
        return invalid_text("query")
    return None


def body_problem(body: bytes, kind: str) -> Problem | None:
    """A JSON or form body carrying text that is not allowed (malformed JSON is the route's)."""
    if not body:
        return None
    if kind == FORM:
        return invalid_text("body") if _unquoted_has_nul(body) else None
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None  # not JSON: the route answers that itself
    return invalid_text("body") if json_has_unstorable_text(document) else None


def _header(scope: Scope, wanted: bytes) -> bytes | None:
    for name, value in scope.get("headers", ()):
        if name == wanted:
            return bytes(value)
    return None


def _declared_length(scope: Scope) -> int | None:
    value = _header(scope, b"content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _inspected_kind(scope: Scope) -> str | None:
    """ "json" or FORM for the bodies read whole and checked here; None for the rest."""
    raw = _header(scope, b"content-type")
    if raw is None:
        return "json"  # FastAPI reads a body without a content type as JSON
    media_type = raw.decode("latin-1").split(";")[0].strip().lower()
    if media_type == "application/json" or media_type.endswith("+json"):
        return "json"
    if media_type == FORM:
        return FORM
    return None


def _settings_of(scope: Scope) -> GatewaySettings:
    """The running app's gateway settings (set by its lifespan), or the defaults."""
    app: Any = scope.get("app")
    gw = getattr(getattr(app, "state", None), "gw", None)
    settings = getattr(gw, "gateway", None)
    return settings if isinstance(settings, GatewaySettings) else GatewaySettings()


class InputLimits:
    """ASGI middleware: oversized bodies (413) and unstorable text (422) never get in."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        content_type = (_header(scope, b"content-type") or b"").decode("latin-1")
        limit = body_limit(_settings_of(scope), scope["method"], scope["path"], content_type)
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            # Not a byte read: a client that asked `Expect: 100-continue` never sends it.
            await refuse(scope, receive, send, too_large(limit))
            return
        problem = request_line_problem(scope)
        if problem is not None:
            await refuse(scope, receive, send, problem)
            return
        kind = _inspected_kind(scope)
        if kind is None:
            await self._stream(scope, receive, send, limit)
            return

        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before it finished sending
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                more = bool(message.get("more_body", False))
                await refuse(scope, receive, send, too_large(limit), drain=more)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problem = body_problem(body, kind)
        if problem is not None:
            await refuse(scope, receive, send, problem)
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as usual

        await self.app(scope, replay, send)

    async def _stream(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """Pass the body on as it arrives, counting; past the limit the read fails."""
        read = 0
        exceeded = False
        more = False
        started = False

        async def counted_receive() -> Message:
            nonlocal read, exceeded, more
            if exceeded:
                raise BodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                more = bool(message.get("more_body", False))
                if read > limit:
                    exceeded = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                # The route turned the failed read into some other answer (FastAPI makes it
                # a 400): the 413 is sent instead, by the except clause below.
                raise BodyTooLarge
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except BodyTooLarge:
            if started:
                raise
            await refuse(scope, receive, send, too_large(limit), drain=more)


async def refuse(
    scope: Scope, receive: Receive, send: Send, problem: Problem, *, drain: bool = False
) -> None:
    """Send the problem. With `drain`, first read and drop what the client is still sending
    (at most DRAIN_MAX_BYTES, kept nowhere): a client still writing its body when the
    connection closes would see a reset instead of the answer (and the server cannot read on
    once it has answered)."""
    budget = DRAIN_MAX_BYTES
    while drain and budget > 0:
        message = await receive()
        if message["type"] != "http.request":
            return  # the client is gone: nobody to answer
        budget -= len(message.get("body", b""))
        drain = bool(message.get("more_body", False))
    request = Request(scope, receive)
    response = problem_response(problem, locale_of(request), instance=scope.get("path"))
    if problem.status == 413:
        response.headers["Connection"] = "close"  # what is left of the body is not read
    await response(scope, receive, send)
