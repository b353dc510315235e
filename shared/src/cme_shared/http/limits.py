"""Limits at the HTTP edge, applied before a route does any work with a request's body (SEC-10, SEC-11, SEC-27).

`BodyLimit` answers 413 for a body over the limit: at once when its Content-Length says so, before anything
else looks at the request (authentication included), and for a streamed body as soon as the running count
passes the limit, so no more than the limit is ever held. Starlette has a body limit of its own, but it
answers in plain text; this one answers in the platform's error shape.

`BeforeBody` runs checks once routing has chosen the route and before the route reads its first byte of
body: authentication (`auth.authenticate_before_body`), the content type, and text PostgreSQL cannot store.
Each check is `async (scope, receive) -> receive` and may read the body and hand it on.
"""

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..auth import needs_principal
from .errors import ApiError, EdgeError, edge_response

Check = Callable[[Scope, Receive], Awaitable[Receive]]

# The largest integer PostgreSQL's BIGINT holds: integer ids, offsets and indices in paths and queries stop
# here, so that a larger one is a 422 and never reaches the database (which cannot take it: a 500).
MAX_BIGINT = 2**63 - 1


def body_too_large(limit: int) -> ApiError:
    return ApiError(413, "body_too_large", f"the request body is larger than this endpoint takes ({limit} bytes)")


class BodyLimit:
    """413 for a body over the limit of its path: the default, or the longest path prefix given one."""

    def __init__(self, app: ASGIApp, *, default: int, prefixes: Mapping[str, int] | None = None,
                 read_timeout: float | None = None) -> None:
        self.app = app
        self.default = default
        self.read_timeout = read_timeout  # a client that stops sending mid-body: 408, not a task held for ever
        # Longest first, so that /public/referrals/x takes the limit of /public/referrals before that of /public.
        self.prefixes = sorted(((p.rstrip("/"), n) for p, n in (prefixes or {}).items()), key=lambda p: -len(p[0]))

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.prefixes:
            if path == prefix or path.startswith(prefix + "/"):
                return limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await edge_response(EdgeError(body_too_large(limit)))(scope, receive, send)
            return
        received = 0
        started = False

        async def limited() -> Message:
            nonlocal received
            try:
                message = await asyncio.wait_for(receive(), self.read_timeout)
            except TimeoutError:
                raise EdgeError(ApiError(408, "body_timeout", "the request body did not arrive in time")) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise EdgeError(body_too_large(limit))
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, watched)
        except EdgeError as exc:  # raised outside the app's own handlers (they answer it as any other)
            if started:
                raise
            await edge_response(exc)(scope, receive, send)


class BeforeBody:
    """Runs the checks when the route first asks for its body; a check's ApiError is the answer."""

    def __init__(self, app: ASGIApp, *, checks: Sequence[Check]) -> None:
        self.app = app
        self.checks = checks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        checked: Receive | None = None

        async def gated() -> Message:
            nonlocal checked
            if checked is None:
                checked = receive
                try:
                    for check in self.checks:
                        checked = await check(scope, checked)
                except ApiError as error:
                    raise EdgeError(error) from None
            return await checked()

        await self.app(scope, gated, send)


def _takes_json(route: Any) -> bool:
    """A route whose body FastAPI parses, or that documents a JSON body it reads itself (intake's referrals)."""
    if not isinstance(route, APIRoute):
        return False
    if route.body_field is not None:
        return True
    content = ((route.openapi_extra or {}).get("requestBody") or {}).get("content") or {}
    return "application/json" in content


def _has_body(headers: Headers) -> bool:
    return headers.get("content-length", "0") not in ("", "0") or "transfer-encoding" in headers


def _is_json(content_type: str) -> bool:
    """application/json, with no charset or UTF-8 (RFC 8259 JSON is UTF-8)."""
    media, *params = (part.strip().lower() for part in content_type.split(";"))
    charsets = [p.partition("=")[2].strip('"') for p in params if p.startswith("charset=")]
    return media == "application/json" and all(c in ("utf-8", "utf8") for c in charsets)


async def json_content_type(scope: Scope, receive: Receive) -> Receive:
    """415 for a JSON route's body sent as anything but application/json (SEC-11).

    A route anyone may call must also be told the type: a hostile web page can make a visitor's browser send
    a text/plain body, or one with no type at all, without asking first (no CORS preflight). A token holder's
    client may leave the type out, as before: no page can make a browser send a bearer token.
    """
    headers = Headers(scope=scope)
    route = scope.get("route")
    if not _takes_json(route) or not _has_body(headers):
        return receive
    content_type = headers.get("content-type")
    if content_type is None and needs_principal(route):
        return receive
    if content_type is None or not _is_json(content_type):
        raise ApiError(415, "unsupported_media_type", "the body must be JSON, sent as Content-Type: application/json")
    return receive


def _storable(text: str) -> bool:
    """PostgreSQL text holds neither NUL nor an unpaired surrogate (UTF-8 cannot encode one)."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def unstorable_text_at(document: Any) -> list[str | int] | None:
    """Where the first string (value or key) PostgreSQL cannot store is, or None; iterative, for deep documents.

    A bad key is reported at its parent: the key itself cannot be quoted back in a JSON answer.
    """
    pending: list[tuple[list[str | int], Any]] = [([], document)]
    while pending:
        loc, value = pending.pop()
        if isinstance(value, str):
            if not _storable(value):
                return loc
        elif isinstance(value, dict):
            for key, item in value.items():
                if not _storable(key):
                    return loc
                pending.append(([*loc, key], item))
        elif isinstance(value, list):
            pending.extend(([*loc, index], item) for index, item in enumerate(value))
    return None


async def _read_all(receive: Receive) -> tuple[bytes, list[Message]]:
    """The whole body, and the client's leaving if it left before the end (the route is told so after it)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), [message]
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), []


async def storable_text(scope: Scope, receive: Receive) -> Receive:
    """422 for NUL or an unpaired surrogate anywhere in a JSON body FastAPI will parse (SEC-27).

    Either would reach PostgreSQL and fail there (500); answered here once for every route. The body has
    passed the size limit, so reading it whole holds no more than the limit. Intake's referral routes read
    their bodies themselves and keep their own rules (NUL is replaced there), so they are not checked here.
    """
    route = scope.get("route")
    content_type = Headers(scope=scope).get("content-type")
    parsed = isinstance(route, APIRoute) and route.body_field is not None
    if not parsed or content_type is None or not _is_json(content_type):
        return receive
    body, left = await _read_all(receive)
    try:
        document = json.loads(body) if body else None
    except (ValueError, RecursionError):  # not JSON: FastAPI says so in its own words
        document = None
    if (loc := unstorable_text_at(document)) is not None:
        raise ApiError(422, "unstorable_text", "text may not contain NUL (U+0000) or unpaired surrogates",
                       ["body", *loc])
    replay: list[Message] = [{"type": "http.request", "body": body, "more_body": bool(left)}, *left]

    async def replayed() -> Message:
        return replay.pop(0) if replay else await receive()

    return replayed
