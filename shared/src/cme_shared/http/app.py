"""The FastAPI application every service is built on: operational endpoints, errors, auth, logging."""

import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .. import correlation
from ..access_log import access_log_router
from ..auth import TokenVerifier, authenticate_before_body
from ..logging import configure_logging, get_logger
from ..metrics import HTTP_REQUESTS
from ..runtime import ServiceRuntime
from .errors import install_error_handlers
from .limits import BeforeBody, BodyLimit, json_content_type, storable_text

log = get_logger(__name__)

# The methods a metric label may name; any other token a client sends is "other" (else each new token would
# be a new series, for ever: a client could grow every service's memory and /metrics without bound).
STANDARD_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


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
    # Outermost first: correlation (below), the size limit, then the checks made before a body is read.
    app.add_middleware(BeforeBody, checks=[authenticate_before_body, json_content_type, storable_text])
    app.add_middleware(BodyLimit, default=settings.http_max_body_bytes,
                       prefixes={**(body_limits or {}), **settings.http_body_limits},
                       read_timeout=settings.http_body_read_timeout_seconds)

    @app.middleware("http")
    async def correlate(request: Request, call_next: Callable[[Request], Any]) -> Response:
        correlation.bind(request.headers.get("x-correlation-id"))
        started = time.perf_counter()
        try:
            response: Response = await call_next(request)
        finally:
            correlation_id = correlation.current()
            correlation.clear()
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")  # the template, never the ids in the path
        method = request.method if request.method in STANDARD_METHODS else "other"  # any token is a method
        HTTP_REQUESTS.labels(method, template, str(response.status_code)).inc()
        response.headers["x-correlation-id"] = correlation_id or ""
        if template not in ("/healthz", "/readyz", "/metrics"):
            log.info("http_request", method=method, path=template, status_code=response.status_code,
                     duration_ms=round((time.perf_counter() - started) * 1000, 1), correlation_id=correlation_id)
        return response

    ops = APIRouter(tags=["operations"])

    @ops.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @ops.get("/readyz")
    async def readyz() -> JSONResponse:
        checks = await runtime.readiness()
        ready = all(checks.values())  # every check: database, broker, relay, consumers
        return JSONResponse({"status": "ready" if ready else "not_ready", "checks": checks},
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
