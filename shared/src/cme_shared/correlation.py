"""The correlation id: bound for the length of one request or message, carried across Kafka in headers.

A client's or partner's id is taken only if it looks like one (a UUID, or up to 64 letters, digits, dots,
dashes and underscores, holding no shape of personal data such as a date or a phone number): anything else
(a name and a date of birth, a megabyte, control characters) would be text an outsider writes into every
log line and every event the request causes (SEC-15), so it is replaced by a new id. Shape is all that can
be checked: `Amelia-Okonkwo` looks like an id. The HTTP response and the outcome carry the id that was
used, so a client whose id was replaced still learns the one to quote.
"""

import re
import uuid

import structlog

from .logging import mask_personal_text

HEADER = "correlation_id"
_ACCEPTABLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def acceptable(correlation_id: str | None) -> str | None:
    """The id if it has the shape of one, else None (then a new one is made)."""
    if not correlation_id or not _ACCEPTABLE.fullmatch(correlation_id):
        return None
    return correlation_id if mask_personal_text(correlation_id) == correlation_id else None


def bind(correlation_id: str | None = None) -> str:
    value = acceptable(correlation_id) or str(uuid.uuid4())
    structlog.contextvars.bind_contextvars(correlation_id=value)
    return value


def current() -> str | None:
    return structlog.contextvars.get_contextvars().get("correlation_id")


def clear() -> None:
    structlog.contextvars.unbind_contextvars("correlation_id")
