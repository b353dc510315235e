"""The access pack as a letter a parent can read (issue 15 item 3; UK GDPR Art 12(1)): the PDF's own text, as
pypdf extracts it, is addressed to the requester, says in words what each part of the council holds, who it
was shared with and who looked, why parts were removed, and how to complain to the ICO; it is tagged PDF/UA."""

import io
import re
import uuid
from datetime import UTC, date, datetime, timedelta

import pypdf
import pytest
from weasyprint.urls import FatalURLFetchingError

from cme_rights.adapters import letter, pdf
from cme_rights.domain.responses import Completeness, RequestFacts, access_pack, apply_exemption, erasure_response
from cme_shared.contracts.categories import DataCategory
from cme_shared.contracts.rights import DataItem, ThirdPartyMarker, ThirdPartyReason

pytestmark = pytest.mark.unit

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
    pack = access_pack(FACTS, items(), frozenset({MOTHER}), WHOLE)
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
    assert "about Amira Hassan (you asked a parent or carer)" in text
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
    response = erasure_response(facts, {"outcome": "refused", "reason": "public task"}, [], WHOLE)
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
