"""The access pack as a letter a parent can read (issue 15 item 3; UK GDPR Art 12(1)): the PDF's own text, as
pypdf extracts it, is addressed to the requester, says in words what each part of the council holds, who it
was shared with and who looked, why parts were removed, and how to complain to the ICO; it is tagged PDF/UA."""

import io
import re
import uuid
from html.parser import HTMLParser
from datetime import UTC, date, datetime, timedelta

import pypdf
import pytest
from cme_shared.retention import DEFAULT_SCHEDULE, statement
from weasyprint.urls import FatalURLFetchingError

from cme_rights.adapters import letter, pdf
from cme_rights.domain.responses import Completeness, RequestFacts, access_pack, apply_exemption, erasure_response
from cme_shared.contracts.categories import DataCategory
from cme_shared.contracts.rights import DataItem, ThirdPartyMarker, ThirdPartyReason

pytestmark = pytest.mark.unit
RETENTION_TEXT = statement(DEFAULT_SCHEDULE)  # the pack's retention words come from the schedule in force

CHILD, MOTHER, FATHER = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
AT = datetime(2026, 6, 14, 9, 30, tzinfo=UTC)
FACTS = RequestFacts(request_id=uuid.uuid4(), request_type="access", received_on=date(2026, 11, 2), channel="email",
                     requester={"first_name": "Maryam", "last_name": "Hassan"},
                     subject={"first_name": "Amira", "last_name": "Hassan", "date_of_birth": "2015-05-01"},
                     acting_as="parent", authority=["a parent acting for their child (parental responsibility)"])
WHOLE = Completeness(services_asked=["intake", "casework", "disclosure"],
                     services_answered=["intake", "casework", "disclosure"], subject_ids=[str(CHILD)])


def items() -> list[DataItem]:
    referral = DataItem(
        service="intake", record_type="referral", record_id="ref-1", subject_id=CHILD, category=DataCategory.CONTACT,
        source="public", recorded_at=AT,
        data={"child": {"first_name": "Amira", "address": {"line1": "1 Example Street", "postcode": "W2 1AA"}},
              "referrer": "withheld (a member of the public)",
              "carers": [{"first_name": "Maryam", "relationship": "mother"}, {"first_name": "Omar"}]},
        third_party=[ThirdPartyMarker(path="referrer", reason=ThirdPartyReason.PUBLIC_REFERRER),
                     ThirdPartyMarker(path="carers.0", reason=ThirdPartyReason.OTHER_CARER, subject_id=MOTHER),
                     ThirdPartyMarker(path="carers.1", reason=ThirdPartyReason.OTHER_CARER, subject_id=FATHER)])
    opened = DataItem(
        service="casework", record_type="case_history", record_id="h-1", subject_id=CHILD,
        category=DataCategory.EDUCATION, source="school:St Mary's Primary", recorded_at=AT,
        data={"case_id": str(uuid.uuid4()), "kind": "case_opened", "actor": "system:intake",
              "reason": "notice from the school", "effective_on": "2026-06-14", "supersedes": None,
              "detail": {"notification_kind": "deletion", "incomplete_return": True,
                         "missing_return_fields": ["destination_school_urn", "last_attended_on"],
                         "last_attended_on": "2026-06-01", "warnings": []}})
    note = DataItem(service="casework", record_type="note", record_id="n-1", subject_id=CHILD,
                    category=DataCategory.STATUTORY_SERVICES, source="CME officer", recorded_at=AT + timedelta(days=2),
                    data={"text": "social worker's view of the home"})
    share = DataItem(service="disclosure", record_type="disclosure", record_id="d-7", subject_id=CHILD,
                     category=DataCategory.POLICE_PROBATION, source="council disclosure record",
                     recorded_at=AT + timedelta(days=5),
                     data={"purpose": "safeguarding", "legal_gateway": "Children Act 2004 s11",
                           "categories_released": ["contact", "police_probation"],
                           "fields_released": ["child.address"], "shared_at": (AT + timedelta(days=5)).isoformat(),
                           "log_leaves": [12]},
                     recipient={"type": "police", "org_id": "met", "org_name": "Metropolitan Police Service"})
    read = DataItem(service="casework", record_type="access", record_id="access:3", subject_id=CHILD,
                    category=DataCategory.EDUCATION, source="the council's casework service",
                    recorded_at=AT + timedelta(days=6),
                    data={"action": "case.read", "role": "officer", "returned": "case detail",
                          "purpose": "home visit planning"},
                    recipient={"type": "council_staff", "org_name": "council staff (officer), casework service"})
    return [referral, opened, note, share, read]


