"""The correlation id: bound for the length of one request or message, carried across Kafka in headers."""

import uuid

import structlog

HEADER = "correlation_id"


def bind(correlation_id: str | None = None) -> str:
    value = correlation_id or str(uuid.uuid4())
    structlog.contextvars.bind_contextvars(correlation_id=value)
    return value


def current() -> str | None:
    return structlog.contextvars.get_contextvars().get("correlation_id")


def clear() -> None:
    structlog.contextvars.unbind_contextvars("correlation_id")
