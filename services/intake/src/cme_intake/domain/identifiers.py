"""Identifiers a referral carries: UPN, NHS number, postcode, school URN. Pure checks, no I/O.

Each check returns the rule a value breaks (a warning code) or None: a bad identifier never loses a
referral (CONTRACT section 3), it is only kept out of identity matching.
"""

import re
from datetime import date

from stdnum.exceptions import InvalidComponent
from stdnum.gb import nhs, upn as stdnum_upn
from stdnum.gb.upn import calc_check_digit

# DfE "Unique Pupil Numbers (UPNs)" guidance: the check letter is one of 23 letters (no I, O or S);
# characters 2-12 are digits (LA number, DfE establishment number, year of allocation, serial) and
# character 13 is a digit, or a letter in a temporary UPN.
UPN_CHECK_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"
_UPN_SHAPE = re.compile(rf"[{UPN_CHECK_LETTERS}]\d{{11}}[\d{UPN_CHECK_LETTERS}]")
UPNS_INTRODUCED = 1999
# DfE CBDS validation 1530: characters 2-4 of a UPN must be a local authority number. The list is
# python-stdnum's (`stdnum.gb.upn`, from DfE "New local authority codes", January 2011, every code a
# UPN issued since may carry), with the LA numbers created since, committed here (DfE / Get Information
# about Schools local authority codes): 838 Dorset and 839 Bournemouth, Christchurch and Poole (April
# 2019), 940 North and 941 West Northamptonshire (April 2021), 942 Cumberland and 943 Westmorland and
# Furness (April 2023); and the Welsh authorities' 660-681, whose schools issue UPNs of the same form.
# A UPN keeps the number it was issued under, so the numbers of abolished councils stay valid.
LA_NUMBERS_SINCE_2011 = frozenset({838, 839, 940, 941, 942, 943, *range(660, 682)})


def compact_upn(value: str) -> str:
    return re.sub(r"\s", "", value).upper()


def upn_problem(value: str, date_of_birth: date | None = None) -> str | None:
    """`upn_format`, `upn_check_letter`, `upn_la_number` or `upn_allocated_before_birth`; None for a
    plausible UPN.

    The check letter is computed mod 23 over characters 2-13 weighted 2..13 (a digit counts its value,
    a temporary UPN's final letter its place in the check-letter alphabet, as python-stdnum does).
    """
    upn = compact_upn(value)
    if not _UPN_SHAPE.fullmatch(upn):
        return "upn_format"
    if calc_check_digit(upn[1:]) != upn[0]:
        return "upn_check_letter"
    if not _known_la_number(upn):
        return "upn_la_number"
    if date_of_birth is not None and _upn_allocation_year(upn) < date_of_birth.year:
        # A UPN is allocated on first entry to a maintained school: never before the child was born.
        return "upn_allocated_before_birth"
    return None


def _known_la_number(upn: str) -> bool:
    """Characters 2-4 name a local authority (DfE CBDS validation 1530)."""
    if int(upn[1:4]) in LA_NUMBERS_SINCE_2011:
        return True
    try:
        stdnum_upn.validate(upn)  # its only check the shape and check letter above leave: the LA number
    except InvalidComponent:
        return False
    return True


def _upn_allocation_year(upn: str) -> int:
    yy = int(upn[8:10])  # characters 9-10: the year of allocation
    return 1900 + yy if 1900 + yy >= UPNS_INTRODUCED else 2000 + yy


def compact_nhs_number(value: str) -> str:
    return nhs.compact(value)


def nhs_number_problem(value: str) -> str | None:
    """`nhs_number_format` (not 10 digits) or `nhs_number_check_digit` (modulus 11 fails)."""
    number = compact_nhs_number(value)
    if not (number.isascii() and number.isdigit() and len(number) == 10):
        return "nhs_number_format"
    return None if nhs.is_valid(number) else "nhs_number_check_digit"


# The format of a UK postcode (Royal Mail; the GOV.UK "Bulk Data Transfer" pattern), with GIR 0AA.
_POSTCODE = re.compile(
    r"GIR0AA|[A-PR-UWYZ](?:\d{1,2}|[A-HK-Y]\d|[A-HK-Y]\d[\dABEHMNPRV-Y]|\d[A-HJKPS-UW])\d[ABD-HJLNP-UW-Z]{2}"
)


def postcode_key(value: str) -> str:
    """Upper case without spaces: the form postcodes are compared in."""
    return re.sub(r"\s", "", value).upper()


def is_postcode(value: str) -> bool:
    return _POSTCODE.fullmatch(postcode_key(value)) is not None


def normalise_postcode(value: str) -> str | None:
    """`w21aa` -> `W2 1AA`; None when the value is not a well-formed postcode."""
    key = postcode_key(value)
    return f"{key[:-3]} {key[-3:]}" if is_postcode(key) else None


def postcode_district(value: str) -> str | None:
    """The outward code (`W2`) of a well-formed postcode."""
    normal = normalise_postcode(value)
    return normal.split(" ")[0] if normal else None


def is_school_urn(value: str) -> bool:
    """A school's unique reference number: six digits (Get Information about Schools)."""
    return re.fullmatch(r"\d{6}", value) is not None
