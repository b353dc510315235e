"""The disclosure policy applies the sharing law written once in `cme_shared.law` (the statutory rules review,
December 2026: D6a, D6b, D7, section 3 items 10 and 14), each case naming its source."""

import json

import pytest

from cme_disclosure.domain.policy import assess, load_policy
from cme_shared.contracts.categories import DataCategory as C
from cme_shared.law.minimisation import CME_TRACKING_FIELDS

pytestmark = pytest.mark.unit

TABLE = load_policy()
SAFEGUARDING = [C.CONTACT, C.DEMOGRAPHICS, C.EDUCATION, C.STATUTORY_SERVICES]


def weigh(recipient_type, purpose, legal_gateway, categories=(C.CONTACT,), reference=None, requester_rank=None,
          authorised_officer=None):
    return assess(TABLE, recipient_type=recipient_type, purpose=purpose, legal_gateway=legal_gateway,
                  reference=reference, requester_rank=requester_rank, authorised_officer=authorised_officer,
                  categories=list(categories))


def codes(assessment):
    return [f.code for f in assessment.findings]


# D6a (cases disclosure_policy-018, -019): DPA 2018 Sch 2 Part 1 para 4 may be applied only by the Secretary
# of State (2022 Regulations after [2021] EWCA Civ 800); a council's Home Office share never cites it.
@pytest.mark.parametrize("gateway", [
    "para 4 of Schedule 2", "the DPA 2018 immigration exemption",
    "Immigration and Asylum Act 1999 s20; paragraph 4 of Part 1 of Schedule 2 to the Data Protection Act 2018",
])
def test_a_home_office_share_citing_the_exemption_however_worded_is_refused(gateway):
    result = weigh("home_office", "immigration", gateway)
    assert "immigration_exemption_not_available" in codes(result)
    assert not result.allowed


# D6b (case disclosure_policy-024): the Children Act 1989's Sch 2 para 4 (preventing neglect and abuse) is a
# children's services duty; it is not the immigration exemption and the safeguarding rows accept the Act.
@pytest.mark.parametrize(("recipient", "purpose"), [
    ("police", "safeguarding"), ("school", "safeguarding"), ("other_local_authority", "safeguarding"),
    ("internal", "safeguarding"),
])
def test_another_act_s_sch_2_para_4_is_not_the_exemption(recipient, purpose):
    result = weigh(recipient, purpose, "Children Act 1989 Sch 2 para 4", SAFEGUARDING, reference="CAD 1/27",
                   requester_rank="Inspector")
    assert result.allowed, codes(result)


# D7 (cases disclosure_policy-025, -026): a council's safeguarding share rests on UK GDPR Art 6(1)(e) and
# DPA 2018 Sch 1 Part 2 para 18; Sch 8 para 4 is Part 3's condition for competent authorities (the police).
@pytest.mark.parametrize(("recipient", "reference", "rank"), [
    ("police", "CAD 1234/26", "Detective Inspector"), ("school", None, None), ("other_local_authority", None, None),
])
@pytest.mark.parametrize("gateway", ["UK GDPR Art 6(1)(e); DPA 2018 Sch 1 Part 2 para 18",
                                     "DPA 2018 Schedule 1, Part 2, paragraph 18", "UK GDPR Art 6(1)(e)"])
def test_the_safeguarding_condition_is_accepted_in_the_safeguarding_rows(recipient, reference, rank, gateway):
    result = weigh(recipient, "safeguarding", gateway, SAFEGUARDING, reference=reference, requester_rank=rank)
    assert result.allowed, codes(result)
    assert C.STATUTORY_SERVICES in result.categories_released


@pytest.mark.parametrize("recipient", ["police", "school", "other_local_authority", "internal"])
def test_part_3_s_sch_8_para_4_is_not_the_council_s_safeguarding_gateway(recipient):
    result = weigh(recipient, "safeguarding", "DPA 2018 Sch 8 para 4", SAFEGUARDING, reference="CAD 1/27",
                   requester_rank="Inspector")
    assert codes(result) == ["gateway_not_accepted"]
    finding = result.findings[0]
    assert "Sch 1 Part 2 para 18" in finding.message and "Sch 8" not in finding.message


