"""Closure needs a DOMAIN section 2 reason and the evidence that reason needs: one test per reason."""

import uuid
from datetime import date

import pytest

from cme_casework.domain.closure import ClosureContext, ClosureReason, check

pytestmark = pytest.mark.unit

CLOSED_ON = date(2026, 11, 30)
CASE = ClosureContext(uuid.uuid4(), date(2026, 11, 2), frozenset({"school", "health", "housing"}), CLOSED_ON)


def problems(reason: str, evidence: dict, case: ClosureContext = CASE, closed_on: date = CLOSED_ON) -> set:
    _, found = check(ClosureReason(reason), evidence, closed_on, case)
    return {(p.loc, p.code) for p in found}


@pytest.mark.parametrize("reason", [r.value for r in ClosureReason])
def test_each_reason_closes_with_its_evidence(reason, evidence):
    proof, found = check(ClosureReason(reason), evidence(reason), CLOSED_ON, CASE)
    assert found == [] and proof is not None


@pytest.mark.parametrize(
    ("reason", "missing"),
    [
        ("on_roll_elsewhere", "school_urn"),
        ("on_roll_elsewhere", "start_date"),
        ("elective_home_education_suitable", "assessed_on"),
        ("transferred_to_another_la", "accepted_on"),
        ("transferred_to_another_la", "la_code"),
        ("alternative_provision", "provider"),
        ("over_compulsory_school_age", "date_of_birth"),
        ("deceased", "date_of_death"),
        ("in_custody", "establishment"),
        ("untraced_enquiries_exhausted", "lost_pupil_reference"),
        ("untraced_enquiries_exhausted", "recheck_on"),
        ("left_england", "received_on"),
        ("deceased", "confirmed_by"),  # every reason says who confirmed it
    ],
)
def test_each_reason_names_the_evidence_it_lacks(reason, missing, evidence):
    incomplete = {k: v for k, v in evidence(reason).items() if k != missing}
    assert problems(reason, incomplete) == {(("evidence", missing), "missing")}


def test_on_roll_elsewhere_needs_a_real_urn(evidence):
    assert problems("on_roll_elsewhere", evidence("on_roll_elsewhere", school_urn="12345")) == {
        (("evidence", "school_urn"), "string_pattern_mismatch")}


def test_on_roll_elsewhere_needs_the_child_to_have_started(evidence):
    assert problems("on_roll_elsewhere", evidence("on_roll_elsewhere", start_date="2026-12-07")) == {
        (("evidence", "start_date"), "after_closure")}


@pytest.mark.parametrize(
    ("kind", "extra", "ok"),
    [
        ("home_office_border_force", {"reference": "HO-1"}, True),
        ("home_office_border_force", {}, False),  # the Home Office answer's reference is the evidence
        ("overseas_school_letter", {"overseas_school": "Lycée Molière"}, True),
        ("overseas_school_letter", {}, False),
        ("parent_written_confirmation", {"country": "Portugal"}, True),
    ],
)
def test_left_england_needs_home_office_an_overseas_school_or_the_parent_in_writing(kind, extra, ok):
    found = problems("left_england", {"kind": kind, "received_on": "2026-11-20", "confirmed_by": "officer", **extra})
    assert (found == set()) is ok


def test_left_england_on_an_officers_say_so_is_refused():
    assert (("evidence", "kind"), "literal_error") in problems(
        "left_england", {"kind": "neighbour_said_so", "received_on": "2026-11-20", "confirmed_by": "officer"})


@pytest.mark.parametrize(
    ("born", "ok"),
    [
        (date(2010, 8, 31), True),  # turned 16 on 31 Aug 2026: left on Fri 26 Jun 2026
        (date(2010, 9, 1), False),  # turns 16 on 1 Sep 2026: of compulsory school age until Fri 25 Jun 2027
        (date(2011, 3, 1), False),
    ],
)
def test_over_compulsory_school_age_is_checked_against_the_school_leaving_date(born, ok):
    found = problems("over_compulsory_school_age", {"date_of_birth": born.isoformat(), "confirmed_by": "passport"})
    assert (found == set()) is ok
    if not ok:
        assert found == {(("evidence", "date_of_birth"), "still_of_compulsory_school_age")}


def test_a_duplicate_names_the_other_case_or_explains_why_it_is_not_cme():
    assert problems("duplicate_or_not_cme", {"confirmed_by": "officer"}) == {(("evidence",), "value_error")}
    other = {"duplicate_of_case_id": str(uuid.uuid4()), "confirmed_by": "officer"}
    assert problems("duplicate_or_not_cme", other) == set()
    assert problems("duplicate_or_not_cme", {"duplicate_of_case_id": str(CASE.case_id), "confirmed_by": "officer"}) == {
        (("evidence", "duplicate_of_case_id"), "self_reference")}


def test_untraced_needs_enquiries_of_three_agencies_and_a_later_recheck(evidence):
    few = ClosureContext(CASE.case_id, CASE.period_opened_on, frozenset({"school", "health"}), CLOSED_ON)
    assert problems("untraced_enquiries_exhausted", evidence("untraced_enquiries_exhausted"), few) == {
        (("evidence",), "enquiries_not_exhausted")}
    same_day = evidence("untraced_enquiries_exhausted", recheck_on="2026-11-30")
    assert problems("untraced_enquiries_exhausted", same_day) == {
        (("evidence", "recheck_on"), "recheck_not_after_closure")}


def test_a_case_closes_neither_in_the_future_nor_before_it_opened(evidence):
    assert (("closed_on",), "in_future") in problems("deceased", evidence("deceased"), closed_on=date(2026, 12, 1))
    assert (("closed_on",), "before_opening") in problems(
        "deceased", evidence("deceased", date_of_death="2026-10-01"), closed_on=date(2026, 10, 30))


def test_unknown_evidence_fields_are_refused(evidence):
    assert (("evidence", "school_name"), "extra_forbidden") in problems(
        "on_roll_elsewhere", evidence("on_roll_elsewhere", school_name="somewhere"))
