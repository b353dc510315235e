"""The law the pack states (pure): subject access exemptions item by item, Arts 22A-22D and the register of
automated processing, checked against the statutory review of Dec 2026 (section 3, items 8, 9 and 11)."""

import json
import typing
import uuid
from datetime import UTC, date, datetime

import pytest
from cme_shared.retention import DEFAULT_SCHEDULE, statement

from cme_rights.domain import art15, clock, exemptions
from cme_rights.domain.exemptions import ExemptionClaim, ExemptionRefused
from cme_rights.domain.requests import ActingAs
from cme_rights.domain.responses import (
    EXEMPTIONS,
    Completeness,
    RequestFacts,
    access_pack,
    apply_exemption,
    automated_decision_response,
)
from cme_rights.service_layer.commands import Exemption
from cme_shared.contracts.categories import DataCategory
from cme_shared.contracts.rights import DataItem

pytestmark = pytest.mark.unit
RETENTION_TEXT = statement(DEFAULT_SCHEDULE)  # the pack's retention words come from the schedule in force

CHILD = uuid.uuid4()
TODAY = date(2026, 12, 2)
FACTS = RequestFacts(request_id=uuid.uuid4(), request_type="access", received_on=date(2026, 11, 20), channel="email",
                     requester={"first_name": "Mum", "last_name": "Hassan"},
                     subject={"first_name": "Amira", "last_name": "Hassan", "date_of_birth": "2015-05-01"},
                     acting_as="parent", authority=["a parent acting for their child (parental responsibility)"])
WHOLE = Completeness(services_asked=["casework"], services_answered=["casework"], subject_ids=[str(CHILD)])


def note(record_id: str, category: DataCategory = DataCategory.STATUTORY_SERVICES) -> DataItem:
    return DataItem(service="casework", record_type="note", record_id=record_id, subject_id=CHILD, category=category,
                    source="CME officer", recorded_at=datetime(2026, 10, 1, 9, 0, tzinfo=UTC),
                    data={"text": "a record the DPO reviews"})


def claim(exemption: str, **overrides) -> ExemptionClaim:
    values = {"exemption": exemption, "acting_as": ActingAs.PARENT, "subject_date_of_birth": date(2015, 5, 1),
              "today": TODAY} | overrides
    return ExemptionClaim(**values)


# --- item 9: the missing subject access exemptions, usable item by item ------------------------------


def test_every_exemption_code_the_dpo_may_send_has_its_wording_in_the_pack():
    sent = typing.get_args(Exemption.model_fields["exemption"].annotation)
    assert set(sent) == set(EXEMPTIONS)
    assert {"child_abuse_data", "health_serious_harm", "special_educational_needs_records"} <= set(EXEMPTIONS)


@pytest.mark.parametrize(("code", "basis"), [
    ("child_abuse_data", "DPA 2018 Sch 3 Part 5 para 21"),  # child abuse data, parental request
    ("health_serious_harm", "DPA 2018 Sch 3 Part 2"),  # health data: serious harm, health professional
    ("special_educational_needs_records", "DPA 2018 Sch 4 para 4"),  # SEN statements and records
])
def test_the_new_exemptions_withhold_one_record_and_say_why_in_the_pack(code, basis):
    pack = access_pack(FACTS, [note("n-1"), note("n-2", DataCategory.EDUCATION)], frozenset(), WHOLE, RETENTION_TEXT)
    exempted = apply_exemption(pack, "casework", "n-1", code, "the DPO's reasons", "dpo-1")
    records = [r for block in exempted["data"] for c in block["categories"] for r in c["records"]]
    withheld = next(r for r in records if r["record_id"] == "n-1")
    assert "data" not in withheld and withheld["withheld"] == f"withheld under {EXEMPTIONS[code]}"
    assert withheld["withheld"].startswith(f"withheld under {basis} (")
    assert exempted["exemptions"] == [{"service": "casework", "record_id": "n-1", "exemption": code,
                                       "basis": EXEMPTIONS[code], "reason": "the DPO's reasons",
                                       "decided_by": "dpo-1"}]
    assert "data" in next(r for r in records if r["record_id"] == "n-2")  # item by item: the other stays


