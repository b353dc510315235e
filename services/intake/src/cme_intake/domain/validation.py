"""The defects that do not stop a referral: each becomes a warning naming the field (`loc`) and the rule.

CONTRACT section 3: a referral about a missing child must not be lost over a typo, so everything short of
"cannot be understood" is accepted with warnings. Messages never quote the value (it may be personal).
"""

from dataclasses import dataclass

from cme_shared.contracts.referrals import Address, NotificationKind, Problem, Referral, SourceType
from cme_shared.law.school_age import SchoolAge, school_age_on

from . import identifiers

MESSAGES = {
    "upn_format": "UPN is not 13 characters: a check letter, 11 digits, then a digit or letter",
    "upn_check_letter": "UPN check letter does not match (DfE UPN check letter, mod 23)",
    "upn_la_number": "UPN characters 2-4 are not a local authority number (DfE CBDS validation 1530)",
    "upn_allocated_before_birth": "UPN's year of allocation is before the child's year of birth",
    "nhs_number_format": "NHS number is not 10 digits",
    "nhs_number_check_digit": "NHS number check digit does not match (modulus 11)",
    "postcode_format": "postcode is not a well-formed UK postcode",
    "urn_format": "school URN is not 6 digits",
    "date_of_birth_in_future": "date of birth is after the referral was submitted",
    SchoolAge.BELOW: "child is below compulsory school age on the referral date (Education Act 1996 s8)",
    SchoolAge.OVER: "child is over compulsory school age on the referral date (Education Act 1996 s8)",
    "name_blank": "name is empty",
    "org_id_missing": "source.org_id is missing for a source that is not public or parent",
    "anonymous_contact_discarded": "an anonymous referral named a contact: it was discarded, not stored",
    "deletion_ground_missing": "deletion return without its regulation 9(1) ground (SI 2024/208 reg 13)",
    "return_incomplete": "deletion return lacks a field regulation 13 requires (SI 2024/208 reg 13): ask the school",
    "nul_character_replaced": "a NUL character (U+0000) cannot be stored: it was replaced by U+FFFD",
}


def problem(loc: list[str | int], code: str) -> Problem:
    return Problem(loc=loc, code=code, message=MESSAGES[code])


@dataclass(frozen=True)
class Assessment:
    warnings: list[Problem]
    # SI 2024/208 reg 13: the fields a deletion return lacks (dotted paths), so officers ask for the rest.
    missing_return_fields: list[str]

    @property
    def incomplete_return(self) -> bool:
        return bool(self.missing_return_fields)


def assess(referral: Referral) -> Assessment:
    warnings = [*_source_warnings(referral), *_child_warnings(referral), *_address_warnings(referral),
                *_urn_warnings(referral)]
    missing: list[str] = []
    if referral.notification.kind is NotificationKind.DELETION_FROM_ROLL:
        if referral.notification.deletion_ground is None:
            warnings.append(problem(["notification", "deletion_ground"], "deletion_ground_missing"))
        missing = deletion_return_gaps(referral)
        warnings += [problem(path_loc(path), "return_incomplete") for path in missing]
    return Assessment(warnings, missing)


def deletion_return_gaps(referral: Referral) -> list[str]:
    """What SI 2024/208 reg 13 and the DfE CME guidance (Aug 2024) ask of a deletion return, and it lacks.

    The pupil's full name and address; the full name and address of each parent the pupil normally
    lives with, and at least one telephone number for each; any future address with the date from which
    it applies; the destination school with its start date (where the ground is 9(1)(a), registered at
    another school, both are needed); the ground and the date of deletion.
    """
    child, notification = referral.child, referral.notification
    gaps: list[str] = []
    if not child.first_name.strip() or not child.last_name.strip():
        gaps.append("child.name")
    if child.address is None:
        gaps.append("child.address")
    if notification.deletion_date is None:
        gaps.append("notification.deletion_date")
    parents = [(i, c) for i, c in enumerate(referral.carers) if c.lives_with_child is not False]
    if not parents:
        gaps.append("carers")
    for i, carer in parents:
        if not (carer.first_name and carer.last_name):
            gaps.append(f"carers.{i}.name")
        # A parent the pupil lives with shares the pupil's address when theirs is not given separately.
        if carer.address is None and not (carer.lives_with_child and child.address is not None):
            gaps.append(f"carers.{i}.address")
        if not carer.phones:
            gaps.append(f"carers.{i}.phones")
    if (notification.future_address is None) != (notification.future_address_from is None):
        gaps.append("notification.future_address" if notification.future_address is None
                    else "notification.future_address_from")
    if (notification.destination_school_urn is None) != (notification.destination_start_date is None):
        gaps.append("notification.destination_school_urn" if notification.destination_school_urn is None
                    else "notification.destination_start_date")
    elif notification.deletion_ground == "9(1)(a)" and notification.destination_school_urn is None:
        gaps += ["notification.destination_school_urn", "notification.destination_start_date"]
    return gaps


def path_loc(path: str) -> list[str | int]:
    return [int(part) if part.isdigit() else part for part in path.split(".")]


def _source_warnings(referral: Referral) -> list[Problem]:
    source = referral.source
    warnings = []
    if source.type not in (SourceType.PUBLIC, SourceType.PARENT) and not (source.org_id or "").strip():
        warnings.append(problem(["source", "org_id"], "org_id_missing"))
    if source.anonymous and source.contact is not None:
        warnings.append(problem(["source", "contact"], "anonymous_contact_discarded"))
    return warnings


def _child_warnings(referral: Referral) -> list[Problem]:
    child = referral.child
    warnings = []
    for name in ("first_name", "last_name"):
        if not getattr(child, name).strip():
            warnings.append(problem(["child", name], "name_blank"))
    if child.upn is not None and (code := identifiers.upn_problem(child.upn, child.date_of_birth)):
        warnings.append(problem(["child", "upn"], code))
    if child.nhs_number is not None and (code := identifiers.nhs_number_problem(child.nhs_number)):
        warnings.append(problem(["child", "nhs_number"], code))
    if child.date_of_birth is not None:
        referred_on = referral.submitted_at.date()
        if child.date_of_birth > referred_on:
            warnings.append(problem(["child", "date_of_birth"], "date_of_birth_in_future"))
        elif (age := school_age_on(child.date_of_birth, referred_on)) is not SchoolAge.COMPULSORY:
            warnings.append(problem(["child", "date_of_birth"], age.value))
    return warnings


def _address_warnings(referral: Referral) -> list[Problem]:
    addresses: list[tuple[list[str | int], Address | None]] = [
        (["child", "address"], referral.child.address),
        (["notification", "future_address"], referral.notification.future_address),
        *((["carers", i, "address"], carer.address) for i, carer in enumerate(referral.carers)),
    ]
    return [
        problem([*loc, "postcode"], "postcode_format")
        for loc, address in addresses
        if address is not None and address.postcode is not None and not identifiers.is_postcode(address.postcode)
    ]


def _urn_warnings(referral: Referral) -> list[Problem]:
    urns: list[tuple[list[str | int], str | None]] = [
        (["child", "current_school_urn"], referral.child.current_school_urn),
        (["child", "previous_school_urn"], referral.child.previous_school_urn),
        (["notification", "destination_school_urn"], referral.notification.destination_school_urn),
    ]
    return [problem(loc, "urn_format") for loc, urn in urns if urn is not None and not identifiers.is_school_urn(urn)]
