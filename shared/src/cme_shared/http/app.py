"""The FastAPI application every service is built on: operational endpoints, errors, auth, logging."""

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import correlation
from ..access_log import access_log_router
from ..auth import PRINCIPAL_SCOPE_KEY, Principal, TokenVerifier, authenticate_before_body, needs_principal
from ..logging import configure_logging, get_logger
from ..metrics import HTTP_REQUESTS
from ..runtime import ServiceRuntime
from ..tracing import OFF, Tracing
from .errors import install_error_handlers, unexpected_response
from .limits import BeforeBody, BodyLimit, json_content_type, storable_text

log = get_logger(__name__)

# The methods a metric label may name; any other token a client sends is "other" (else each new token would
# be a new series, for ever: a client could grow every service's memory and /metrics without bound).
STANDARD_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Routes that carry no personal data: no access line (probes and scrapes would drown it), and caches may
# keep them. Every other answer, errors and unknown paths included, says `Cache-Control: no-store`.
OPERATIONAL_ROUTES = frozenset({"/healthz", "/readyz", "/metrics", "/asyncapi.json", "/openapi.json", "/docs",
                                "/docs/oauth2-redirect", "/redoc"})
UNQUIET_ROUTES = OPERATIONAL_ROUTES - {"/healthz", "/readyz", "/metrics"}  # logged, though cacheable
QUIET_PATHS = OPERATIONAL_ROUTES - UNQUIET_ROUTES  # probes and scrapes: no span either
HSTS = "max-age=31536000; includeSubDomains"
CLIENT_CLOSED = 499  # the status the access line and metric give a request whose client left before any answer


def route_template(scope: Scope) -> str:
    """The matched route's template (`/cases/{case_id}`), never the ids in the path."""
    return getattr(scope.get("route"), "path", None) or "unmatched"


async def principal_of(scope: Scope, status: int) -> Principal | None:
    """Who made the request, for the access line: the principal authentication found (a route that read a
    body), else the bearer token verified again, after the answer has gone (the route's dependencies keep
    what they verified to themselves); None for a route without one, or a request refused as
    unauthenticated."""
    found = scope.get(PRINCIPAL_SCOPE_KEY)
    if isinstance(found, Principal):
        return found
    if status == 401 or not needs_principal(scope.get("route")):
        return None
    scheme, _, token = Headers(scope=scope).get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    verifier = scope["app"].state.token_verifier
    try:
        verify = getattr(verifier, "verify_async", None)  # off the event loop when keys come from a JWKS
        verified: Principal = await verify(token) if verify is not None else verifier.verify(token)
        return verified
    except Exception:  # expired in between, or the key set is unreachable: the line says no one
        return None