@pytest.mark.parametrize("acting_as", [ActingAs.PARENT, ActingAs.GUARDIAN])
def test_child_abuse_data_may_be_withheld_from_a_person_with_parental_responsibility(acting_as):
    exemptions.check(claim("child_abuse_data", acting_as=acting_as))
    exemptions.check(claim("child_abuse_data", acting_as=acting_as, subject_date_of_birth=None))


@pytest.mark.parametrize("acting_as", [ActingAs.SELF, ActingAs.REPRESENTATIVE])
def test_child_abuse_data_is_not_an_exemption_against_anyone_else(acting_as):
    # Sch 3 Part 5 para 21: only a request by a person with parental responsibility.
    with pytest.raises(ExemptionRefused) as refused:
        exemptions.check(claim("child_abuse_data", acting_as=acting_as))
    assert refused.value.code == "exemption_needs_parental_request" and refused.value.status == 409


def test_child_abuse_data_is_not_an_exemption_once_the_subject_is_18():
    # para 21: a data subject "aged under 18"; 18 on 2 Dec 2026 exactly
    exemptions.check(claim("child_abuse_data", subject_date_of_birth=date(2008, 12, 3)))
    with pytest.raises(ExemptionRefused) as refused:
        exemptions.check(claim("child_abuse_data", subject_date_of_birth=date(2008, 12, 2)))
    assert refused.value.code == "exemption_subject_adult"


def test_health_data_is_withheld_only_on_a_health_professionals_recent_opinion():
    # Sch 3 Part 2: a controller that is not a health professional relies on the serious harm test only
    # with the appropriate health professional's opinion, obtained within the last six months.
    exemptions.check(claim("health_serious_harm", health_professional="the child's paediatrician",
                           health_professional_opinion_on=date(2026, 6, 2)))
    cases = [
        ({}, "health_opinion_required", 422),
        ({"health_professional_opinion_on": date(2026, 11, 30)}, "health_opinion_required", 422),
        ({"health_professional": "  ", "health_professional_opinion_on": date(2026, 11, 30)},
         "health_opinion_required", 422),
        ({"health_professional": "GP", "health_professional_opinion_on": date(2026, 12, 3)},
         "health_opinion_in_future", 422),
        ({"health_professional": "GP", "health_professional_opinion_on": date(2026, 6, 1)},
         "health_opinion_too_old", 409),
    ]
    for overrides, code, status in cases:
        with pytest.raises(ExemptionRefused) as refused:
            exemptions.check(claim("health_serious_harm", **overrides))
        assert (refused.value.code, refused.value.status) == (code, status), overrides
        assert refused.value.field in (None, "health_professional_opinion_on")


@pytest.mark.parametrize("code", ["special_educational_needs_records", "crime_and_taxation",
                                  "social_work_serious_harm", "education_serious_harm", "legal_professional_privilege"])
def test_the_other_exemptions_rest_on_the_dpos_judgement_and_reason_alone(code):
    exemptions.check(claim(code, acting_as=ActingAs.SELF, subject_date_of_birth=date(1990, 1, 1)))


def test_the_health_opinions_six_months_cross_month_ends_and_years():
    assert clock.add_months(date(2026, 3, 31), -6) == date(2025, 9, 30)
    assert clock.add_months(date(2026, 8, 31), -6) == date(2026, 2, 28)


# --- item 8: Arts 22A-22D (DUAA 2025 s80, from 5 Feb 2026), Art 12A for the extension ----------------


def _texts() -> str:
    pack = access_pack(FACTS, [note("n-1")], frozenset(), WHOLE, RETENTION_TEXT)
    return json.dumps({"pack": pack, "answer": automated_decision_response(FACTS)})


