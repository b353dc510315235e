"""The printable response pack (fpdf2): the same document as the JSON, laid out for a letter.

Names are not all Latin-1, so a Unicode TrueType font is used when the machine has one (DejaVu Sans
on Debian); without it the PDF core font is used and accents are folded (Zoë -> Zoe) rather than lost.

Bounded (SEC-25): fpdf2 is pure Python and costs about 13 microseconds a character, so one pack could
hold a process for tens of seconds (200 notes of 10,000 characters took 20 s), and 40 levels of nesting
indented text off the page (an exception, a 500). So the printed copy has limits, and says where it
reaches them; the JSON response is always the whole copy:
- values nested deeper than `MAX_DEPTH` are printed on one line as compact JSON;
- one value prints at most `MAX_VALUE_CHARS` characters;
- the records print at most `DATA_BUDGET` characters, the other sections `SECTIONS_BUDGET`: the rest is
  named as being in the electronic copy only;
- characters that print as nothing are left out (controls, format characters such as bidi overrides
  and zero-width spaces), and at most `MAX_COMBINING` combining marks follow one letter (5,000 marks on
  one letter made a 1.2 s line).
`Printer` prints in a separate process, so the service's event loop never waits for fpdf2.
"""

import asyncio
import json
import logging
import multiprocessing
import unicodedata
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos

MAX_DEPTH = 6
MAX_VALUE_CHARS = 10_000
DATA_BUDGET = 60_000
SECTIONS_BUDGET = 30_000
MAX_COMBINING = 4
INDENT_MM = 5
CUT = " [cut short here: the electronic copy of this response holds the whole text]"
ELECTRONIC_ONLY = ("{n} further record(s) are not printed, to keep this printed copy to a readable size: "
                   "they are in the electronic copy of this response, which holds everything.")

TITLES = {
    "access": "Your subject access request",
    "rectification": "Your request to correct your information",
    "erasure": "Your request to erase your information",
    "restriction": "Your request to restrict the use of your information",
    "objection": "Your objection to the use of your information",
    "transfer": "Transfer of a child's record to another council",
    "automated_decision": "Your question about automated decision-making",
    "complaint": "Your data protection complaint",
}
SECTIONS = {
    "data": "The personal data we hold",
    "recipients": "Who we have shared it with",
    "recipients_to_notify": "Recipients we are telling about this (UK GDPR Art 19)",
    "redactions": "Information removed because it is about someone else",
    "completeness": "How complete this response is",
    "supplementary_information": "How we use your information (UK GDPR Art 15)",
    "decision": "Our decision",
    "explanation": "Why",
    "remedies": "If you are not satisfied",
    "if_not_satisfied": "If you are not satisfied",
    "statement": "Automated decision-making",
    "register": "Register of automated processing",
    "outcome": "Outcome of your complaint",
    "records": "Records transferred",
    "share": "The statutory share",
    "release": "Release",
}
HEADER_KEYS = ("format", "request_id", "type", "received_on", "channel", "requester", "subject", "authority",
               "status")