def the_pack() -> dict:
    pack = access_pack(FACTS, items(), frozenset({MOTHER}), WHOLE, RETENTION_TEXT)
    pack = apply_exemption(pack, "casework", "n-1", "social_work_serious_harm", "advice of the social worker",
                           "dpo-1")
    return {**pack, "release": {"approved_by": "dpo-1", "approved_at": "2026-11-20T10:00:00+00:00"}}


def text_of(content: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(content))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))


@pytest.fixture(scope="module")
def printed() -> bytes:
    return pdf.render(the_pack(), None)


def test_the_pdf_reads_as_a_letter_to_the_requester(printed):
    text = text_of(printed)
    assert "To: Maryam Hassan" in text and "Dear Maryam Hassan," in text
    assert "Date: 20 November 2026" in text and "received on 2 November 2026" in text
    assert "about Amira Hassan (you asked as a parent or carer)" in text
    assert "Yours sincerely" in text and "The Data Protection Officer" in text


def test_the_schedule_says_in_words_what_each_part_of_the_council_holds(printed):
    text = text_of(printed)
    assert "Referrals we received" in text and "Names, addresses and contact details" in text
    assert "The children missing education case records" in text and "Schools and education" in text
    assert "Entry in the case history" in text and "Case opened" in text
    assert "The school's notice was missing some details Yes" in text
    assert "Details missing from the school's notice New school (school reference number); Last day at school" in text
    assert "Last day at school 1 June 2026" in text and "14 June 2026" in text  # dates in full
    assert "Where it came from: a school (St Mary's Primary)" in text
    # No internal field name, record type, category key or code reaches the reader.
    for raw in ("incomplete_return", "missing_return_fields", "police_probation", "statutory_services", "case_opened",
                "case_history", "system:intake", "notification_kind", "2026-06-14", "categories_we_may_hold"):
        assert raw not in text, raw
    assert not re.findall(r"\b[a-z]+_[a-z_]+\b", text)  # nothing snake_case at all


def test_the_letter_names_who_it_was_shared_with_and_which_staff_looked(printed):
    text = text_of(printed)
    assert "Metropolitan Police Service (the police) 19 June 2026 Involvement with the police or probation" in text
    assert "Council staff looked at these records 1 time(s): CME officer: 1 time(s)" in text
    assert "looked at the case: case detail" in text and "home visit planning" in text
    assert "Sharing with other organisations" in text and "The law that allows it Children Act 2004 s11" in text


def test_redactions_and_withheld_records_say_why_in_plain_words(printed):
    text = text_of(printed)
    assert "[redacted]" in text and "Omar" not in text  # the other parent
    assert "Maryam" in text.split("The records in full")[1]  # the requester's own details stay
    assert "A member of the public who tells us about a child can do so in confidence" in text
    assert "This is about another parent or carer, so it is not yours to see." in text
    assert "social worker's view" not in text  # the exempt note is not printed ...
    assert "likely to cause serious harm to someone's physical or mental health" in text  # ... and the reason is
    assert "DPA 2018 Sch 3 Part 3" in text


