"""The access pack, redaction of third parties, chunk completeness and the request's rules (pure)."""

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from cme_shared.retention import DEFAULT_SCHEDULE, statement

from cme_rights.adapters import pdf
from cme_rights.domain import requests as rules
from cme_rights.domain.collection import NextStep, RetryPolicy, answer_complete, chosen_subject_ids
from cme_rights.domain.redaction import REDACTED, redact
from cme_rights.domain.requests import ActingAs, InvalidMove, RequestType, Status
from cme_rights.domain.responses import (
    Completeness,
    RecordNotInPack,
    RequestFacts,
    access_pack,
    apply_exemption,
    transfer_record,
)
from cme_shared.contracts.categories import DataCategory
from cme_shared.contracts.rights import DataItem, SubjectMatch, ThirdPartyMarker, ThirdPartyReason

pytestmark = pytest.mark.unit
RETENTION_TEXT = statement(DEFAULT_SCHEDULE)  # the pack's retention words come from the schedule in force

CHILD = uuid.uuid4()
MOTHER = uuid.uuid4()
FATHER = uuid.uuid4()
AT = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def referral(**extra) -> DataItem:
    return DataItem(
        service="intake", record_type="referral", record_id="r-1", subject_id=CHILD, category=DataCategory.CONTACT,
        source="member of the public", recorded_at=AT,
        data={"child": {"first_name": "Amira"}, "referrer": {"name": "Pat Neighbour", "phone": "07700 900123"},
              "carers": [{"first_name": "Mum", "subject_id": str(MOTHER)},
                         {"first_name": "Dad", "subject_id": str(FATHER)}],
              "siblings": ["Noor"], "officer": "J Smith, CME officer"},
        third_party=[
            ThirdPartyMarker(path="referrer", reason=ThirdPartyReason.PUBLIC_REFERRER),
            ThirdPartyMarker(path="carers.0", reason=ThirdPartyReason.OTHER_CARER, subject_id=MOTHER),
            ThirdPartyMarker(path="carers.1", reason=ThirdPartyReason.OTHER_CARER, subject_id=FATHER),
            ThirdPartyMarker(path="siblings.0", reason=ThirdPartyReason.OTHER_CHILD),
        ],
        **extra,
    )


def share() -> DataItem:
    return DataItem(service="disclosure", record_type="disclosure", record_id="d-7", subject_id=CHILD,
                    category=DataCategory.POLICE_PROBATION, source="CME officer", recorded_at=AT + timedelta(days=3),
                    data={"purpose": "crime", "fields_released": ["child.address"]},
                    recipient={"type": "police", "org_name": "Metropolitan Police", "requester_role": "DC"})


FACTS = RequestFacts(request_id=uuid.uuid4(), request_type="access", received_on=date(2026, 3, 2), channel="email",
                     requester={"first_name": "Mum", "last_name": "Hassan", "email": "m@example.org"},
                     subject={"first_name": "Amira", "last_name": "Hassan", "date_of_birth": "2015-05-01"},
                     acting_as="parent", authority=["a parent acting for their child (parental responsibility)"])
WHOLE = Completeness(services_asked=["intake", "casework", "disclosure"],
                     services_answered=["intake", "casework", "disclosure"], subject_ids=[str(CHILD)])


# --- redaction -----------------------------------------------------------------------------------------


def test_a_public_referrer_another_child_and_the_other_carer_are_redacted_but_the_requester_is_not():
    result = redact(referral(), frozenset({MOTHER}))
    assert result.data["referrer"] == REDACTED
    assert result.data["siblings"] == [REDACTED]
    assert result.data["carers"][1] == REDACTED  # the father is not the requester
    assert result.data["carers"][0]["first_name"] == "Mum"  # the requester's own data
    assert result.data["officer"] == "J Smith, CME officer"  # professionals in role stay
    assert {(r.path, r.reason_code) for r in result.redactions} == {
        ("referrer", "third_party_public_referrer"), ("carers.1", "third_party_other_carer"),
        ("siblings.0", "third_party_other_child")}
    assert all("Sch 2 Part 3 para 16" in r.basis for r in result.redactions)


def test_redaction_never_changes_the_collected_item():
    item = referral()
    redact(item, frozenset())
    assert item.data["referrer"]["name"] == "Pat Neighbour"


def test_a_mark_whose_path_cannot_be_found_withholds_the_whole_record():
    item = referral()
    item.third_party.append(ThirdPartyMarker(path="witness.name", reason=ThirdPartyReason.OTHER_PERSON))
    result = redact(item, frozenset({MOTHER}))
    assert result.data is None
    assert [r.reason_code for r in result.redactions] == ["third_party_path_unresolved"]


