"""structlog JSON logging with a guard that keeps personal data out of the logs.

Every line carries `service`, `event` and `correlation_id`. The guard works by allow-list, and checks
what it lets through (SEC-15):

- `event` is a name (`^[a-z][a-z0-9_.]*$`, as every call in the code is written); anything else is
  replaced. Positional arguments are never %-interpolated into it: the kit's loggers drop them (and say
  how many, `dropped_arguments`), so `log.info("referral for %s", name)` writes neither the name nor
  the template.
- Only keys known to hold ids, codes, counts and sizes pass with their values, and each value is
  checked: a number, a UUID, or a short code-shaped string (no spaces, no shape of personal data such
  as an e-mail, phone number, postcode, date, UPN or NHS number); any other value is replaced. Any
  other key is kept with its value replaced, so a careless `log.info("x", first_name=...)` never leaks.
- Exceptions are written as their types and frames, never their messages (`safe_exception`).
- Other libraries' log records keep their level and logger name. Their text is kept only for a few
  libraries whose messages are fixed templates (uvicorn, alembic, aiokafka, faststream, SQLAlchemy),
  as the template (its arguments are never filled in) with personal shapes masked; every other
  library's text is dropped (`library_log`). fpdf2 and fontTools, which name the glyphs of the
  family's names a PDF could not draw, log at WARNING and above only, through the same guard.
"""

import logging
import re
import sys
import traceback
import uuid
from collections.abc import Callable
from typing import Any

import structlog

# Keys the kit fills in itself (structlog's own processors write them last, over anything passed).
TRUSTED_KEYS = frozenset({"level", "timestamp"})
# Keys whose values pass when they are numbers, UUIDs or code-shaped strings (`safe_value`).
SAFE_KEYS = frozenset(
    {
        "event", "service", "correlation_id", "logger",
        "topic", "partition", "offset", "group_id", "group", "key_hash", "message_id", "event_id",
        "event_type", "attempt", "attempts", "max_attempts", "backoff_seconds", "error_type", "error_code",
        "error", "reason", "status", "count", "batch_size", "published", "duration_ms", "method", "path",
        "status_code", "port", "intake_id", "case_id", "subject_id", "child_subject_id",
        "disclosure_id", "request_id", "referral_id_hash", "source_type", "outcome",
        "reasons", "codes", "codecs", "consumer", "aggregate_type", "exception", "role",
        "borough", "tree_size", "leaf_index", "migration", "revision", "env", "version",
        # the HTTP access line: who (the token's `sub`, a staff or partner account id, never a child's
        # data) and which route (its template)
        "sub",
        # consumers' health: offsets, lags, sizes and flags
        "lag", "last_offset", "unread_from", "records", "seconds", "size", "waiting", "in_batch",
        "missing_codec", "sqlstate",
        # rights: ids, kinds and codes only (never who asked or about whom)
        "collection_id", "target_service", "request_type", "clock_event", "from_status", "to_status",
        # the outbox relay and its operator commands: row ids, sizes, codes (an operator's reason is a
        # ticket reference the command checks for shape)
        "outbox_id", "size_bytes", "max_bytes", "operator_reason",
        # the kit's pruning of its own copies (messaging/pruning.py)
        "table", "older_than_days",
        # what the guard itself says
        "dropped_arguments",
    }
)
REDACTED = "[redacted]"
_PERSONAL_SHAPES = [
    re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"),  # email
    re.compile(r"\b(?:\+?44\s?|0)\d[\d\s-]{8,12}\d\b"),  # UK phone, with spaces or dashes
    re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b", re.IGNORECASE),  # UK postcode
    re.compile(r"\b\d{4}-\d{2}-\d{2}\b"),  # ISO date (a date of birth, say)
    re.compile(r"\b\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b"),  # a date as people write it: 03/04/2015, 3.4.15
    re.compile(r"\b\d{3}[\s-]?\d{3}[\s-]?\d{4}\b"),  # NHS number, or a phone number written 3-3-4
    re.compile(r"\b[A-Z]\d{12}\b"),  # UPN
]
EVENT_NAME = re.compile(r"[a-z][a-z0-9_.]{0,99}")
# Codes, ids, topic names, route templates, file paths: no spaces, no quotes, at most 200 characters.
CODE = re.compile(r"[A-Za-z0-9_{/][A-Za-z0-9_.:,/+{}@=#-]{0,199}")
UUID_SHAPE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
TEXT_KEYS = frozenset({"exception"})  # free text from the kit itself, masked for shapes
LIBRARY_TEXT = "_library_text"  # set by `library_record`: the event is a library's template, not a name
# Libraries whose log messages are fixed templates worth an operator's reading; every other library's
# message is dropped, its level and logger name kept.
LIBRARIES_WITH_TEMPLATES = ("uvicorn", "alembic", "aiokafka", "faststream", "sqlalchemy")
MAX_TEMPLATE_CHARS = 300
# Libraries that write the content of what they process: quiet below WARNING, their text dropped.
QUIETENED = ("fpdf", "fontTools")


