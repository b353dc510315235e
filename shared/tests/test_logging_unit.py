"""The personal-data guard: what reaches the log is safe whatever a developer passes to it."""

import json

import pytest
import structlog

from cme_shared.logging import REDACTED, configure_logging, get_logger, mask_personal_text

pytestmark = pytest.mark.unit


def test_values_of_unknown_keys_never_reach_the_log(capsys):
    configure_logging("intake")
    get_logger("t").info("referral_received", first_name="Amira", postcode="W2 1AA", intake_id="abc", status="ok")
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["first_name"] == REDACTED and line["postcode"] == REDACTED
    assert line["intake_id"] == "abc" and line["status"] == "ok"
    assert line["service"] == "intake" and line["event"] == "referral_received"


def test_personal_shapes_in_free_text_are_masked():
    text = "call 07700 900123 or mail a.b@example.org at W2 1AA born 2016-03-14 upn G213200119044 nhs 943 476 5919"
    masked = mask_personal_text(text)
    for leaked in ("07700", "a.b@example.org", "W2 1AA", "2016-03-14", "G213200119044", "943 476 5919"):
        assert leaked not in masked


def test_every_line_carries_the_correlation_id(capsys):
    configure_logging("casework")
    structlog.contextvars.bind_contextvars(correlation_id="c-123")
    try:
        get_logger("t").warning("handler_failed", attempt=2)
    finally:
        structlog.contextvars.unbind_contextvars("correlation_id")
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["correlation_id"] == "c-123" and line["attempt"] == 2 and line["level"] == "warning"


def test_standard_library_loggers_go_through_the_same_guard(capsys):
    import logging

    configure_logging("rights")
    logging.getLogger("somelib").warning("payload for jane@example.org rejected")
    out = capsys.readouterr().out
    assert "jane@example.org" not in out and REDACTED in out


def test_an_exception_is_logged_by_type_and_frames_never_by_its_message(capsys):
    import logging

    configure_logging("intake")
    try:
        try:
            raise ValueError("Key (name)=(Amira Haddad) already exists")
        except ValueError as inner:
            raise RuntimeError("while storing Amira") from inner
    except RuntimeError:
        get_logger("t").exception("store_failed")
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    out = capsys.readouterr().out
    assert "Amira" not in out
    lines = [json.loads(line) for line in out.strip().splitlines()]
    assert all("builtins.RuntimeError" in line["exception"] and "builtins.ValueError" in line["exception"]
               for line in lines)
    assert "test_logging_unit.py" in lines[0]["exception"]