def test_the_art15_information_and_the_way_to_complain_to_the_ico_are_prose(printed):
    text = text_of(printed)
    assert "section 436A of the Education Act 1996" in text
    assert "How long we keep it" in text and "7 years after the case is closed" in text
    assert "Where the information came from" in text and "the NHS" in text
    assert "Ask us to correct factual information" in text
    assert "complain to the Information Commissioner's Office (ICO)" in text
    assert "https://ico.org.uk/make-a-complaint/" in text and "0303 123 1113" in text


def test_the_pdf_is_tagged_for_accessibility(printed):
    reader = pypdf.PdfReader(io.BytesIO(printed))
    root = reader.trailer["/Root"]
    assert root["/Lang"] == "en-GB" and "/StructTreeRoot" in root and root["/MarkInfo"]["/Marked"]
    assert reader.metadata.title == "Your request for a copy of your information"
    assert b"pdfuaid" in root["/Metadata"].get_object().get_data()  # declares PDF/UA-1
    tags = set(re.findall(rb"/S /(H[1-6]|Table|TH|L|LI)\b", printed)) if b"/S /" in printed else None
    assert tags is None or {b"H1", b"H2"} <= tags


def test_the_web_preview_is_the_same_letter_and_a_draft_says_so():
    html = letter.render_html(the_pack(), draft=True)
    assert html.startswith("<!DOCTYPE html>") and '<html lang="en-GB">' in html
    assert "This response has not been sent" in html and "Dear Maryam Hassan," in html
    assert "<script" not in html and "incomplete_return" not in html


def test_a_value_that_looks_like_markup_is_text_and_the_printer_loads_nothing():
    pack = the_pack()
    pack["requester"] = {"first_name": '<img src="http://198.51.100.7/x.png">', "last_name": "O'Neil & Co",
                         "acting_as": "self"}
    html = letter.render_html(pack)
    assert "<img" not in html and "&lt;img" in html and "O&#39;Neil &amp; Co" in html
    assert 'Dear <img src="http://198.51.100.7/x.png"> O\'Neil & Co,' in text_of(pdf.render(pack, None))  # as text
    fetcher = pdf._only_font_class()(None)
    with pytest.raises(FatalURLFetchingError):
        fetcher.fetch("file:///etc/hostname")


def test_another_response_prints_as_a_letter_too():
    facts = RequestFacts(**{**FACTS.__dict__, "request_type": "erasure"})
    response = erasure_response(facts, {"outcome": "refused", "reason": "public task"}, [], WHOLE, RETENTION_TEXT)
    text = text_of(pdf.render(response, None))
    assert "Your request to erase your information" in text and "Dear Maryam Hassan," in text
    assert "Our decision" in text and "Art 17(3)(b)" in text and "0303 123 1113" in text
    assert "complaint_to_ico" not in text and "judicial_remedy" not in text


def test_words_and_dates():
    assert letter.full_date("2026-06-14") == "14 June 2026"
    assert letter.full_date("2026-06-14T08:30:00+00:00") == "14 June 2026, 09:30"  # London time
    assert letter.say(True) == "Yes" and letter.say("unknown_destination") == "Unknown destination"
    assert letter.words("some_new_field") == "Some new field"  # a key nobody mapped is still words
    assert letter.breakable("a" * 130) == "a" * 60 + " " + "a" * 60 + " " + "a" * 10