def test_nested_paths_reach_inside_lists_and_dicts():
    item = DataItem(service="casework", record_type="note", record_id="n-1", subject_id=CHILD,
                    category=DataCategory.STATUTORY_SERVICES, source="officer", recorded_at=AT,
                    data={"visits": [{"with": "neighbour Pat", "outcome": "no answer"}]},
                    third_party=[ThirdPartyMarker(path="visits.0.with", reason=ThirdPartyReason.OTHER_PERSON)])
    result = redact(item, frozenset())
    assert result.data == {"visits": [{"with": REDACTED, "outcome": "no answer"}]}


# --- the access pack -----------------------------------------------------------------------------------


def test_the_pack_groups_data_by_service_and_category_with_sources_recipients_and_art_15_information():
    pack = access_pack(FACTS, [share(), referral()], frozenset({MOTHER}), WHOLE, RETENTION_TEXT)
    assert [s["service"] for s in pack["data"]] == ["disclosure", "intake"]
    intake = pack["data"][1]["categories"][0]
    assert intake["category"] == "contact" and intake["records"][0]["source"] == "member of the public"
    assert intake["records"][0]["data"]["referrer"] == REDACTED
    assert pack["recipients"] == [{"type": "police", "org_name": "Metropolitan Police", "requester_role": "DC",
                                   "shared_at": share().recorded_at.isoformat(), "category": "police_probation",
                                   "disclosure_record_id": "d-7"}]
    assert len(pack["redactions"]) == 3 and pack["summary"]["records"] == 2
    info = pack["supplementary_information"]
    assert "Art 6(1)(e)" in info["lawful_basis"]
    assert {c["category"] for c in info["categories"]} == {"contact", "police_probation"}
    assert {r["right"] for r in info["rights"]} >= {"rectification", "restriction", "objection", "complaint"}
    assert info["complaint"]["ico"]["website"].startswith("https://ico.org.uk")
    assert info["automated_decision_making"]["register"]
    # only casework's three fixed rules run without an officer (Arts 22A-22D; see test_law_unit.py)
    assert {e["name"] for e in info["automated_decision_making"]["register"] if e["solely_automated"]} == {
        "a referral recorded without a case (casework)",
        "a ground (a) deletion with a known destination closed off with no human look (casework)",
        "a school attendance notice left unanswered opens a case (casework)"}
    assert pack["completeness"]["complete"] is True


def test_the_pack_names_who_asked_for_whom_and_on_what_authority_but_not_their_contact_details():
    pack = access_pack(FACTS, [], frozenset(), WHOLE, RETENTION_TEXT)
    assert pack["requester"] == {"first_name": "Mum", "last_name": "Hassan", "acting_as": "parent"}
    assert pack["authority"] == FACTS.authority
    assert pack["data"] == [] and pack["recipients"] == []


def test_a_pack_missing_a_service_says_so():
    partial = Completeness(services_asked=["intake", "casework", "disclosure"],
                           services_answered=["intake", "disclosure"], services_missing=["casework"])
    pack = access_pack(FACTS, [referral()], frozenset(), partial, RETENTION_TEXT)
    assert pack["completeness"]["complete"] is False
    assert pack["completeness"]["services_missing"] == ["casework"]


def test_an_exemption_withholds_one_record_with_its_basis_and_leaves_the_pack_under_review_untouched():
    pack = access_pack(FACTS, [share(), referral()], frozenset(), WHOLE, RETENTION_TEXT)
    exempted = apply_exemption(pack, "disclosure", "d-7", "crime_and_taxation", "live investigation", "dpo-1")
    record = exempted["data"][0]["categories"][0]["records"][0]
    assert "data" not in record and "Sch 2 Part 1 para 2" in record["withheld"]
    assert exempted["exemptions"][0]["reason"] == "live investigation"
    assert exempted["summary"]["records_withheld"] == 1
    assert "data" in pack["data"][0]["categories"][0]["records"][0]  # a copy was changed
    with pytest.raises(RecordNotInPack):
        apply_exemption(pack, "intake", "d-7", "crime_and_taxation", "wrong service", "dpo-1")


def test_the_transfer_record_is_machine_readable_and_keeps_the_public_referrer_here():
    record = transfer_record(FACTS, [referral(), share()], {"org_name": "Camden", "org_id": "202"}, WHOLE, AT)
    assert record["format"] == "cme-statutory-transfer/1"
    first = record["records"][1]
    assert first["data"]["referrer"] == REDACTED
    assert first["data"]["carers"][1]["first_name"] == "Dad"  # the new council carries on the same duty
    assert [r["reason_code"] for r in record["redactions"]] == ["third_party_public_referrer"]


def test_the_printable_pack_is_a_pdf_with_or_without_a_unicode_font(tmp_path):
    pack = access_pack(FACTS, [share(), referral()], frozenset({MOTHER}), WHOLE, RETENTION_TEXT)
    pack["subject"]["first_name"] = "Zoë Łucja"
    for font in ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", None):
        document = pdf.render(pack, font)
        assert document.startswith(b"%PDF-") and len(document) > 2000