def test_the_pack_and_the_register_cite_arts_22a_to_22d_never_the_replaced_art_22():
    text = _texts()
    assert "Arts 22A-22D" in text
    for stale in ("Art 22)", "Art 22 ", "Art 22:", "Art 22;", "(Art 22"):
        assert stale not in text, stale
    rights = {r["right"]: r["text"] for r in art15.RIGHTS}
    assert "Arts 22A-22D" in rights["automated_decision"]
    assert "Arts 22A-22D" in art15.AUTOMATED_DECISION_STATEMENT


def test_the_extension_is_cited_to_art_12a_not_art_12_3():
    from cme_rights.domain.clock import AccessRequestClock, ClockEvent, ClockEventKind, ClockRefused

    for event in (ClockEvent(ClockEventKind.EXTENDED, date(2026, 3, 10), None),
                  ClockEvent(ClockEventKind.EXTENDED, date(2026, 5, 10), "complex")):
        with pytest.raises(ClockRefused) as refused:
            AccessRequestClock(date(2026, 3, 2)).record(event)
        assert "Art 12A" in refused.value.message and "12(3)" not in refused.value.message


# --- item 11: the automatic rules in the register ------------------------------------------------------


def test_the_register_lists_the_record_without_a_case_rule_with_what_runs_and_why():
    register = {e["name"]: e for e in art15.AUTOMATED_PROCESSING_REGISTER}
    entry = register["a referral recorded without a case (casework)"]
    assert entry["solely_automated"] is True and entry["profiling"] is False
    for words in ("compulsory school age", "ss8 and 436A", "grounds (f) and (e)", "elective home education"):
        assert words in entry["what"], words
    assert "436A" in entry["why"] and entry["effect"] and entry["safeguards"] == art15.AUTOMATED_DECISION_SAFEGUARDS


def test_the_register_lists_the_ground_a_deletion_closed_off_with_no_human_look():
    register = {e["name"]: e for e in art15.AUTOMATED_PROCESSING_REGISTER}
    entry = register["a ground (a) deletion with a known destination closed off with no human look (casework)"]
    assert entry["solely_automated"] is True
    assert "reg 9(1)(a)" in entry["what"] and "no officer looks at it" in entry["what"]
    assert "an officer confirms" in entry["what"]  # an open case is only proposed for closure
    assert "s436A" in entry["why"]


def test_the_register_lists_the_unanswered_s437_notice_rule_naming_the_section():
    """Education Act 1996 s437(3)(a): the period lapses unanswered; the rule opens a case, an officer acts."""
    register = {e["name"]: e for e in art15.AUTOMATED_PROCESSING_REGISTER}
    entry = register["a school attendance notice left unanswered opens a case (casework)"]
    assert entry["solely_automated"] is True and "s437(1)" in entry["what"] and "s437(3)(a)" in entry["why"]
    assert "officer" in entry["effect"] and entry["safeguards"] == art15.AUTOMATED_DECISION_SAFEGUARDS
    assert register["retention disposal (every service)"]["solely_automated"] is False


def test_every_register_entry_says_what_runs_why_and_its_effect_and_the_automatic_ones_their_safeguards():
    for entry in art15.AUTOMATED_PROCESSING_REGISTER:
        assert {"name", "what", "why", "effect", "solely_automated", "profiling"} <= set(entry), entry["name"]
        if entry["solely_automated"]:
            # Art 22C: information, representations, human intervention, contesting the decision
            for words in ("make representations", "look at it again", "contest it"):
                assert words in entry["safeguards"], words
    # the statement no longer says that nothing runs without an officer
    assert "Three fixed rules do run without an officer" in art15.AUTOMATED_DECISION_STATEMENT
    assert art15.AUTOMATED_DECISION_SAFEGUARDS in art15.AUTOMATED_DECISION_STATEMENT