# What the services really write (casework's history entries, intake's identity decisions): staff by user id,
# records by uuid, fields left empty. None of it may reach the parent's letter.
OFFICER, MANAGER, DPO = "officer-w1", "manager-w1", "dpo-7"
CASE, ENQUIRY, ENTRY, REQUEST = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def internal_items() -> list[DataItem]:
    def entry(record_id: str, kind: str, actor: str, detail: dict, source: str = "casework officer",
              record_type: str = "case_history", supersedes: str | None = None) -> DataItem:
        return DataItem(service="casework", record_type=record_type, record_id=record_id, subject_id=CHILD,
                        category=DataCategory.EDUCATION, source=source, recorded_at=AT,
                        data={"case_id": str(CASE), "kind": kind, "actor": actor, "reason": "see the detail",
                              "effective_on": "2026-06-15", "supersedes": supersedes, "detail": detail})
    return [
        DataItem(service="casework", record_type="case", record_id=str(CASE), subject_id=CHILD,
                 category=DataCategory.EDUCATION, source="casework", recorded_at=AT,
                 data={"case_id": str(CASE), "status": "open", "risk": "standard", "borough": "westminster",
                       "closed_on": None, "closure_reason": None, "next_due_date": "2026-07-01", "upn": None}),
        entry("e-1", "enquiry_made", f"officer:{OFFICER}",
              {"enquiry_id": str(ENQUIRY), "whom": "school", "organisation": None, "asked_on": "2026-06-15",
               "purpose": f"where is the child (see enquiry {ENQUIRY})", "answered_on": None, "outcome": None,
               "facts": []}),
        entry("e-2", "case_allocated", f"manager:{MANAGER}",
              {"allocated_to": OFFICER, "previous": None, "allocated_by": MANAGER, "as_role": "manager"}),
        entry("e-3", "share_made", f"manager:{MANAGER}",
              {"share_id": str(uuid.uuid4()), "proposal_entry_id": str(uuid.uuid4()),
               "proposed_by": f"officer:{OFFICER}", "proposer_sub": OFFICER, "decider_sub": MANAGER,
               "decision_reason": "the new council needs it", "purpose": "statutory_transfer"}),
        entry("e-4", "note_corrected", f"officer:{OFFICER}", {"note_id": str(uuid.uuid4()), "text": "home visit"},
              record_type="note", supersedes=str(ENTRY)),
        entry("e-5", "fact_rectified", "system:rights",
              {"field": "date_of_birth", "new_value": "2015-05-02", "previous_value": "2015-05-01",
               "rights_request_id": str(REQUEST), "decided_by": DPO}, source=f"rights request {REQUEST}"),
        entry("e-6", "case_reviewed", f"officer:{OFFICER}", {"summary": None, "next_steps": ""}),
        entry("e-7", "restriction_lifted", "system:casework", {"rights_request_id": str(REQUEST)}),
        DataItem(service="intake", record_type="identity_decision", record_id=str(uuid.uuid4()), subject_id=CHILD,
                 category=DataCategory.DEMOGRAPHICS, source=f"CME officer {OFFICER}", recorded_at=AT,
                 data={"decision": "distinct", "reason": "different dates of birth", "matched_on": ["last_name"],
                       "records_joined": 0}),
        DataItem(service="casework", record_type="access", record_id="access:9", subject_id=CHILD,
                 category=DataCategory.EDUCATION, source="the council's casework service", recorded_at=AT,
                 data={"action": "case.read", "role": "manager", "returned": f"case detail {CASE}",
                       "purpose": f"checked by manager:{MANAGER}"},
                 recipient={"type": "council_staff", "org_name": "council staff (manager), casework service"}),
    ]


def internal_letter() -> str:
    pack = access_pack(FACTS, internal_items(), frozenset(), WHOLE, RETENTION_TEXT)
    return letter.render_html({**pack, "release": {"approved_by": DPO, "approved_at": "2026-11-20T10:00:00+00:00"}})