def mask_personal_text(text: str) -> str:
    for shape in _PERSONAL_SHAPES:
        text = shape.sub(REDACTED, text)
    return text


def safe_value(value: Any) -> Any:
    """The value if it is one a log line may hold under an allow-listed key, else REDACTED."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str):
        if UUID_SHAPE.fullmatch(value):
            return value
        return value if CODE.fullmatch(value) and mask_personal_text(value) == value else REDACTED
    if isinstance(value, (list, tuple, frozenset, set)) and len(value) <= 50:
        items = [safe_value(item) for item in (sorted(value, key=str) if isinstance(value, (set, frozenset))
                                               else value)]
        return items if all(not isinstance(item, (list, dict)) for item in items) else REDACTED
    return REDACTED


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


def library_record(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """For a record of another library (the standard library's logging): its logger's name, and its
    message only if the library is one whose messages are templates, never with the arguments filled in
    (fpdf2 passes the glyphs it could not draw, asyncio the repr of a task: a child's name, either)."""
    record: logging.LogRecord | None = event_dict.get("_record")
    if record is None:
        return event_dict
    event_dict["logger"] = record.name
    if arguments := event_dict.pop("positional_args", None):  # never written: only counted
        event_dict["dropped_arguments"] = len(arguments) if isinstance(arguments, tuple) else 1
    root = record.name.split(".", 1)[0]
    if root in LIBRARIES_WITH_TEMPLATES and isinstance(record.msg, str):
        event_dict["event"] = record.msg[:MAX_TEMPLATE_CHARS]
        event_dict[LIBRARY_TEXT] = True
    else:
        event_dict["event"] = "library_log"
    return event_dict


def personal_data_guard(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: the last line of defence before a log line is written."""
    library_text = event_dict.pop(LIBRARY_TEXT, False)
    for key, value in list(event_dict.items()):
        if key in TRUSTED_KEYS:
            continue
        if key not in SAFE_KEYS:
            event_dict[key] = REDACTED
        elif key == "event":
            if library_text and isinstance(value, str):
                event_dict[key] = mask_personal_text(value)
            else:
                event_dict[key] = value if isinstance(value, str) and EVENT_NAME.fullmatch(value) else REDACTED
        elif key in TEXT_KEYS:
            # A traceback may quote the offending value: keep the frames, mask the shapes.
            event_dict[key] = mask_personal_text(value) if isinstance(value, str) else REDACTED
        else:
            event_dict[key] = safe_value(value)
    return event_dict


def _drop_positional(method: Callable[..., Any], *, leveled: bool = False) -> Callable[..., Any]:
    """A bound logger's method that never %-interpolates positional arguments into the event."""
    import inspect

    if inspect.iscoroutinefunction(method):
        async def amethod(self: Any, *args: Any, **kw: Any) -> Any:
            head, rest = (args[:2], args[2:]) if leveled else (args[:1], args[1:])
            if rest:
                kw["dropped_arguments"] = len(rest)
            return await method(self, *head, **kw)

        return amethod

    def smethod(self: Any, *args: Any, **kw: Any) -> Any:
        head, rest = (args[:2], args[2:]) if leveled else (args[:1], args[1:])
        if rest:
            kw["dropped_arguments"] = len(rest)
        return method(self, *head, **kw)

    return smethod


def guarded_bound_logger(level: int) -> type:
    """structlog's filtering bound logger, whose methods refuse positional arguments (SEC-15)."""
    base = structlog.make_filtering_bound_logger(level)
    names = ["debug", "info", "warning", "warn", "error", "critical", "fatal", "exception", "msg"]
    methods: dict[str, Any] = {}
    for name in names:
        for variant in (name, f"a{name}"):
            if hasattr(base, variant):
                methods[variant] = _drop_positional(getattr(base, variant))
    methods["log"] = _drop_positional(base.log, leveled=True)
    methods["alog"] = _drop_positional(base.alog, leveled=True)
    return type(f"Guarded{base.__name__}", (base,), methods)


class _CurrentStdout:
    """stdout as it is when a line is written, not when logging was configured (a test's captured stream
    may be closed by then, and a process that swaps stdout keeps logging)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


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
        wrapper_class=guarded_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(_CurrentStdout()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.bind_contextvars(service=service)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, library_record],
        use_get_message=False,  # the template, never the arguments filled in (library_record)
        pass_foreign_args=True,  # so that library_record can count them
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            safe_exception,
            personal_data_guard,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(_CurrentStdout())  # type: ignore[arg-type]
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Library chatter at INFO says nothing an operator needs and may quote payloads; fpdf2 and fontTools
    # name the glyphs (a family's names) a PDF could not draw, and fontTools says ~40 things per PDF.
    for noisy in ("aiokafka", "faststream", "uvicorn.access", "sqlalchemy.engine", *QUIETENED):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
