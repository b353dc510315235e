"""The sharing law written once (`cme_shared.law`): the immigration exemption, the safeguarding condition,
the public task basis and the CME tracking fields, as casework and disclosure both apply them.

Sources are named on each test: DPA 2018 Sch 2 Part 1 para 4 (as amended in 2022 after [2021] EWCA Civ 800),
DPA 2018 Sch 1 Part 2 para 18 and Sch 8, UK GDPR Art 6(1)(e) and Art 5(1)(c), the statutory rules review of
December 2026 (D6a, D6b, D7, section 3 item 14).
"""

import pytest

from cme_shared.contracts.categories import DataCategory, field_categories
from cme_shared.contracts.referrals import Referral
from cme_shared.law.gateways import (
    GATEWAY_RULES,
    cites_immigration_exemption,
    cites_public_task,
    cites_safeguarding_condition,
)
from cme_shared.law.minimisation import (
    CME_TRACKING_FIELDS,
    TRACKING_SHARES,
    is_cme_tracking_field,
    tracking_fields_only,
)

pytestmark = pytest.mark.unit


# DPA 2018 Sch 2 Part 1 para 4: only the Secretary of State may apply it, so no council share cites it,
# however it is written (review D6a: "para 4 of Schedule 2" and the exemption by name were missed).
@pytest.mark.parametrize("gateway", [
    "DPA 2018 Sch 2 para 4", "DPA 2018 Sch 2 Part 1 para 4", "DPA 2018 Schedule 2, paragraph 4",
    "Sch. 2 Part 1 para. 4 (immigration)", "sch 2 pt 1 para 4(1)", "SCH2 PARA4", "Sch 2 para 4",
    "Data Protection Act 2018, Schedule 2, Part 1, paragraph 4",
    "para 4 of Schedule 2",  # review case disclosure_policy-018
    "paragraph 4 of Part 1 of Schedule 2 to the Data Protection Act 2018",
    "Schedule 2 to the Data Protection Act 2018, paragraph 4",
    "Sch 2 para 4 DPA 2018", "Sch 2 para 4 (Data Protection Act 2018)",
    "the DPA 2018 immigration exemption",  # review case disclosure_policy-019
    "immigration exemption", "the immigration control exemption", "exemption for immigration control",
    "exemption (immigration)", "DPA 2018 Sch 2 Part 1 paras 2 and 4",
    # another Act named before, but the paragraph is the DPA's
    "Children Act 1989 s17 and DPA 2018 Sch 2 para 4", "Children Act 1989 s17, Sch 2 para 4 of the DPA 2018",
    "DPA 2018 Sch 2 para 4 and Children Act 2004 s11", "Sch 2 para 4 and the Children Act 2004 s11",
    "Education Act 1996 s436A; Sch 2 para 4",
])
def test_the_immigration_exemption_is_recognised_however_worded(gateway):
    assert cites_immigration_exemption(gateway)


# Review D6b: "Children Act 1989 Sch 2 para 4" (prevention of neglect and abuse) is a children's services
# duty, not the exemption; nor is any other paragraph of Sch 2, or the 1998 Act's Sch 2.
@pytest.mark.parametrize("gateway", [
    "Children Act 1989 Sch 2 para 4",  # review cases disclosure_policy-024, casework_share-002
    "Children Act 1989 Sch 2 Part 1 para 4 (prevention of neglect and abuse)",
    "paragraph 4 of Schedule 2 to the Children Act 1989", "Schedule 2 to the Children Act 1989, paragraph 4",
    "Sch 2 para 4 of the Children Act 1989", "para 4 of Sch 2 to the Data Protection Act 1998",
    "DPA 2018 Sch 2 Part 1 para 2", "DPA 2018 Sch 8 para 4; Sch 2 Part 1 para 2",
    "DPA 2018 Sch 8 para 4, Sch 2 Part 1 para 2", "Immigration and Asylum Act 1999 s20", "Sch 2 para 40",
    "Sch 12 para 4", "Education Act 1996 s436A; UK GDPR Art 6(1)(e)",
])
def test_another_act_s_paragraph_or_another_paragraph_is_not_the_exemption(gateway):
    assert not cites_immigration_exemption(gateway)


# DPA 2018 Sch 1 Part 2 para 18, safeguarding of children and of individuals at risk (review D7).
@pytest.mark.parametrize("gateway", [
    "UK GDPR Art 6(1)(e); DPA 2018 Sch 1 Part 2 para 18",  # review cases disclosure_policy-025, -026
    "DPA 2018 Schedule 1, Part 2, paragraph 18", "para 18 of Schedule 1 to the DPA 2018", "Sch 1 para 18",
    "Data Protection Act 2018 Sch. 1 Pt 2 para. 18(1)", "safeguarding of children and of individuals at risk",
])
def test_the_council_s_safeguarding_condition_is_sch_1_para_18(gateway):
    assert cites_safeguarding_condition(gateway)


# Sch 8 para 4 is the Part 3 (law enforcement) condition for competent authorities, not the council's.
@pytest.mark.parametrize("gateway", [
    "DPA 2018 Sch 8 para 4 (safeguarding of children)", "Sch 1 para 1", "Sch 1 para 180",
    "Children Act 1989 Sch 1 para 18", "Children Act 2004 s11",
])
def test_part_3_s_condition_and_other_paragraphs_are_not_it(gateway):
    assert not cites_safeguarding_condition(gateway)


@pytest.mark.parametrize(("gateway", "cited"), [
    ("UK GDPR Art 6(1)(e)", True), ("Article 6(1)(e) UK GDPR", True), ("art. 6 (1) (e)", True),
    ("public task", True), ("UK GDPR Art 6(1)(d) vital interests", False), ("Art 6(1)(c)", False),
])
def test_the_public_task_basis(gateway, cited):
    assert cites_public_task(gateway) is cited


def test_the_named_rules_a_policy_may_use():
    assert GATEWAY_RULES["dpa_2018_sch1_para18_safeguarding"]("DPA 2018 Sch 1 Part 2 para 18")
    assert GATEWAY_RULES["uk_gdpr_art6_1_e_public_task"]("UK GDPR Art 6(1)(e)")
    assert not any(rule("DPA 2018 Sch 8 para 4") for rule in GATEWAY_RULES.values())


# UK GDPR Art 5(1)(c); review section 3 item 14: a tracking share never sends the NHS number or SEN.
def test_a_tracking_share_with_a_school_or_council_releases_only_the_tracking_fields():
    assert tracking_fields_only("school", "cme_tracking")
    assert tracking_fields_only("other_local_authority", "cme_tracking")
    assert not tracking_fields_only("other_local_authority", "statutory_transfer")
    assert not tracking_fields_only("internal", "cme_tracking")
    assert TRACKING_SHARES == {("school", "cme_tracking"), ("other_local_authority", "cme_tracking")}
    for excluded in ("child.nhs_number", "child.send", "carers.email", "carers.relationship", "child.flags",
                     "safeguarding.details", "child.middle_names", "child.preferred_name"):
        assert not is_cme_tracking_field(excluded), excluded
    assert is_cme_tracking_field("child.upn") and is_cme_tracking_field("carers.phones")


def test_the_tracking_fields_carry_the_category_the_referral_contract_gives_them():
    tagged = field_categories(Referral)
    assert set(CME_TRACKING_FIELDS) == {DataCategory.CONTACT, DataCategory.DEMOGRAPHICS, DataCategory.EDUCATION}
    for category, fields in CME_TRACKING_FIELDS.items():
        for name in fields:
            assert tagged.get(name, category) == category, name