def test_the_police_safeguarding_row_s_example_is_the_council_s_condition():
    row = TABLE.row("police", "safeguarding")
    assert row.gateway_example.startswith("UK GDPR Art 6(1)(e); DPA 2018 Sch 1 Part 2 para 18")
    assert weigh("police", "safeguarding", row.gateway_example, SAFEGUARDING, reference="r",
                 requester_rank="Inspector").allowed
    # Every row's own example passes its own row (whatever else a request needs).
    for row in TABLE.rows:
        assert TABLE.accepts_gateway(row, row.gateway_example), (row.recipient, row.purpose)


def test_serious_harm_accepts_the_safeguarding_condition_not_sch_8():
    base = dict(categories=SAFEGUARDING, reference="CAD 9/27", requester_rank="Superintendent")
    assert weigh("police", "serious_harm", "DPA 2018 Sch 1 Part 2 para 18", **base).allowed
    assert weigh("police", "serious_harm", "UK GDPR Art 6(1)(d) vital interests", **base).allowed
    assert codes(weigh("police", "serious_harm", "DPA 2018 Sch 8 para 4", **base)) == ["gateway_not_accepted"]


# Item 10: a Prevent referral is the council's own, made under its duty in the Counter-Terrorism and Security
# Act 2015 s26 (Prevent duty guidance 2023: referrals to the police with the national referral form); there is
# no crime to reference and no police officer to sign it off, so neither is demanded. It is still weighed and
# approved by a second person (manager or DPO).
def test_a_council_initiated_prevent_referral_needs_no_crime_reference_or_inspector():
    result = weigh("police", "prevent", "Counter-Terrorism and Security Act 2015 s26", [C.CONTACT, C.EDUCATION])
    assert result.allowed, codes(result)
    assert result.approval_roles == ["manager", "dpo"]
    assert "inspector_sign_off" not in TABLE.row("police", "prevent").requires
    assert weigh("police", "prevent", "UK GDPR Art 6(1)(e); CTSA 2015 s36 Channel").allowed
    assert codes(weigh("police", "prevent", "Children Act 2004 s11")) == ["gateway_not_accepted"]
    # A police request in a criminal investigation is still the crime row, with its reference and sign-off.
    assert codes(weigh("police", "crime", "DPA 2018 Sch 2 Part 1 para 2")) == [
        "crime_reference_required", "inspector_sign_off_required"]


# Item 14 and UK GDPR Art 5(1)(c): the tracking fields are the law's one list, shared with casework.
@pytest.mark.parametrize("recipient", ["school", "other_local_authority"])
def test_tracking_shares_release_exactly_the_shared_tracking_fields(recipient):
    result = weigh(recipient, "cme_tracking", "Education Act 1996 s436A", [C.CONTACT, C.DEMOGRAPHICS, C.EDUCATION])
    assert sorted(result.fields_released) == sorted(f for fields in CME_TRACKING_FIELDS.values() for f in fields)
    assert "child.nhs_number" not in result.fields_released and "child.send" not in result.fields_released


def _write(tmp_path, data):
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(data))
    return path


def test_a_table_cannot_widen_the_tracking_fields(tmp_path):
    data = json.loads(TABLE.model_dump_json())
    data["cme_tracking_fields"]["demographics"].append("child.nhs_number")
    with pytest.raises(ValueError, match="cme_shared.law.minimisation"):
        load_policy(_write(tmp_path, data))
    data = json.loads(TABLE.model_dump_json())
    school = next(r for r in data["rows"] if (r["recipient"], r["purpose"]) == ("school", "cme_tracking"))
    school["fields"] = None
    with pytest.raises(ValueError, match="only the CME tracking fields"):
        load_policy(_write(tmp_path, data))


def test_a_table_naming_an_unknown_gateway_rule_is_refused_at_load(tmp_path):
    data = json.loads(TABLE.model_dump_json())
    data["rows"][0]["gateway_rules"] = ["whatever_the_officer_says"]
    with pytest.raises(ValueError, match="unknown gateway rule"):
        load_policy(_write(tmp_path, data))