class _Pack(FPDF):
    def __init__(self, font_path: str | None) -> None:
        super().__init__(format="A4")
        self.set_margins(18, 18, 18)
        self.set_auto_page_break(True, margin=18)
        self.has_unicode_font = bool(font_path and Path(font_path).is_file())
        if self.has_unicode_font:
            assert font_path is not None
            bold = Path(font_path).with_name(Path(font_path).stem + "-Bold.ttf")
            self.add_font("Body", "", font_path)
            self.add_font("Body", "B", str(bold) if bold.is_file() else font_path)
            self.body_font = "Body"
        else:
            self.body_font = "Helvetica"
        self.budget = DATA_BUDGET

    def text_of(self, value: Any) -> str:
        text = printable("" if value is None else str(value))
        if self.has_unicode_font:
            return text
        folded = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
        return folded.encode("latin-1", "replace").decode("latin-1")

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(self.body_font, "", 8)
        self.cell(0, 6, self.text_of(f"Page {self.page_no()}"), align="C")

    def heading(self, text: str, size: int = 13) -> None:
        self.ln(2)
        self.set_font(self.body_font, "B", size)
        self.multi_cell(0, 7, self.text_of(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(self.body_font, "", 10)

    def line_of(self, label: str, value: Any, indent: int = 0, *, budgeted: bool = True) -> None:
        """One line (wrapped), within the budget when `budgeted`; nothing once the budget is spent."""
        if budgeted and self.budget <= 0:
            return
        text = self.text_of(f"{label}: {value}" if label else value)
        if budgeted:
            if len(text) > self.budget:
                text = text[:self.budget] + CUT
            self.budget -= len(text)
        self.set_x(self.l_margin + min(indent, MAX_DEPTH) * INDENT_MM)
        self.set_font(self.body_font, "", 10)
        self.multi_cell(0, 5.5, text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def tree(self, value: Any, indent: int = 0, label: str = "") -> None:
        """Nested JSON as indented lines: dicts by key, lists by position; deeper than MAX_DEPTH, one line."""
        if self.budget <= 0:
            return
        if isinstance(value, dict | list) and value and indent >= MAX_DEPTH:
            self.line_of(label, compact(value), indent)
        elif isinstance(value, dict):
            if label:
                self.line_of("", f"{label}:", indent)
                indent += 1
            for key, child in value.items():
                self.tree(child, indent, str(key))
        elif isinstance(value, list):
            if not value:
                self.line_of(label, "none", indent)
                return
            if label:
                self.line_of("", f"{label}:", indent)
                indent += 1
            for child in value:
                if isinstance(child, dict | list):
                    self.tree(child, indent)
                    self.ln(1)
                else:
                    self.line_of("", f"- {child}", indent)
        else:
            self.line_of(label, "" if value is None else value, indent)


def printable(text: str) -> str:
    """The text as it can be printed in bounded time: NFC, without characters that print as nothing, at most
    MAX_COMBINING combining marks in a row, at most MAX_VALUE_CHARS characters."""
    cut = len(text) > MAX_VALUE_CHARS * 2
    kept: list[str] = []
    marks = 0
    for ch in unicodedata.normalize("NFC", text[:MAX_VALUE_CHARS * 2]):
        category = unicodedata.category(ch)
        if category in ("Mn", "Me"):
            marks += 1
            if marks > MAX_COMBINING:
                continue
        else:
            marks = 0
        if ch in "\n\t":
            kept.append(ch)
        elif category in ("Zl", "Zp"):
            kept.append("\n")
        elif category.startswith("Z"):
            kept.append(" ")
        elif category not in ("Cc", "Cf", "Cs", "Co", "Cn"):
            kept.append(ch)
    out = "".join(kept)
    if cut or len(out) > MAX_VALUE_CHARS:
        out = out[:MAX_VALUE_CHARS] + CUT
    return out


def compact(value: Any) -> str:
    """A nested value as one line of JSON, at most MAX_VALUE_CHARS (the encoder is lazy: no more is built)."""
    pieces: list[str] = []
    size = 0
    try:
        for piece in json.JSONEncoder(ensure_ascii=False, default=str).iterencode(value):
            pieces.append(piece)
            size += len(piece)
            if size > MAX_VALUE_CHARS:
                break
    except RecursionError:
        return "(nested too deeply to print: see the electronic copy)"
    return "".join(pieces)


def render(response: dict[str, Any], font_path: str | None) -> bytes:
    pdf = _Pack(font_path)
    pdf.add_page()
    pdf.heading(TITLES.get(str(response.get("type")), "Response to your request"), size=16)
    pdf.line_of("Reference", response.get("request_id"), budgeted=False)
    pdf.line_of("Received on", response.get("received_on"), budgeted=False)
    requester, subject = response.get("requester") or {}, response.get("subject") or {}
    if requester:
        pdf.line_of("Requested by", f"{requester.get('first_name', '')} {requester.get('last_name', '')} "
                                    f"({requester.get('acting_as', '')})", budgeted=False)
    if subject:
        pdf.line_of("About", f"{subject.get('first_name', '')} {subject.get('last_name', '')}", budgeted=False)
    for note in (response.get("authority") or [])[:10]:
        pdf.line_of("Authority", note, budgeted=False)
    if "data" in response:
        _data(pdf, response["data"])
    pdf.budget = SECTIONS_BUDGET
    for key, value in response.items():
        if key in HEADER_KEYS or key == "data":
            continue
        pdf.heading(SECTIONS.get(key, key.replace("_", " ").capitalize()))
        pdf.tree(value)
    return bytes(pdf.output())


def _data(pdf: _Pack, data: list[dict[str, Any]]) -> None:
    pdf.heading(SECTIONS["data"])
    if not data:
        pdf.line_of("", "We hold no personal data about you in the children missing education records.")
    left_out = 0
    for service in data:
        for category in service["categories"]:
            if pdf.budget <= 0:
                left_out += len(category["records"])
                continue
            pdf.heading(f"{service['service']}: {category['category'].replace('_', ' ')}", size=11)
            for record in category["records"]:
                if pdf.budget <= 0:
                    left_out += 1
                    continue
                pdf.line_of("", f"{record['record_type']} {record['record_id']}, recorded {record['recorded_at']}, "
                                f"source: {record.get('source') or 'not recorded'}")
                if "withheld" in record:
                    pdf.line_of("", record["withheld"], 1)
                else:
                    pdf.tree(record.get("data") or {}, 1)
                pdf.ln(1)
    if left_out:
        pdf.line_of("", ELECTRONIC_ONLY.format(n=left_out), budgeted=False)


def _silent_worker() -> None:
    """The worker logs nothing: fpdf2 and fontTools name the glyphs a font lacks (a family's names), and the
    service's logging guard (SEC-15) does not run in this process."""
    logging.disable(logging.CRITICAL)


class Printer:
    """Prints released packs in a separate process (spawned, one at a time), so fpdf2 never holds the
    service's event loop; a print that takes longer than `timeout` seconds is given up (503)."""

    def __init__(self, font_path: str | None, timeout: float) -> None:
        self._font_path, self._timeout = font_path, timeout
        self._pool: ProcessPoolExecutor | None = None

    async def print(self, response: dict[str, Any]) -> bytes:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_silent_worker)
        pool = self._pool
        try:
            return await asyncio.wait_for(
                asyncio.get_running_loop().run_in_executor(pool, render, response, self._font_path), self._timeout)
        except (TimeoutError, BrokenProcessPool):
            self._pool = None  # a stuck or dead worker is not reused
            pool.shutdown(wait=False, cancel_futures=True)
            raise

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