# --- gathering ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("chunks", "last", "total", "whole"), [
    ({0: 200, 1: 200, 2: 5}, 2, 405, True),
    ({1: 200, 2: 5}, 2, 205, True),  # numbered from 1
    ({0: 200, 2: 5}, 2, 405, False),  # chunk 1 still on its way
    ({0: 200, 1: 200}, None, None, False),  # no last chunk yet
    ({0: 0}, 0, 0, True),  # nothing held
    ({0: 200, 1: 200, 2: 5, 3: 7}, 2, 405, False),  # a stray chunk past the last: ask again
    ({0: 200, 1: 199, 2: 5}, 2, 405, False),  # items missing
])
def test_a_services_answer_is_whole_when_its_last_chunk_and_every_item_are_in(chunks, last, total, whole):
    assert answer_complete(chunks, last, total) is whole


def test_a_late_service_is_asked_again_then_given_up_on():
    policy = RetryPolicy(timeout=timedelta(seconds=30), max_attempts=3)
    asked = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert policy.next_step(1, asked, asked + timedelta(seconds=29)) is NextStep.WAIT
    assert policy.next_step(1, asked, asked + timedelta(seconds=30)) is NextStep.ASK_AGAIN
    assert policy.next_step(2, asked, asked + timedelta(seconds=31)) is NextStep.ASK_AGAIN
    assert policy.next_step(3, asked, asked + timedelta(seconds=31)) is NextStep.GIVE_UP


def test_only_certain_identity_matches_gather_data():
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    ids, possible = chosen_subject_ids([
        SubjectMatch(subject_id=a, subject_type="child", match="exact_identifier"),
        SubjectMatch(subject_id=b, subject_type="carer", match="name_dob_postcode"),
        SubjectMatch(subject_id=c, subject_type="child", match="possible"),
        SubjectMatch(subject_id=a, subject_type="child", match="name_dob_postcode"),
    ])
    assert ids == [a, b] and possible == 1


# --- the request's rules ---------------------------------------------------------------------------------


def test_an_unverified_access_request_waits_and_a_verified_one_is_collected():
    none: frozenset[str] = frozenset()
    assert rules.status_before_work(RequestType.ACCESS, awaiting=none, identity_verified=False) is Status.RECEIVED
    assert rules.status_before_work(RequestType.ACCESS, awaiting=none, identity_verified=True) is Status.COLLECTING
    assert rules.status_before_work(RequestType.ACCESS, awaiting=frozenset({"identity", "fee"}),
                                    identity_verified=False) is Status.AWAITING_IDENTITY
    assert rules.status_before_work(RequestType.ACCESS, awaiting=frozenset({"fee"}),
                                    identity_verified=True) is Status.AWAITING_FEE
    # the register of automated processing reveals nothing personal: answered at once
    assert rules.status_before_work(RequestType.AUTOMATED_DECISION, awaiting=frozenset(),
                                    identity_verified=False) is Status.READY_FOR_REVIEW


def test_identity_cannot_be_asked_for_once_the_work_has_started_and_complaints_have_no_month():
    with pytest.raises(InvalidMove, match="work_started"):
        rules.check_clock_event(RequestType.ACCESS, Status.COLLECTING, "identity_requested")
    rules.check_clock_event(RequestType.ACCESS, Status.COLLECTING, "extended")
    with pytest.raises(InvalidMove, match="complaint_clock"):
        rules.check_clock_event(RequestType.COMPLAINT, Status.RECEIVED, "extended")


def test_nothing_is_released_before_review_nor_an_incomplete_pack_without_the_dpos_word():
    with pytest.raises(InvalidMove, match="not_ready_for_review"):
        rules.check_approval(Status.COLLECTING, complete=True, accept_incomplete=False)
    with pytest.raises(InvalidMove, match="collection_incomplete"):
        rules.check_approval(Status.COLLECTION_INCOMPLETE, complete=False, accept_incomplete=False)
    rules.check_approval(Status.COLLECTION_INCOMPLETE, complete=False, accept_incomplete=True)
    rules.check_approval(Status.READY_FOR_REVIEW, complete=True, accept_incomplete=False)


def test_a_parents_request_for_a_child_of_12_or_more_notes_the_childs_competence():
    notes = rules.authority_notes(ActingAs.PARENT, date(2013, 3, 2), date(2026, 3, 2))
    assert len(notes) == 2 and "competent" in notes[1]
    assert len(rules.authority_notes(ActingAs.PARENT, date(2014, 3, 3), date(2026, 3, 2))) == 1
    assert rules.authority_notes(ActingAs.SELF, None, date(2026, 3, 2)) == ["the data subject, for themself"]
