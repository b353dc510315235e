"""Casework makes only routine CME-tracking shares itself; every other share is a disclosure request.

And a share is made only when a manager who did not propose it approves it (the two-person rule, SEC-17).
"""

import uuid
from dataclasses import replace
from datetime import date

import pytest

from cme_casework.domain import commands, lifecycle, referral_entries
from cme_casework.domain.errors import EvidenceRefused, NotPermitted, RecordNotFound, TransitionRefused
from cme_casework.domain.history import Kind
from cme_casework.domain.opening import decide
from cme_casework.domain.sharing import NEEDS_DISCLOSURE, check_share
from cme_shared.contracts.categories import DataCategory

pytestmark = pytest.mark.unit

ROUTINE = {"recipient_type": "school", "purpose": "cme_tracking", "legal_gateway": "Education Act 1996 s436A",
           "categories": [DataCategory.CONTACT, DataCategory.DEMOGRAPHICS, DataCategory.EDUCATION],
           "fields_released": ["child.first_name", "child.date_of_birth", "child.upn"]}


def codes(**changes) -> set[tuple[tuple, str]]:
    return {(p.loc, p.code) for p in check_share(**{**ROUTINE, **changes})}


@pytest.mark.parametrize(("recipient", "purpose"), [
    ("school", "cme_tracking"), ("other_local_authority", "cme_tracking"), ("internal", "cme_tracking"),
    ("other_local_authority", "statutory_transfer"),
])
def test_routine_tracking_shares_are_casework_s_own(recipient, purpose):
    assert codes(recipient_type=recipient, purpose=purpose) == set()


@pytest.mark.parametrize("recipient", ["police", "home_office", "dwp"])
def test_a_share_with_police_home_office_or_dwp_is_a_disclosure_request(recipient):
    assert codes(recipient_type=recipient) == {(("recipient", "type"), NEEDS_DISCLOSURE)}


@pytest.mark.parametrize("purpose", ["safeguarding", "prevent", "immigration", "crime", "fraud", "serious_harm"])
def test_a_share_for_any_other_purpose_is_a_disclosure_request(purpose):
    assert codes(purpose=purpose) == {(("purpose",), NEEDS_DISCLOSURE)}


@pytest.mark.parametrize("category", [DataCategory.STATUTORY_SERVICES, DataCategory.BENEFITS,
                                      DataCategory.COUNCIL_TAX, DataCategory.HOME_OFFICE,
                                      DataCategory.POLICE_PROBATION])
def test_only_contact_demographics_and_education_are_shared_by_casework(category):
    assert codes(categories=[DataCategory.CONTACT, category], fields_released=["child.first_name"]) == {
        (("categories", 1), NEEDS_DISCLOSURE)}


@pytest.mark.parametrize("gateway", [
    "DPA 2018 Sch 2 Part 1 para 4", "Schedule 2, paragraph 4", "sch. 2 para. 4 (immigration)", "SCH2 PARA4",
])
def test_a_gateway_citing_the_immigration_exemption_is_refused(gateway):
    assert codes(legal_gateway=gateway) == {(("legal_gateway",), NEEDS_DISCLOSURE)}


def test_the_fields_released_are_within_the_declared_and_allowed_categories():
    assert codes(fields_released=["safeguarding.details"]) == {(("fields_released", 0), NEEDS_DISCLOSURE)}
    assert codes(categories=[DataCategory.CONTACT], fields_released=["child.first_name", "child.upn"]) == {
        (("fields_released", 1), "field_outside_categories")}
    assert codes(fields_released=["child.favourite_colour"]) == {(("fields_released", 0), "unknown_field")}


