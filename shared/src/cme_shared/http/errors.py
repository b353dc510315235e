"""Errors as JSON: {"errors": [{"loc": [...], "code": "...", "message": "..."}]} (CONTRACT section 2).

Validation errors never echo the input (it may be personal data); unexpected errors say nothing of
their cause beyond a correlation id to find the log line.
"""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import correlation
from ..logging import get_logger
from ..db import is_transient
from ..refusal import Refusal

log = get_logger(__name__)


ApiError = Refusal  # the HTTP kit's name for the one refusal type (refusal.py)


class EdgeError(StarletteHTTPException):
    """An ApiError raised while a route reads its body: a size limit, or a check that must come before it.

    FastAPI lets only an HTTPException out of its body read unchanged (anything else becomes a bare 400),
    so the error travels as one and is answered in the usual shape. What is left of an unread body, uvicorn
    reads and drops (memory stays flat); closing at once would reset the connection and lose the answer.
    """

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.status, error.message)
        self.error = error


def error_body(*errors: tuple[list[str | int], str, str]) -> dict[str, list[dict[str, object]]]:
    return {"errors": [{"loc": loc, "code": code, "message": message} for loc, code, message in errors]}


def strings_in(value: Any) -> list[str]:
    """Every string inside a JSON-like value (dict values, list items), however deep."""
    found, pending = [], [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, (list, tuple)):
            pending.extend(item)
    return found


def validation_message(error: dict[str, Any]) -> str:
    """pydantic's message, unless it quotes the input: a validator's ValueError may ("Invalid isoformat
    string: '...'"), and a UUID error quotes the character it stopped at. Then only its first clause."""
    message, given = str(error["msg"]), error.get("input")
    quotes = (isinstance(given, str) and len(given) >= 3 and given in message) or any(
        repr(text) in message for text in strings_in(given))  # as a ValueError quotes a value: {!r}
    if not quotes and "found `" not in message:
        return message
    head = message.split(",")[0]
    return "the value is not valid here" if head == "Value error" else head


UNKNOWN_FIELD_MESSAGE = "a field this object does not take (its name is not repeated: it came from the request)"


def validation_error(error: dict[str, Any]) -> tuple[list[str | int], str, str]:
    """One pydantic error as (loc, code, message), quoting nothing of the input (SEC-28): an unknown
    key is the request's own text (a name, say), so its error is placed at the object that holds it."""
    loc, code = list(error["loc"]), str(error["type"])
    if code == "extra_forbidden" and loc:
        return loc[:-1], code, UNKNOWN_FIELD_MESSAGE
    return loc, code, validation_message(error)


def database_rejected_value(exc: Exception) -> str | None:
    """The SQLSTATE of a data exception (class 22): a value the database cannot take (NUL or an unpaired
    surrogate in text, a number beyond its column). The request's fault, whichever field it came in."""
    if not isinstance(exc, DBAPIError):
        return None
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code if isinstance(code, str) and code.startswith("22") else None


def edge_response(exc: EdgeError) -> JSONResponse:
    error = exc.error
    return JSONResponse(error_body((error.loc, error.code, error.message)), status_code=error.status)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(*exc.errors()), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(EdgeError)
    async def _edge_error(_request: Request, exc: EdgeError) -> JSONResponse:
        return edge_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body(*(validation_error(e) for e in exc.errors())), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large",
                415: "unsupported_media_type"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(([], code, str(exc.detail))), status_code=exc.status_code)

    @app.exception_handler(DBAPIError)
    async def _database(_request: Request, exc: DBAPIError) -> JSONResponse:
        sqlstate = database_rejected_value(exc)
        if sqlstate is None:
            raise exc  # the database's own trouble: answered below, 503 or 500
        # The checks at the edge (`limits`) and the bounds in the schemas stop these first; this answers any
        # value they do not know of as the client's fault it is, and logs it so that it is bounded too.
        log.warning("database_rejected_value", sqlstate=sqlstate)
        message = ("a value in the request cannot be stored (text with NUL or unpaired surrogates, "
                   "or a number out of range)")
        return JSONResponse(error_body(([], "value_not_storable", message)), status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        # Reached only if the kit's RequestContext middleware is not in front (it answers first, while the
        # correlation id is still bound): the same answer either way.
        return unexpected_response(exc)


def unexpected_response(exc: Exception) -> JSONResponse:
    """The answer to an exception no handler took: 503 when a dependency is away for a moment, else 500;
    the body says nothing of the cause beyond the correlation id of the log line written here."""
    correlation_id = correlation.current() or "none"
    if is_transient(exc):
        # The database or broker is away for a moment (a restart drops the pooled connections; the pool
        # is renewed on the first failure). Almost always the request changed nothing; a connection
        # lost during the commit itself leaves that unknown, which is why writes that matter to
        # partners are idempotent (a referral sent again is a duplicate, not a second referral).
        log.warning("dependency_unavailable", error_type=type(exc).__name__)
        message = f"a service this one depends on is unavailable; retry shortly (correlation id {correlation_id})"
        return JSONResponse(error_body(([], "temporarily_unavailable", message)), status_code=503,
                            headers={"Retry-After": "1"})
    log.error("unhandled_error", error_type=type(exc).__name__, exc_info=exc)
    message = f"internal error; quote correlation id {correlation_id}"
    return JSONResponse(error_body(([], "internal_error", message)), status_code=500)
