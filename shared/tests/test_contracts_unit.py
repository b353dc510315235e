"""The partner referral contract (CONTRACT section 3) against the sample referrals and its rules."""

import json
from pathlib import Path

import pytest

from cme_shared.contracts.categories import DataCategory, field_categories
from cme_shared.contracts.referrals import Child, Referral
from cme_shared.messaging.consumer import Delivery, Unreadable, json_model_parser
from cme_shared.testing.infra import SAMPLE_REFERRALS

pytestmark = pytest.mark.unit

SAMPLES = SAMPLE_REFERRALS
parse = json_model_parser(Referral)


def delivery(value: bytes) -> Delivery:
    return Delivery(topic="t", partition=0, offset=0, key=None, value=value)


def sample_files(prefix: str) -> list[Path]:
    files = sorted(p for p in SAMPLES.iterdir() if p.name.startswith(prefix))
    assert files, f"no samples starting {prefix!r} in {SAMPLES}"
    return files


@pytest.mark.parametrize("path", sample_files("accepted-"), ids=lambda p: p.name)
def test_every_accepted_sample_is_understood(path):
    referral = parse(delivery(path.read_bytes()))
    assert referral.referral_id == json.loads(path.read_bytes())["referral_id"]


@pytest.mark.parametrize("path", sample_files("rejected-"), ids=lambda p: p.name)
def test_every_rejected_sample_is_refused_with_a_reason(path):
    with pytest.raises(Unreadable) as refused:
        parse(delivery(path.read_bytes()))
    assert refused.value.problems and all(p.code for p in refused.value.problems)


def base() -> dict:
    return json.loads((SAMPLES / "accepted-school-deletion-no-destination.json").read_bytes())


@pytest.mark.parametrize(
    ("mutate", "loc", "code"),
    [
        (lambda d: d.update(schema_version=2), ["schema_version"], "literal_error"),
        (lambda d: d.pop("referral_id"), ["referral_id"], "missing"),
        (lambda d: d.update(referral_id=12345), ["referral_id"], "string_type"),
        (lambda d: d.update(referral_id="x" * 65), ["referral_id"], "string_too_long"),
        (lambda d: d["child"].update(nickname="x"), ["child", "nickname"], "extra_forbidden"),
        (lambda d: d["source"].update(anonymous=True), ["source"], "value_error"),
        (lambda d: d["child"].update(sex="boy"), ["child", "sex"], "enum"),
        (lambda d: d["notification"].update(deletion_ground="9(1)(z)"), ["notification", "deletion_ground"], "literal_error"),
        (lambda d: d.update(submitted_at="2026-11-02T09:15:00"), ["submitted_at"], "timezone_aware"),
        (lambda d: d["child"]["flags"] or d["child"].update(flags={"looked_after": "yes"}), ["child", "flags", "looked_after"], "bool_type"),
        (lambda d: d["notification"].update(details="x" * 10_001), ["notification", "details"], "string_too_long"),
    ],
)
def test_each_reject_rule_names_the_field_and_the_rule(mutate, loc, code):
    document = base()
    mutate(document)
    with pytest.raises(Unreadable) as refused:
        parse(delivery(json.dumps(document).encode()))
    assert [(p.loc, p.code) for p in refused.value.problems] == [(loc, code)]


def test_optional_fields_may_be_left_out():
    minimal = {
        "schema_version": 1, "referral_id": "R1", "submitted_at": "2026-11-02T09:15:00+00:00",
        "source": {"type": "public"}, "notification": {"kind": "child_not_in_school_concern"},
        "child": {"first_name": "A", "last_name": "B"},
    }
    referral = parse(delivery(json.dumps(minimal).encode()))
    assert referral.carers == [] and referral.child.aliases == [] and referral.child.sex.value == "unknown"


def test_reject_reasons_never_quote_the_input():
    document = base()
    document["child"]["sex"] = "Amira Haddad"
    with pytest.raises(Unreadable) as refused:
        parse(delivery(json.dumps(document).encode()))
    assert "Amira" not in json.dumps([p.model_dump() for p in refused.value.problems])


def test_child_fields_carry_their_data_category():
    tags = field_categories(Child)
    assert tags["address"] is DataCategory.CONTACT
    assert tags["date_of_birth"] is DataCategory.DEMOGRAPHICS
    assert tags["upn"] is DataCategory.EDUCATION
    assert tags["flags"] is DataCategory.STATUTORY_SERVICES
