"""The printable response pack (fpdf2): the same document as the JSON, laid out for a letter.

Names are not all Latin-1, so a Unicode TrueType font is used when the machine has one (DejaVu Sans
on Debian); without it the PDF core font is used and accents are folded (Zoë -> Zoe) rather than lost.
"""

import unicodedata
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos

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

    def text_of(self, value: Any) -> str:
        text = "" if value is None else str(value)
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

    def line_of(self, label: str, value: Any, indent: int = 0) -> None:
        self.set_x(self.l_margin + indent * 5)
        self.set_font(self.body_font, "", 10)
        self.multi_cell(0, 5.5, self.text_of(f"{label}: {value}" if label else value), align="L",
                        new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def tree(self, value: Any, indent: int = 0, label: str = "") -> None:
        """Nested JSON as indented lines: dicts by key, lists by position."""
        if isinstance(value, dict):
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


def render(response: dict[str, Any], font_path: str | None) -> bytes:
    pdf = _Pack(font_path)
    pdf.add_page()
    pdf.heading(TITLES.get(str(response.get("type")), "Response to your request"), size=16)
    pdf.line_of("Reference", response.get("request_id"))
    pdf.line_of("Received on", response.get("received_on"))
    requester, subject = response.get("requester") or {}, response.get("subject") or {}
    if requester:
        pdf.line_of("Requested by", f"{requester.get('first_name', '')} {requester.get('last_name', '')} "
                                    f"({requester.get('acting_as', '')})")
    if subject:
        pdf.line_of("About", f"{subject.get('first_name', '')} {subject.get('last_name', '')}")
    for note in response.get("authority") or []:
        pdf.line_of("Authority", note)
    if "data" in response:
        _data(pdf, response["data"])
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
    for service in data:
        for category in service["categories"]:
            pdf.heading(f"{service['service']}: {category['category'].replace('_', ' ')}", size=11)
            for record in category["records"]:
                pdf.line_of("", f"{record['record_type']} {record['record_id']}, recorded {record['recorded_at']}, "
                                f"source: {record.get('source') or 'not recorded'}")
                if "withheld" in record:
                    pdf.line_of("", record["withheld"], 1)
                else:
                    pdf.tree(record.get("data") or {}, 1)
                pdf.ln(1)
