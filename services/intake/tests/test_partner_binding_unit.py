"""A partner bound to an org refers only for it (CONTRACT section 7; cme_intake.domain.partners): the rule
for every combination of headers and org, and the bindings file that feeds it."""

import json
import os

import pytest

from cme_intake.adapters.partner_bindings import BindingsFile, parse
from cme_intake.domain.partners import MAC_HEADER, PARTNER_HEADER, Binding, Bindings, check, mac

pytestmark = pytest.mark.unit

KEY = bytes(range(32))
BINDINGS = Bindings({"school-a": Binding("school-a", "URN-100001", KEY, require_mac=True),
                     "police-b": Binding("police-b", "POLICE-B", bytes(range(32, 64)))})
VALUE = b'{"referral_id": "R-1"}'


def signed(value: bytes = VALUE, key: bytes = KEY, partner: bytes = b"school-a") -> list[tuple[str, bytes | None]]:
    return [(PARTNER_HEADER, partner), (MAC_HEADER, mac(key, value).encode())]


def code(headers, org_id, value: bytes = VALUE) -> str | None:
    refused = check(BINDINGS, headers, value, org_id)
    return None if refused is None else refused.code


def test_a_bound_partner_s_signed_referral_for_its_own_org_passes():
    assert code(signed(), "URN-100001") is None


@pytest.mark.parametrize(("headers", "org_id", "expected"), [
    (signed(), "URN-999999", "org_not_permitted"),  # its own MAC, another org
    (signed(), None, "org_not_permitted"),
    (signed(key=bytes(32)), "URN-100001", "partner_mac_invalid"),  # a key it does not hold
    (signed(value=b"another record"), "URN-100001", "partner_mac_invalid"),  # a MAC lifted from another record
    ([(PARTNER_HEADER, b"school-a")], "URN-100001", "partner_mac_missing"),
    ([(PARTNER_HEADER, b"school-a"), (MAC_HEADER, None)], "URN-100001", "partner_mac_missing"),
    (signed(partner=b"school-b"), "URN-100001", "partner_unknown"),
    ([(MAC_HEADER, mac(KEY, VALUE).encode())], "URN-100001", "partner_unknown"),
    ([], "URN-100001", "partner_signature_required"),  # nobody else may refer as a bound org
    ([("x-other", b"1")], "URN-100001", "partner_signature_required"),
    ([*signed(), (PARTNER_HEADER, b"school-a")], "URN-100001", "partner_header_repeated"),
    ([*signed(), (MAC_HEADER, b"00")], "URN-100001", "partner_header_repeated"),
])
def test_every_other_combination_is_refused_with_its_own_reason(headers, org_id, expected):
    assert code(headers, org_id) == expected


def test_an_unbound_org_s_unsigned_referral_passes_as_before():
    assert code([], "URN-555555") is None
    assert code([], None) is None


def test_an_unsigned_referral_for_a_bound_org_passes_unless_the_binding_requires_the_mac():
    """CONTRACT section 3: a partner built to the contract sends no headers; `require_mac` opts in."""
    assert code([], "POLICE-B") is None
    assert code([], "URN-100001") == "partner_signature_required"


def test_a_mac_in_upper_case_hex_is_the_same_mac():
    headers = [(PARTNER_HEADER, b"school-a"), (MAC_HEADER, mac(KEY, VALUE).upper().encode())]
    assert code(headers, "URN-100001") is None


def test_refusals_say_why_without_quoting_the_record():
    refused = check(BINDINGS, signed(), VALUE, "URN-999999")
    assert refused is not None and refused.loc == ["source", "org_id"]
    assert "URN-999999" not in refused.message and "R-1" not in refused.message


def write(path, partners) -> None:
    path.write_text(json.dumps({"partners": partners}))


def test_the_bindings_file_is_read_again_when_it_changes_and_a_missing_file_binds_nobody(tmp_path):
    path = tmp_path / "bindings.json"
    bindings = BindingsFile(path)
    assert bindings.current().bound_orgs == frozenset()
    write(path, {"school-a": {"org_id": "URN-100001", "key": KEY.hex()}})
    assert bindings.current().bound_orgs == {"URN-100001"}
    write(path, {"school-a": {"org_id": "URN-100001", "key": KEY.hex()},
                 "police-x": {"org_id": "POLICE-X", "key": (b"k" * 32).hex()}})
    os.utime(path, ns=(1, 10**18))  # a change within the file system's timestamp granularity still shows
    assert bindings.current().bound_orgs == {"URN-100001", "POLICE-X"}
    path.unlink()  # a deleted file never unbinds every partner: what was read stands
    assert bindings.current().bound_orgs == {"URN-100001", "POLICE-X"}


def test_a_bindings_file_that_was_named_must_exist_at_start(tmp_path):
    with pytest.raises(ValueError, match="missing"):
        BindingsFile(tmp_path / "absent.json", required=True)
    assert BindingsFile(tmp_path / "absent.json").current().bound_orgs == frozenset()  # development's default


def test_require_mac_must_be_true_or_false():
    with pytest.raises(ValueError, match="require_mac"):
        parse(json.dumps({"partners": {"a": {"org_id": "X", "key": KEY.hex(), "require_mac": "yes"}}}))
    parsed = parse(json.dumps({"partners": {"a": {"org_id": "X", "key": KEY.hex(), "require_mac": True}}}))
    assert parsed.orgs_requiring_mac == {"X"}


def test_a_broken_bindings_file_stops_the_start_and_later_keeps_what_was_read(tmp_path):
    path = tmp_path / "bindings.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="partner bindings file"):
        BindingsFile(path)
    write(path, {"school-a": {"org_id": "URN-100001", "key": KEY.hex()}})
    bindings = BindingsFile(path)
    path.write_text('{"partners": {"school-a": {"org_id": "URN-100001", "key": "zz"}}}')
    assert bindings.current().bound_orgs == {"URN-100001"}


@pytest.mark.parametrize("partners", [
    {"school-a": {"org_id": "", "key": KEY.hex()}},
    {"school-a": {"org_id": "URN-1", "key": "abcd"}},  # too short to be a key
    {"school-a": {"key": KEY.hex()}},
    {"school-a": "URN-1"},
])
def test_a_binding_without_an_org_or_a_real_key_is_refused_without_printing_the_key(partners):
    with pytest.raises(ValueError) as refused:
        parse(json.dumps({"partners": partners}))
    assert KEY.hex() not in str(refused.value)
