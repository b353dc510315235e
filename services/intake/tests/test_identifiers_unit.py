"""UPN, NHS number, postcode and URN checks."""

from datetime import date

import pytest

from cme_intake.domain import identifiers as ids

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("upn", ["L207205018233", "Z213200119101", "G213200119044"])
def test_the_sample_referrals_upns_are_valid(upn):
    assert ids.upn_problem(upn) is None


def test_the_check_letter_is_the_dfe_weighted_sum_mod_23():
    # Z213200119101: 2*2+1*3+3*4+2*5+0*6+0*7+1*8+1*9+9*10+1*11+0*12+1*13 = 160; 160 mod 23 = 22 -> Z
    # (A=0 ... Z=22 over the 23 letters without I, O and S).
    weighted = sum(w * int(c) for w, c in zip(range(2, 14), "213200119101", strict=True))
    assert weighted == 160 and ids.UPN_CHECK_LETTERS[weighted % 23] == "Z"


def test_a_wrong_check_letter_is_caught():
    for letter in ids.UPN_CHECK_LETTERS.replace("Z", ""):
        assert ids.upn_problem(letter + "213200119101") == "upn_check_letter"


def test_the_bad_sample_upn_passes_its_check_letter_but_was_allocated_before_the_child_was_born():
    # A213200119999: 2*2+1*3+3*4+2*5+0+0+1*8+1*9+9*10+9*11+9*12+9*13 = 460 = 20*23 -> check letter A.
    # The letter is right; what is wrong is the year of allocation (characters 9-10: 2019) for a child
    # born in 2021.
    assert ids.upn_problem("A213200119999") is None
    assert ids.upn_problem("A213200119999", date(2021, 9, 30)) == "upn_allocated_before_birth"
    assert ids.upn_problem("Z213200119101", date(2014, 7, 1)) is None


@pytest.mark.parametrize("upn", ["", "Z21320011910", "Z2132001191011", "I213200119101", "Z21320011910!", "1213200119101"])
def test_malformed_upns(upn):
    assert ids.upn_problem(upn) == "upn_format"


def test_upns_are_compared_without_spaces_or_case():
    assert ids.upn_problem("z213 2001 19101") is None


def test_a_temporary_upn_ends_in_a_letter():
    body = "21320011910A"
    letter = ids.UPN_CHECK_LETTERS[sum(w * ids.UPN_CHECK_LETTERS.index(c) if c.isalpha() else w * int(c)
                                       for w, c in zip(range(2, 14), body, strict=True)) % 23]
    assert ids.upn_problem(letter + body) is None


@pytest.mark.parametrize("number", ["4857773457", "9434765919", "943 476 5919", "943-476-5919"])
def test_valid_nhs_numbers(number):
    assert ids.nhs_number_problem(number) is None


def test_nhs_number_modulus_11():
    assert ids.nhs_number_problem("9434765918") == "nhs_number_check_digit"
    assert ids.nhs_number_problem("94347659") == "nhs_number_format"
    assert ids.nhs_number_problem("94347659AB") == "nhs_number_format"


@pytest.mark.parametrize("postcode", ["W2 1AA", "w21aa", "SW10 9ZZ", "W10 5AB", "WC2N 5DU", "EC1A 1BB", "GIR 0AA", "M1 1AE"])
def test_well_formed_postcodes(postcode):
    assert ids.is_postcode(postcode)


@pytest.mark.parametrize("postcode", ["W2 9", "W2", "12345", "QW1 1AA", "W2 1AI", "", "W2 1AAA"])
def test_malformed_postcodes(postcode):
    assert not ids.is_postcode(postcode)


def test_postcode_normal_form_and_district():
    assert ids.normalise_postcode(" sw109zz ") == "SW10 9ZZ"
    assert ids.postcode_district("w21aa") == "W2"
    assert ids.postcode_district("W2 9") is None


def test_school_urns_are_six_digits():
    assert ids.is_school_urn("101234") and not ids.is_school_urn("10123") and not ids.is_school_urn("10123X")


# --- D3 of the statutory review (2026-12): characters 2-4 must be an LA number (DfE CBDS validation 1530)


def test_a_upn_whose_characters_2_to_4_are_no_local_authority_is_warned_about():
    """DfE CBDS validation 1530 (review case upn-014): E000200005001 has a right check letter, LA 000."""
    assert ids.upn_problem("E000200005001") == "upn_la_number"


@pytest.mark.parametrize("la", ["213", "207", "838", "940", "943", "928", "660"])
def test_upns_of_current_former_and_newer_local_authorities_are_accepted(la):
    """python-stdnum's 2011 list, plus the LA numbers created since (Dorset and BCP 2019, the
    Northamptonshires 2021, Cumberland and Westmorland and Furness 2023) and the Welsh 660-681; a UPN keeps
    an abolished council's number (928 Northamptonshire)."""
    body = la + "200119101"
    from stdnum.gb.upn import calc_check_digit
    assert ids.upn_problem(calc_check_digit(body) + body) is None


def test_an_unknown_la_number_is_a_warning_not_a_rejection():
    from cme_intake.domain.validation import MESSAGES
    assert "1530" in MESSAGES["upn_la_number"]


# --- Item 12: postcode defaults ---------------------------------------------------------------------


def test_districts_that_straddle_camden_go_to_triage_by_default():
    """Statutory review section 3 item 12: NW1 is mostly Camden, WC2 is split with Camden: not Westminster."""
    from cme_intake.domain.referrals import DEFAULT_POSTCODE_DISTRICTS, STRADDLING_DISTRICTS, borough_of
    from cme_shared.contracts.referrals import Address

    assert not STRADDLING_DISTRICTS & DEFAULT_POSTCODE_DISTRICTS.keys()
    for postcode in ("NW1 7AB", "WC2N 5DU"):
        address = Address.model_construct(postcode=postcode)
        assert borough_of(address, DEFAULT_POSTCODE_DISTRICTS) is None
    assert borough_of(Address.model_construct(postcode="W2 1AA"), DEFAULT_POSTCODE_DISTRICTS) is not None
