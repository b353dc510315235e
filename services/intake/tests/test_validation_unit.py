"""Warnings: each names the field and the rule; a deletion return's regulation 13 gaps are listed."""

import json

import pytest

from cme_intake.domain.validation import assess, deletion_return_gaps
from cme_shared.contracts.referrals import Referral
from cme_shared.testing.infra import SAMPLE_REFERRALS

pytestmark = pytest.mark.unit


def load(name: str) -> dict:
    return json.loads((SAMPLE_REFERRALS / name).read_bytes())


def referral(document: dict) -> Referral:
    return Referral.model_validate_json(json.dumps(document))


def warnings(document: dict) -> set[tuple[tuple, str]]:
    return {(tuple(w.loc), w.code) for w in assess(referral(document)).warnings}


@pytest.mark.parametrize("path", sorted(SAMPLE_REFERRALS.glob("accepted-*.json")), ids=lambda p: p.name)
def test_samples_without_warnings_in_their_name_have_none(path):
    found = warnings(json.loads(path.read_bytes()))
    if "-with-warnings-" in path.name:
        assert found
    else:
        assert found == set()


def test_the_bad_upn_and_postcode_sample():
    assert warnings(load("accepted-with-warnings-bad-upn-postcode.json")) == {
        (("child", "upn"), "upn_allocated_before_birth"),
        (("child", "address", "postcode"), "postcode_format"),
        (("child", "date_of_birth"), "below_compulsory_school_age"),
    }


def test_bad_check_characters_are_warnings():
    document = load("accepted-school-deletion-no-destination.json")
    document["child"]["upn"] = "A213200119044"
    document["child"]["nhs_number"] = "9434765918"
    assert {(("child", "upn"), "upn_check_letter"), (("child", "nhs_number"), "nhs_number_check_digit")} <= warnings(document)


def test_every_postcode_is_checked():
    document = load("accepted-school-deletion-no-destination.json")
    document["carers"][0]["address"]["postcode"] = "NOT A PC"
    document["notification"]["future_address"] = {"line1": "1 Road", "postcode": "W2"}
    document["notification"]["future_address_from"] = "2026-12-01"
    assert {(("carers", 0, "address", "postcode"), "postcode_format"),
            (("notification", "future_address", "postcode"), "postcode_format")} <= warnings(document)


def test_a_deletion_return_without_its_ground_is_accepted_with_a_warning():
    document = load("accepted-school-deletion-no-destination.json")
    document["notification"]["deletion_ground"] = None
    assert (("notification", "deletion_ground"), "deletion_ground_missing") in warnings(document)


def test_a_complete_deletion_return_has_no_gaps():
    assert deletion_return_gaps(referral(load("accepted-school-deletion-ground-a-with-destination.json"))) == []
    assert deletion_return_gaps(referral(load("accepted-school-deletion-no-destination.json"))) == []


def test_regulation_13_gaps_are_named_and_flag_the_return_incomplete():
    document = load("accepted-school-deletion-ground-a-with-destination.json")
    document["child"]["address"] = None
    document["carers"][0].update(phones=[], first_name=None, address=None)  # and the pupil's is missing too
    document["notification"]["destination_start_date"] = None
    document["notification"]["future_address"] = {"line1": "2 Road", "postcode": "W2 1AA"}
    assessment = assess(referral(document))
    assert assessment.missing_return_fields == [
        "child.address", "carers.0.name", "carers.0.address", "carers.0.phones",
        "notification.future_address_from", "notification.destination_start_date",
    ]
    assert assessment.incomplete_return
    gaps = {tuple(w.loc) for w in assessment.warnings if w.code == "return_incomplete"}
    assert ("carers", 0, "phones") in gaps and ("notification", "future_address_from") in gaps
    assert all("reg 13" in w.message for w in assessment.warnings if w.code == "return_incomplete")


def test_ground_a_needs_the_destination_school():
    document = load("accepted-school-deletion-ground-a-with-destination.json")
    document["notification"].update(destination_school_urn=None, destination_start_date=None)
    assert deletion_return_gaps(referral(document)) == [
        "notification.destination_school_urn", "notification.destination_start_date"]


def test_a_return_with_no_parent_is_incomplete():
    document = load("accepted-school-deletion-no-destination.json")
    document["carers"] = []
    assert "carers" in deletion_return_gaps(referral(document))


def test_other_kinds_are_not_held_to_regulation_13():
    assert assess(referral(load("accepted-police-high-risk.json"))).missing_return_fields == []


def test_age_and_dates():
    document = load("accepted-police-high-risk.json")
    document["child"]["date_of_birth"] = "2027-01-01"
    assert (("child", "date_of_birth"), "date_of_birth_in_future") in warnings(document)
    document["child"]["date_of_birth"] = "2009-01-01"
    assert (("child", "date_of_birth"), "over_compulsory_school_age") in warnings(document)


def test_blank_names_missing_org_id_and_bad_urns_are_warnings_not_rejections():
    document = load("accepted-police-high-risk.json")
    document["child"]["first_name"] = " "
    document["source"]["org_id"] = None
    document["child"]["current_school_urn"] = "12AB"
    assert {(("child", "first_name"), "name_blank"), (("source", "org_id"), "org_id_missing"),
            (("child", "current_school_urn"), "urn_format")} <= warnings(document)


def test_warning_messages_never_quote_the_value():
    document = load("accepted-with-warnings-bad-upn-postcode.json")
    text = json.dumps([w.model_dump() for w in assess(referral(document)).warnings])
    assert "A213200119999" not in text and "W2 9" not in text and "2021-09-30" not in text
