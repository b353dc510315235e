"""Casework makes only routine CME-tracking shares itself; every other share is a disclosure request."""

import uuid
from datetime import date

import pytest

from cme_casework.domain import commands, lifecycle, referral_entries
from cme_casework.domain.errors import EvidenceRefused
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
        commands.record_share(state, recipient={"type": "police", "org_name": "Met"}, purpose="crime",
                              legal_gateway="DPA 2018 Sch 2 Part 1 para 2", categories=[DataCategory.CONTACT],
                              fields_released=["child.address"], reason="crime ref", actor="officer:o",
                              today=date(2026, 11, 20))
    assert {p.code for p in refused.value.problems} == {NEEDS_DISCLOSURE}
    assert all("POST /disclosures" in p.message for p in refused.value.problems)
