"""The disclosure policy table and its rules (DOMAIN 4)."""

import json

import pytest

from cme_disclosure.domain.policy import assess, cites_immigration_exemption, load_policy, normalise_rank
from cme_shared.contracts.categories import DataCategory as C

pytestmark = pytest.mark.unit

TABLE = load_policy()


def police_crime(**overrides):
    args = dict(recipient_type="police", purpose="crime", legal_gateway="DPA 2018 Sch 2 Part 1 para 2",
                reference="CAD 1234/26", requester_rank="Detective Inspector", authorised_officer=None,
                categories=[C.CONTACT, C.DEMOGRAPHICS])
    return assess(TABLE, **{**args, **overrides})


def codes(assessment):
    return [f.code for f in assessment.findings]


def test_a_complete_police_crime_request_passes_and_releases_only_allowed_fields():
    result = police_crime(categories=[C.CONTACT, C.BENEFITS])
    assert result.allowed
    assert result.categories_released == [C.CONTACT]
    assert result.categories_not_released == [C.BENEFITS]  # minimisation: benefits never go to police for crime
    assert "child.address" in result.fields_released
    assert not any(f.startswith("household.benefits") for f in result.fields_released)
    assert result.approval_roles == ["manager", "dpo"]


def test_police_need_a_crime_reference():
    assert codes(police_crime(reference=None)) == ["crime_reference_required"]
    assert codes(police_crime(reference="  ")) == ["crime_reference_required"]


@pytest.mark.parametrize("rank", ["Constable", "Sergeant", "Detective Sergeant", None, "PC", "DC", "DS",
                                  "Temporary Detective Sergeant", "T/DS", "Acting Sergeant"])
def test_police_below_inspector_cannot_sign_off(rank):
    assert codes(police_crime(requester_rank=rank)) == ["inspector_sign_off_required"]


@pytest.mark.parametrize("rank", ["Inspector", "DI", "Detective Chief Inspector", "Superintendent",
                                  "Chief Superintendent", "Commander", "Chief Constable", "acting inspector",
                                  "Temporary Detective Inspector", "Chief Supt", "Ch Supt", "Det Supt",
                                  "Detective Chief Superintendent", "Deputy Assistant Commissioner",
                                  "Assistant Commissioner", "Commissioner", "T/DI", "A/DCI"])
def test_inspector_or_above_signs_off(rank):
    assert police_crime(requester_rank=rank).allowed, normalise_rank(rank)


@pytest.mark.parametrize("gateway", ["DPA 2018 Sch 2 para 4", "DPA 2018 Schedule 2, paragraph 4",
                                     "Sch. 2 Part 1 para. 4 (immigration)", "sch 2 pt 1 para 4(1)"])
def test_home_office_never_cites_the_immigration_exemption(gateway):
    assert cites_immigration_exemption(gateway)
    result = assess(TABLE, recipient_type="home_office", purpose="immigration", legal_gateway=gateway,
                    reference=None, requester_rank=None, authorised_officer=None, categories=[C.CONTACT])
    assert "immigration_exemption_not_available" in codes(result)
    assert not result.allowed


@pytest.mark.parametrize("gateway", ["DPA 2018 Sch 2 Part 1 para 2", "DPA 2018 Sch 8 para 4; Sch 2 Part 1 para 2",
                                     "Immigration and Asylum Act 1999 s20", "Sch 2 para 40"])
def test_other_paragraphs_are_not_the_immigration_exemption(gateway):
    assert not cites_immigration_exemption(gateway)


def test_home_office_on_the_councils_own_gateway_goes_to_the_dpo():
    result = assess(TABLE, recipient_type="home_office", purpose="immigration",
                    legal_gateway="Immigration and Asylum Act 1999 s20", reference=None, requester_rank=None,
                    authorised_officer=None, categories=[C.CONTACT, C.EDUCATION])
    assert result.allowed
    assert result.categories_released == [C.CONTACT]
    assert result.approval_roles == ["dpo"]


def test_dwp_needs_the_s109b_notice_and_its_authorised_officer():
    base = dict(recipient_type="dwp", purpose="fraud", legal_gateway="Social Security Administration Act 1992 s109B",
                requester_rank=None, categories=[C.BENEFITS])
    assert assess(TABLE, **base, reference="N-778", authorised_officer="A. Officer").allowed
    assert codes(assess(TABLE, **base, reference=None, authorised_officer="A. Officer")) == ["notice_reference_required"]
    assert codes(assess(TABLE, **base, reference="N-778", authorised_officer=None)) == ["authorised_officer_required"]
    for spelling in ("section 109B", "Section 109B", "s.109B", "s 109B", "sec. 109B"):
        gateway = {**base, "legal_gateway": f"Social Security Administration Act 1992 {spelling}"}
        assert assess(TABLE, **gateway, reference="N-778", authorised_officer="A. Officer").allowed, spelling
    not_it = {**base, "legal_gateway": "Social Security Administration Act 1992 section 1109B"}
    assert codes(assess(TABLE, **not_it, reference="N-778", authorised_officer="A. Officer")) == ["gateway_not_accepted"]
    wrong = {**base, "legal_gateway": "DPA 2018 Sch 2 Part 1 para 2"}
    assert codes(assess(TABLE, **wrong, reference="N-778", authorised_officer="A. Officer")) == ["gateway_not_accepted"]


def test_schools_get_the_cme_tracking_fields_only():
    result = assess(TABLE, recipient_type="school", purpose="cme_tracking", legal_gateway="Education Act 1996 s436A",
                    reference=None, requester_rank=None, authorised_officer=None,
                    categories=[C.CONTACT, C.DEMOGRAPHICS, C.EDUCATION, C.STATUTORY_SERVICES])
    assert result.allowed
    assert result.categories_not_released == [C.STATUTORY_SERVICES]
    assert "child.upn" in result.fields_released and "child.date_of_birth" in result.fields_released
    assert "child.nhs_number" not in result.fields_released  # demographics, but not a CME tracking field
    assert "carers.email" not in result.fields_released


def test_anything_not_in_the_table_is_refused():
    result = assess(TABLE, recipient_type="dwp", purpose="safeguarding", legal_gateway="Children Act 2004 s11",
                    reference="x", requester_rank=None, authorised_officer="y", categories=[C.CONTACT])
    assert codes(result) == ["not_in_policy"]
    assert result.categories_released == []


def test_a_request_for_no_allowed_category_is_refused():
    assert codes(police_crime(categories=[C.BENEFITS, C.COUNCIL_TAX])) == ["no_category_allowed"]


def test_an_operator_can_replace_the_table(tmp_path):
    data = json.loads((TABLE.model_dump_json()))
    data["rows"] = [r for r in data["rows"] if r["recipient"] != "police"]
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(data))
    stricter = load_policy(path)
    result = assess(stricter, recipient_type="police", purpose="crime", legal_gateway="DPA 2018 Sch 2 Part 1 para 2",
                    reference="r", requester_rank="Inspector", authorised_officer=None, categories=[C.CONTACT])
    assert codes(result) == ["not_in_policy"]


def test_a_table_with_an_unknown_requirement_is_refused_at_load(tmp_path):
    data = json.loads(TABLE.model_dump_json())
    data["rows"][0]["requires"] = ["telepathy"]
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="unknown requirement"):
        load_policy(path)