class RequestContext:
    """The outermost of the kit's middleware (pure ASGI), for every HTTP request (SEC-16, SEC-28):

    - binds the correlation id: the client's `X-Correlation-ID` if it looks like one (`correlation`), else
      a new one, and answers it in `x-correlation-id`, errors included;
    - answers an exception nothing else handled (500, or 503 when a dependency is away) while the id is
      still bound, so the body quotes the id the log line carries (Starlette's own last-resort handler
      runs outside every middleware, after the id would have been cleared);
    - writes one access line per request (`http_request`: method, route template, status, duration, and
      the `sub` of the principal, an account id, never a child's data), also when the handler raised;
    - adds `X-Content-Type-Options: nosniff` to every answer, `Cache-Control: no-store` to every answer
      but the operational endpoints', and HSTS in production;
    - when tracing is on (tracing.py), makes the request a server span named by method and route template
      (never the path's ids or the query string), a child of the caller's `traceparent`; probes and
      scrapes (`QUIET_PATHS`) are not traced.
    """

    def __init__(self, app: ASGIApp, *, production: bool = False, tracing: Tracing = OFF) -> None:
        self.app = app
        self.production = production
        self.tracing = tracing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self.tracing.enabled or scope.get("path") in QUIET_PATHS:
            await self._serve(scope, receive, send, None)
            return
        method = scope["method"] if scope["method"] in STANDARD_METHODS else "other"
        with self.tracing.serving(method, Headers(scope=scope).get("traceparent")) as span:
            await self._serve(scope, receive, send, span)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, span: Any) -> None:
        correlation_id = correlation.bind(Headers(scope=scope).get("x-correlation-id"))
        started_at = time.perf_counter()
        status: int | None = None

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["x-correlation-id"] = correlation_id
                headers["x-content-type-options"] = "nosniff"
                if route_template(scope) not in OPERATIONAL_ROUTES:
                    headers["cache-control"] = "no-store"
                if self.production:
                    headers["strict-transport-security"] = HSTS
            await send(message)

        try:
            await self.app(scope, receive, answer)
        except asyncio.CancelledError:
            status = status or CLIENT_CLOSED  # the client went away before the answer began
            raise
        except Exception as exc:
            if status is not None:  # the answer has begun: it cannot be replaced, only cut short
                log.error("unhandled_error_after_response_started", error_type=type(exc).__name__)
                status = 500
                raise
            await unexpected_response(exc)(scope, receive, answer)
        finally:
            try:
                if span is not None:
                    method = scope["method"] if scope["method"] in STANDARD_METHODS else "other"
                    self.tracing.served(span, method, route_template(scope), status or 500, correlation_id)
                await self._account(scope, status or 500, started_at)
            finally:
                correlation.clear()

    @staticmethod
    async def _account(scope: Scope, status: int, started_at: float) -> None:
        template = route_template(scope)
        method = scope["method"] if scope["method"] in STANDARD_METHODS else "other"  # any token is a method
        HTTP_REQUESTS.labels(method, template, str(status)).inc()
        if template in OPERATIONAL_ROUTES and template not in UNQUIET_ROUTES:
            return
        duration_ms = round((time.perf_counter() - started_at) * 1000, 1)  # the answer's, not the line's
        principal = await principal_of(scope, status)
        log.info("http_request", method=method, path=template, status_code=status, duration_ms=duration_ms,
                 sub=principal.sub if principal is not None else None)


def create_service_app(
    runtime: ServiceRuntime,
    *,
    title: str,
    description: str,
    routers: list[APIRouter],
    asyncapi: Callable[[], dict[str, Any]],
    version: str = "0.1.0",
    body_limits: Mapping[str, int] | None = None,
) -> FastAPI:
    """`body_limits`: the service's own body limits by path prefix, over CME_HTTP_MAX_BODY_BYTES;
    CME_HTTP_BODY_LIMITS overrides them."""
    settings = runtime.settings
    configure_logging(settings.service_name, settings.log_level)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title=title, description=description, version=version, lifespan=lifespan)
    app.state.runtime = runtime
    app.state.token_verifier = TokenVerifier(settings)
    install_error_handlers(app)
    # Outermost first: the request's context (below), the size limit, then the checks made before a body is read.
    app.add_middleware(BeforeBody, checks=[authenticate_before_body, json_content_type, storable_text])
    app.add_middleware(BodyLimit, default=settings.http_max_body_bytes,
                       prefixes={**(body_limits or {}), **settings.http_body_limits},
                       read_timeout=settings.http_body_read_timeout_seconds)

    # Outermost: the correlation id, security headers, the access line, and the answer to an exception.
    app.add_middleware(RequestContext, production=settings.env == "production", tracing=runtime.tracing)

    ops = APIRouter(tags=["operations"])

    @ops.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "alive", "service": settings.service_name}

    @ops.get("/readyz")
    async def readyz() -> JSONResponse:
        checks = await runtime.readiness()
        ready = all(checks.values())  # every check: database, broker, relay, consumers
        return JSONResponse({"status": "ready" if ready else "not_ready", "service": settings.service_name,
                             "checks": checks},
                            status_code=200 if ready else 503)

    @ops.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @ops.get("/asyncapi.json")
    async def asyncapi_json() -> dict[str, Any]:
        return asyncapi()

    app.include_router(ops)
    app.include_router(access_log_router(runtime.kit.access_log))
    for router in routers:
        app.include_router(router)
    return app
