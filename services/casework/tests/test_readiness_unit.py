"""What a closure still lacks agrees with what the closure refuses, and who may allocate a case to whom."""

import uuid
from datetime import date

import pytest

from cme_casework.domain.closure import EVIDENCE, ClosureContext, ClosureReason, check, lacks
from cme_casework.domain.errors import NotPermitted
from cme_casework.domain.permissions import check_allocation
from cme_shared.auth import Role

pytestmark = pytest.mark.unit

CLOSED_ON = date(2026, 11, 30)
CASE = ClosureContext(uuid.uuid4(), date(2026, 11, 2), frozenset({"school", "health", "housing"}), CLOSED_ON)


@pytest.mark.parametrize("reason", list(ClosureReason))
def test_with_all_its_evidence_on_file_a_reason_lacks_nothing_and_the_closure_is_accepted(reason, evidence):
    on_file = evidence(reason.value)
    assert lacks(reason, on_file, CLOSED_ON, CASE) == []
    assert check(reason, on_file, CLOSED_ON, CASE)[1] == []


@pytest.mark.parametrize(("reason", "name"), [(r, n) for r in ClosureReason
                                              for n, f in EVIDENCE[r].model_fields.items() if f.is_required()])
def test_each_required_piece_not_on_file_is_named_and_the_closure_refuses_it(reason, name, evidence):
    on_file = {k: v for k, v in evidence(reason.value).items() if k != name}
    assert (("evidence", name), "missing") in {(p.loc, p.code) for p in lacks(reason, on_file, CLOSED_ON, CASE)}
    refused = {(p.loc, p.code) for p in check(reason, on_file, CLOSED_ON, CASE)[1]}
    assert (("evidence", name), "missing") in refused


def test_rules_of_the_case_itself_are_named_before_any_evidence_is_given():
    few = ClosureContext(CASE.case_id, CASE.period_opened_on, frozenset({"school"}), CLOSED_ON,
                         date(2014, 3, 10))
    assert (("evidence",), "enquiries_not_exhausted") in {
        (p.loc, p.code) for p in lacks(ClosureReason.UNTRACED_ENQUIRIES_EXHAUSTED, {}, CLOSED_ON, few)}
    assert (("evidence", "date_of_birth"), "still_of_compulsory_school_age") in {
        (p.loc, p.code) for p in lacks(ClosureReason.OVER_COMPULSORY_SCHOOL_AGE, {}, CLOSED_ON, few)}
    # Conditional pieces: an overseas school letter names the school; a duplicate names one of two things.
    letter = lacks(ClosureReason.LEFT_ENGLAND, {"kind": "overseas_school_letter"}, CLOSED_ON, CASE)
    assert (("evidence", "overseas_school"), "missing") in {(p.loc, p.code) for p in letter}
    assert (("evidence",), "one_of_missing") in {
        (p.loc, p.code) for p in lacks(ClosureReason.DUPLICATE_OR_NOT_CME, {"confirmed_by": "x"}, CLOSED_ON, CASE)}


def test_a_manager_allocates_to_anyone_and_an_officer_takes_only_an_unallocated_case_for_themselves():
    check_allocation(Role.MANAGER, "mo", "ana", allocated_to="bea")
    check_allocation(Role.OFFICER, "ana", "ana", allocated_to=None)
    with pytest.raises(NotPermitted) as other:
        check_allocation(Role.OFFICER, "ana", "bea", allocated_to=None)
    assert other.value.code == "self_allocation_only"
    with pytest.raises(NotPermitted) as taken:
        check_allocation(Role.OFFICER, "ana", "ana", allocated_to="bea")
    assert taken.value.code == "allocated_to_another"
