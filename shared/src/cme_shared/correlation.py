"""The correlation id: bound for the length of one request or message, carried across Kafka in headers.

A client's or partner's id is taken only if it looks like one (a UUID, or up to 64 letters, digits, dots,
dashes and underscores): anything else (a name, a megabyte, control characters) would be text an outsider
writes into every log line and every event the request causes (SEC-15), so it is replaced by a new id.
"""

import re
import uuid

import structlog

HEADER = "correlation_id"
_ACCEPTABLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def acceptable(correlation_id: str | None) -> str | None:
    """The id if it has the shape of one, else None (then a new one is made)."""
    return correlation_id if correlation_id and _ACCEPTABLE.fullmatch(correlation_id) else None


def bind(correlation_id: str | None = None) -> str:
    value = acceptable(correlation_id) or str(uuid.uuid4())
    structlog.contextvars.bind_contextvars(correlation_id=value)
    return value


def current() -> str | None:
    return structlog.contextvars.get_contextvars().get("correlation_id")


def clear() -> None:
    structlog.contextvars.unbind_contextvars("correlation_id")