class Reader(HTMLParser):
    """The letter as a parent sees it: its words (styles left out), and for each heading and each list term
    (a `dt`) the words under it, up to the next heading of the same or a higher level (for a term: its `dd`)."""

    def __init__(self) -> None:
        super().__init__()
        self.words: list[str] = []
        self.sections: list[list] = []  # [tag, its own words, the words under it, open?]
        self._in: list[str] = []

    def handle_starttag(self, tag, attrs):
        self._in.append(tag)
        if re.fullmatch(r"h[1-6]", tag):
            for section in self.sections:
                if section[0].startswith("h") and section[0] >= tag:
                    section[3] = False  # a heading of the same or a higher level ends the one before
        if re.fullmatch(r"h[1-6]|dt", tag):
            self.sections.append([tag, "", "", True])

    def handle_endtag(self, tag):
        while self._in and self._in.pop() != tag:
            pass
        if tag == "dd":
            for section in reversed(self.sections):
                if section[0] == "dt" and section[3]:
                    section[3] = False  # the term's dd is over (the innermost open term)
                    break

    def handle_data(self, data):
        if "style" in self._in or "title" in self._in:
            return
        self.words.append(data)
        heading = next((t for t in reversed(self._in) if re.fullmatch(r"h[1-6]|dt", t)), None)
        for section in self.sections:
            if not section[3]:
                continue
            if heading == section[0] and section is self._own(heading):
                section[1] += data
            else:
                section[2] += data

    def _own(self, tag):
        return next(s for s in reversed(self.sections) if s[0] == tag)

    def text(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.words))

    def empty(self) -> list[str]:
        return [f"{tag} {own.strip()}" for tag, own, under, _ in self.sections if not under.strip()]


def read(html: str) -> Reader:
    reader = Reader()
    reader.feed(html)
    return reader


UUID_LIKE = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.I)


def test_the_letter_prints_no_identifier(printed):
    for text in (read(internal_letter()).text(), read(letter.render_html(the_pack())).text(), text_of(printed)):
        assert not UUID_LIKE.search(text), UUID_LIKE.search(text).group(0)
        assert "reference" not in text.lower().replace("school reference number", "")
    text = read(internal_letter()).text()
    assert "Enquiry" not in text.replace("Enquiry made", "")  # no "Enquiry id", "Enquiry reference" ...
    assert "where is the child (see enquiry)" in text  # the officer's words stay, without the uuid
    assert "Where it came from: a data protection request" in text


def test_the_letter_names_staff_by_their_role_never_by_user_id(printed):
    text = read(internal_letter()).text()
    for leak in (OFFICER, MANAGER, DPO):
        assert leak not in text, leak
    assert not re.search(r"\b(officer|manager|system|dpo):\S", text)
    assert "Recorded by a CME officer" in text and "Recorded by a CME manager" in text
    assert "Recorded by the council's data protection system" in text and "Recorded by the council's case system" in text
    assert "Given to a CME officer" in text and "Given by a CME manager" in text
    assert "Proposed by a CME officer" in text and "Decided by a member of council staff" in text
    assert "Where it came from: a CME officer" in text  # intake's "CME officer <user id>"
    assert "checked by a CME manager" in text
    assert not re.search(r"\b(officer|manager|system|dpo):\S", text_of(printed))


def test_the_letter_has_no_empty_block():
    html = internal_letter()
    reader = read(html)
    assert reader.empty() == []  # no heading, and no "Details" term, with nothing under it
    assert any(own.strip() == "Details" for tag, own, _, _ in reader.sections if tag == "dt")  # (some have details)
    assert read(letter.render_html(the_pack())).empty() == []
    assert not re.search(r"<dl>\s*</dl>|<dd>\s*</dd>", html)
    records = reader.text().split("The records in full")[1].split("What we have removed")[0]
    for nothing in ("not recorded", "none", "Replaces an earlier entry", "Case closed on", "Summary",
                    "Unique pupil number", "Organisation", "Answered on", "Outcome"):
        assert nothing not in records, nothing
    assert "Reason see the detail" in records  # the entry of a review without a summary still shows
    assert "Who was asked a school" in records and "Asked on 15 June 2026" in records


def test_the_reader_finds_an_empty_heading_and_an_empty_details_block():
    assert read("<h2>Who we have shared it with</h2><h2>Next</h2><p>x</p>").empty() == [
        "h2 Who we have shared it with"]
    assert read("<dl><dt>Details</dt><dd><dl>\n</dl></dd><dt>Reason</dt><dd>x</dd></dl>").empty() == ["dt Details"]
    assert read("<h3>A</h3><h4>B</h4><p>x</p>").empty() == []
