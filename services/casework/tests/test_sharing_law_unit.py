"""Casework's own shares follow the sharing law written once in `cme_shared.law`, as the disclosure policy
does (the statutory rules review, December 2026: D6a, D6b and section 3 item 14)."""

import pytest

from cme_casework.domain.sharing import NEEDS_DISCLOSURE, check_share
from cme_shared.contracts.categories import DataCategory
from cme_shared.law.minimisation import CME_TRACKING_FIELDS

pytestmark = pytest.mark.unit

ALL_THREE = [DataCategory.CONTACT, DataCategory.DEMOGRAPHICS, DataCategory.EDUCATION]
TRACKING = {"recipient_type": "school", "purpose": "cme_tracking", "legal_gateway": "Education Act 1996 s436A",
            "categories": ALL_THREE, "fields_released": ["child.first_name", "child.date_of_birth", "child.upn"]}


def codes(**changes) -> set[tuple[tuple, str]]:
    return {(p.loc, p.code) for p in check_share(**{**TRACKING, **changes})}


# D6a: DPA 2018 Sch 2 Part 1 para 4 (only the Secretary of State may apply it) however it is worded.
@pytest.mark.parametrize("gateway", ["para 4 of Schedule 2", "the DPA 2018 immigration exemption",
                                     "Education Act 1996 s436A; DPA 2018 Sch 2 para 4", "immigration exemption"])
def test_the_immigration_exemption_however_worded_is_not_casework_s(gateway):
    assert codes(legal_gateway=gateway) == {(("legal_gateway",), NEEDS_DISCLOSURE)}


# D6b (case casework_share-002): the Children Act 1989's Sch 2 para 4 is a children's services duty.
@pytest.mark.parametrize("gateway", ["Children Act 1989 Sch 2 para 4",
                                     "Education Act 1996 s436A; Children Act 1989 Sch 2 Part 1 para 4"])
def test_another_act_s_sch_2_para_4_is_not_the_exemption(gateway):
    assert codes(legal_gateway=gateway) == set()


# Item 14, UK GDPR Art 5(1)(c): a tracking share with a school or council releases only the tracking fields.
@pytest.mark.parametrize("recipient", ["school", "other_local_authority"])
@pytest.mark.parametrize("field", ["child.nhs_number", "child.send", "carers.email", "carers.relationship",
                                   "child.middle_names", "child.preferred_name"])
def test_a_tracking_share_never_releases_what_tracking_does_not_need(recipient, field):
    assert codes(recipient_type=recipient, fields_released=["child.upn", field]) == {
        (("fields_released", 1), "field_not_for_tracking")}


@pytest.mark.parametrize("recipient", ["school", "other_local_authority"])
def test_every_shared_tracking_field_the_referral_contract_tags_may_go(recipient):
    from cme_casework.domain.sharing import FIELD_CATEGORIES
    fields = [f for fs in CME_TRACKING_FIELDS.values() for f in fs if f in FIELD_CATEGORIES]
    assert {"child.upn", "child.address", "carers.phones", "child.date_of_birth"} <= set(fields)
    assert codes(recipient_type=recipient, fields_released=fields) == set()


@pytest.mark.parametrize(("recipient", "purpose"), [("other_local_authority", "statutory_transfer"),
                                                    ("internal", "cme_tracking")])
def test_a_statutory_transfer_and_the_council_s_own_teams_are_not_limited_to_the_tracking_list(recipient, purpose):
    assert codes(recipient_type=recipient, purpose=purpose,
                 fields_released=["child.nhs_number", "child.send", "carers.email"]) == set()