def test_the_share_command_refuses_what_needs_a_disclosure_request(make_referral):
    referral = make_referral()
    state = lifecycle.fold(referral_entries.open_case(referral, decide(referral), uuid.uuid4(), date(2026, 11, 16)))
    with pytest.raises(EvidenceRefused) as refused:
        commands.propose_share(state, recipient={"type": "police", "org_name": "Met"}, purpose="crime",
                               legal_gateway="DPA 2018 Sch 2 Part 1 para 2", categories=[DataCategory.CONTACT],
                               fields_released=["child.address"], reason="crime ref", actor="officer:o",
                               proposer_sub="o", today=date(2026, 11, 20))
    assert {p.code for p in refused.value.problems} == {NEEDS_DISCLOSURE}
    assert all("POST /disclosures" in p.message for p in refused.value.problems)


TODAY = date(2026, 11, 20)


def _open(make_referral) -> lifecycle.CaseState:
    referral = make_referral()
    return lifecycle.fold(referral_entries.open_case(referral, decide(referral), uuid.uuid4(), date(2026, 11, 16)))


def _with(state: lifecycle.CaseState, entry, entry_id: int) -> lifecycle.CaseState:
    return lifecycle.transition(state, replace(entry, entry_id=entry_id))


def _proposed(make_referral, proposer: str = "ana") -> tuple[lifecycle.CaseState, str]:
    state = _open(make_referral)
    proposal = commands.propose_share(
        state, recipient={"type": "school", "org_name": "St Mary's"}, purpose="cme_tracking",
        legal_gateway="Education Act 1996 s436A", categories=[DataCategory.CONTACT], fields_released=["child.address"],
        reason="the school is asked to admit", actor=f"officer:{proposer}", proposer_sub=proposer, today=TODAY)
    return _with(state, proposal, 100), proposal.detail["share_id"]


def test_a_proposed_share_is_not_a_share_until_another_person_approves_it(make_referral):
    state, share_id = _proposed(make_referral)
    assert state.shares == [] and list(state.pending_shares) == [share_id]
    approval = commands.decide_share(state, share_id, approve=True, reason="routine tracking share",
                                     actor="manager:mo", decider_sub="mo", today=TODAY)
    assert approval.kind is Kind.SHARE_MADE
    assert (approval.detail["proposed_by"], approval.detail["decider_sub"]) == ("officer:ana", "mo")
    assert approval.reason == "the school is asked to admit"  # the share's reason, not the decision's
    state = _with(state, approval, 101)
    assert [s["share_id"] for s in state.shares] == [share_id] and state.pending_shares == {}


def test_the_proposer_cannot_decide_their_own_share_whatever_their_role(make_referral):
    state, share_id = _proposed(make_referral, proposer="ana")
    for approve in (True, False):
        with pytest.raises(NotPermitted) as refused:
            commands.decide_share(state, share_id, approve=approve, reason="mine", actor="manager:ana",
                                  decider_sub="ana", today=TODAY)
        assert refused.value.code == "two_person_rule"
    # The state machine refuses it too, whoever wrote the entry.
    forged = commands.decide_share(state, share_id, approve=True, reason="r", actor="manager:mo", decider_sub="mo",
                                   today=TODAY)
    with pytest.raises(NotPermitted):
        lifecycle.transition(state, replace(forged, detail={**forged.detail, "decider_sub": "ana"}))


def test_a_share_is_decided_once_and_only_on_a_proposal(make_referral):
    state, share_id = _proposed(make_referral)
    refusal = commands.decide_share(state, share_id, approve=False, reason="not this school", actor="manager:mo",
                                    decider_sub="mo", today=TODAY)
    assert refusal.kind is Kind.SHARE_REFUSED
    state = _with(state, refusal, 101)
    assert state.shares == [] and [s["share_id"] for s in state.refused_shares] == [share_id]
    with pytest.raises(TransitionRefused) as again:
        commands.decide_share(state, share_id, approve=True, reason="r", actor="manager:mo2", decider_sub="mo2",
                              today=TODAY)
    assert again.value.code == "share_already_decided"
    with pytest.raises(RecordNotFound):
        commands.decide_share(state, str(uuid.uuid4()), approve=True, reason="r", actor="manager:mo",
                              decider_sub="mo", today=TODAY)
