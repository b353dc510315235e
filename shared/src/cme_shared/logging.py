"""structlog JSON logging with a guard that keeps personal data out of the logs.

Every line carries `service`, `event` and `correlation_id`. The guard works by allow-list: only keys
known to hold no personal data pass with their values; any other key is kept but its value replaced,
so a careless `log.info("x", first_name=...)` can never leak. Free text in `event` is checked for
shapes of personal data (emails, phone numbers, postcodes, dates) and masked.
"""

import logging
import re
import sys
import traceback
from typing import Any

import structlog

SAFE_KEYS = frozenset(
    {
        "event", "level", "timestamp", "service", "correlation_id", "logger",
        "topic", "partition", "offset", "group_id", "key_hash", "message_id", "event_id",
        "event_type", "attempt", "max_attempts", "backoff_seconds", "error_type", "error_code",
        "status", "count", "batch_size", "published", "duration_ms", "method", "path",
        "status_code", "port", "intake_id", "case_id", "subject_id", "child_subject_id",
        "disclosure_id", "request_id", "referral_id_hash", "source_type", "outcome",
        "reasons", "codes", "consumer", "aggregate_type", "exc_info", "exception", "role",
        "borough", "tree_size", "leaf_index", "migration", "revision", "env", "version",
        # rights: ids, kinds and codes only (never who asked or about whom)
        "collection_id", "target_service", "request_type", "clock_event", "from_status", "to_status",
        # the outbox relay and its operator commands: row ids, sizes, codes (an operator's reason is a
        # ticket reference the command checks for shape)
        "outbox_id", "size_bytes", "max_bytes", "operator_reason",
    }
)
REDACTED = "[redacted]"
_PERSONAL_SHAPES = [
    re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"),  # email
    re.compile(r"\b(?:\+?44\s?|0)\d[\d\s]{8,12}\d\b"),  # UK phone
    re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b", re.IGNORECASE),  # UK postcode
    re.compile(r"\b\d{4}-\d{2}-\d{2}\b"),  # ISO date (a date of birth, say)
    re.compile(r"\b\d{3}\s?\d{3}\s?\d{4}\b"),  # NHS number
    re.compile(r"\b[A-Z]\d{12}\b"),  # UPN
]


def mask_personal_text(text: str) -> str:
    for shape in _PERSONAL_SHAPES:
        text = shape.sub(REDACTED, text)
    return text


def safe_exception(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Render an exception as its types and frames only: an exception's message can quote a value
    (asyncpg's DETAIL, a pydantic input), so it never reaches the log."""
    exc_info = event_dict.pop("exc_info", None)
    if not exc_info:
        return event_dict
    if exc_info is True:
        exc_info = sys.exc_info()
    elif isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    exc = exc_info[1]
    lines: list[str] = []
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        frames = traceback.extract_tb(exc.__traceback__)
        lines.append(f"{type(exc).__module__}.{type(exc).__qualname__}")
        lines.extend(f"  at {frame.filename}:{frame.lineno} in {frame.name}" for frame in frames[-8:])
        exc = exc.__cause__ or exc.__context__
    event_dict["exception"] = "\n".join(lines)
    return event_dict


def personal_data_guard(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: the last line of defence before a log line is written."""
    for key in list(event_dict):
        if key not in SAFE_KEYS:
            event_dict[key] = REDACTED
        elif key == "event" and isinstance(event_dict[key], str):
            event_dict[key] = mask_personal_text(event_dict[key])
        elif key == "exception" and isinstance(event_dict[key], str):
            # A traceback may quote the offending value: keep the frames, mask the shapes.
            event_dict[key] = mask_personal_text(event_dict[key])
    return event_dict


def configure_logging(service: str, level: str = "INFO") -> None:
    """One JSON line per event on stdout; the standard library's loggers go through the same guard."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            safe_exception,
            personal_data_guard,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.bind_contextvars(service=service)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            safe_exception,
            personal_data_guard,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Library chatter at INFO says nothing an operator needs and may quote payloads.
    for noisy in ("aiokafka", "faststream", "uvicorn.access", "sqlalchemy.engine"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
