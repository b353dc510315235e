"""Errors as JSON: {"errors": [{"loc": [...], "code": "...", "message": "..."}]} (CONTRACT section 2).

Validation errors never echo the input (it may be personal data); unexpected errors say nothing of
their cause beyond a correlation id to find the log line.
"""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import correlation
from ..logging import get_logger
from ..messaging.consumer import is_transient

log = get_logger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, loc: list[str | int] | None = None) -> None:
        super().__init__(code)
        self.status, self.code, self.message, self.loc = status, code, message, loc or []


def error_body(*errors: tuple[list[str | int], str, str]) -> dict[str, list[dict[str, object]]]:
    return {"errors": [{"loc": loc, "code": code, "message": message} for loc, code, message in errors]}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body((exc.loc, exc.code, exc.message)), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [(list(e["loc"]), e["type"], e["msg"]) for e in exc.errors()]
        return JSONResponse(error_body(*errors), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(([], code, str(exc.detail))), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        if is_transient(exc):
            # The database or broker is away for a moment (a restart drops the pooled connections; the pool
            # is renewed on the first failure). Almost always the request changed nothing; a connection
            # lost during the commit itself leaves that unknown, which is why writes that matter to
            # partners are idempotent (a referral sent again is a duplicate, not a second referral).
            log.warning("dependency_unavailable", error_type=type(exc).__name__)
            message = f"a service this one depends on is unavailable; retry shortly (correlation id {correlation.current()})"
            return JSONResponse(error_body(([], "temporarily_unavailable", message)), status_code=503,
                                headers={"Retry-After": "1"})
        log.error("unhandled_error", error_type=type(exc).__name__)
        message = f"internal error; quote correlation id {correlation.current()}"
        return JSONResponse(error_body(([], "internal_error", message)), status_code=500)
