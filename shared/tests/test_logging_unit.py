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
    assert "jane" not in out and json.loads(out.strip().splitlines()[-1])["event"] == "library_log"


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


# SEC-15: the review's sketches, and the bypasses it found.

def lines_of(out: str) -> list[dict]:
    return [json.loads(line) for line in out.strip().splitlines() if line.startswith("{")]


def test_positional_arguments_are_never_interpolated_into_the_event(capsys):
    import logging

    configure_logging("intake")
    log = get_logger("t")
    log.info("x %s", "Amelia")
    log.info("referral for %s %s at %s", "Amelia", "Okonkwo", "12 High Street")
    log.warning("referral_received %s", "Amelia", status="accepted")
    log.log(logging.ERROR, "case for %s", "Amelia")
    try:
        raise ValueError("Amelia")
    except ValueError:
        log.exception("store_failed %s", "Amelia")
    out = capsys.readouterr().out
    assert "Amelia" not in out and "Okonkwo" not in out and "High Street" not in out
    lines = lines_of(out)
    assert len(lines) == 5 and [line["dropped_arguments"] for line in lines] == [1, 3, 1, 1, 1]
    assert lines[2]["status"] == "accepted" and lines[2]["level"] == "warning"
    assert lines[3]["level"] == "error" and "builtins.ValueError" in lines[4]["exception"]


async def test_the_async_methods_drop_positional_arguments_too(capsys):
    configure_logging("intake")
    await get_logger("t").ainfo("x %s", "Amelia")
    out = capsys.readouterr().out
    assert "Amelia" not in out and lines_of(out)[-1]["dropped_arguments"] == 1


@pytest.mark.parametrize("event", ["Referral for Amelia Okonkwo", "x %s", "referral received", "Case-42", "é"])
def test_an_event_that_is_not_a_name_is_replaced(capsys, event):
    configure_logging("casework")
    get_logger("t").info(event)
    assert lines_of(capsys.readouterr().out)[-1]["event"] == REDACTED


def test_values_under_allow_listed_keys_are_checked(capsys):
    configure_logging("intake")
    get_logger("t").info(
        "referral_rejected", status="Amelia Okonkwo", reasons=["too_long", "born 03/04/2015"],
        error_code="020-7946-0958", path="/cases/{case_id}", case_id="2a8f0c4e-1234-4abc-8def-044123456789",
        topic="cme.referrals.v1", offset=12, in_batch=True, outcome={"name": "Amelia"},
        sub="amelia.okonkwo@example.org", consumer="referrals", duration_ms=1.5)
    line = lines_of(capsys.readouterr().out)[-1]
    assert line["status"] == REDACTED and line["error_code"] == REDACTED and line["outcome"] == REDACTED
    assert line["reasons"] == ["too_long", REDACTED] and line["sub"] == REDACTED
    assert line["path"] == "/cases/{case_id}" and line["case_id"] == "2a8f0c4e-1234-4abc-8def-044123456789"
    assert line["topic"] == "cme.referrals.v1" and line["offset"] == 12 and line["in_batch"] is True
    assert line["consumer"] == "referrals" and line["duration_ms"] == 1.5


def test_dates_and_phone_numbers_as_people_write_them_are_masked():
    masked = mask_personal_text("born 03/04/2015 or 3.4.15, call 020-7946-0958 or 0207 946 0958")
    for leaked in ("03/04/2015", "3.4.15", "020-7946-0958", "0207 946 0958"):
        assert leaked not in masked


def test_a_correlation_id_holding_a_name_never_reaches_the_log(capsys):
    from cme_shared import correlation

    configure_logging("intake")
    for sent in ("Amelia Okonkwo", "Amelia-Okonkwo-2015-04-03", "amelia@example.org"):
        correlation.bind(sent)
        try:
            get_logger("t").info("referral_received")
        finally:
            correlation.clear()
    out = capsys.readouterr().out
    assert "Amelia" not in out and "amelia" not in out and "2015-04-03" not in out
    assert all(line["correlation_id"] != REDACTED for line in lines_of(out))  # replaced by a new id, not lost


def test_other_libraries_text_is_dropped_and_their_arguments_never_filled_in(capsys):
    import logging

    configure_logging("rights")
    logging.getLogger("asyncio").error("Task exception was never retrieved: %r", "<Task name='Amelia'>")
    logging.getLogger("uvicorn.error").info("Uvicorn running on %s://%s:%d", "http", "Amelia", 8000)
    logging.getLogger("uvicorn.error").warning("Invalid HTTP request from amelia@example.org")
    out = capsys.readouterr().out
    assert "Amelia" not in out and "amelia@example.org" not in out
    asyncio_line, running, invalid = lines_of(out)
    assert asyncio_line == {**asyncio_line, "event": "library_log", "logger": "asyncio", "level": "error",
                            "dropped_arguments": 1}
    assert running["event"] == "Uvicorn running on %s://%s:%d" and running["dropped_arguments"] == 3
    assert invalid["event"] == f"Invalid HTTP request from {REDACTED}"


def test_a_pdf_of_a_family_with_cjk_names_logs_no_glyph(capsys):
    """fpdf2 warns which glyphs of a name its font lacks, and fontTools says ~40 things per PDF (M8)."""
    from pathlib import Path

    from fpdf import FPDF

    font = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    if not font.exists():
        pytest.skip("DejaVu Sans is not installed (the rights service then uses the core font)")
    configure_logging("rights")
    pdf = FPDF()
    pdf.add_font("DejaVu", fname=str(font))
    pdf.set_font("DejaVu", size=11)
    pdf.add_page()
    pdf.cell(text="Requested by 王芳 김민준 (parent), about 王小明")
    assert bytes(pdf.output()).startswith(b"%PDF")
    out = capsys.readouterr().out
    assert not any(glyph in out for glyph in "王芳김민준小明")
    lines = lines_of(out)
    assert lines, "fpdf2 warns of the missing glyphs: the warning is kept, its text is not"
    assert all(line["level"] != "info" and line["event"] == "library_log" for line in lines)
    assert {line["logger"] for line in lines} <= {"fpdf.output", "fpdf.fonts", "fontTools.subset"}
