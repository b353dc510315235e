"""Which referrals open a case, and why (DfE "Children missing education", Aug 2024; SI 2024/208 reg 9).

DOMAIN section 2: a deletion on ground (a) with a known destination school and start date is normally
not a CME case (record it, no case); an unknown destination, a move abroad, ground (h) or (i), a failure
to start, a concern from a partner or the public, and any safeguarding flag open one. A new pupil
return says the child is on a roll: it proposes closing an open case instead (see `referrals`).
"""

from dataclasses import dataclass
from enum import StrEnum

from cme_shared.contracts.events import ReferralAccepted
from cme_shared.contracts.referrals import NotificationKind, SourceType


class Risk(StrEnum):
    STANDARD = "standard"
    HIGH = "high"


class CaseReason(StrEnum):
    """Why a case is open: the "reason" column of the DfE CME return."""

    UNKNOWN_DESTINATION = "unknown_destination"  # a deletion with no known destination (incl. moved abroad)
    NOT_RETURNED_AFTER_LEAVE = "not_returned_after_leave"  # reg 9(1)(h)
    UNEXPLAINED_ABSENCE = "unexplained_absence_20_days"  # reg 9(1)(i)
    EDUCATION_OTHERWISE_NOTIFIED = "education_otherwise_notified"  # reg 9(1)(f): suitability to be confirmed
    PERMANENTLY_EXCLUDED = "permanently_excluded"  # reg 9(1)(o): provision to be arranged
    FAILED_TO_START = "failed_to_start"
    MOVED_NO_FORWARDING_ADDRESS = "moved_no_forwarding_address"
    NEW_ARRIVAL_NOT_IN_SCHOOL = "new_arrival_not_in_school"
    CONCERN_REPORTED = "concern_reported"  # a partner or member of the public says a child is not in school
    SAFEGUARDING_FLAG = "safeguarding_flag"  # a referral that opens only because of its risk flags


class RecordOnly(StrEnum):
    """Why a referral is recorded without opening a case."""

    ON_ROLL_ELSEWHERE = "on_roll_elsewhere"  # ground (a) with destination school and start date
    NOT_CME_GROUND = "not_cme_ground"  # the ground itself says where the child is
    ATTENDANCE_MATTER = "attendance_matter"  # on roll but absent: not CME until deleted (DOMAIN section 1)
    NEW_PUPIL_REGISTERED = "new_pupil_registered"
    CHANGE_OF_CIRCUMSTANCES = "change_of_circumstances"


# Grounds whose deletion says where the child is, so the child is not missing education:
# (c) still registered at the other school, (j) detained, (k) died, (l) over compulsory school age.
NOT_CME_GROUNDS = frozenset({"9(1)(c)", "9(1)(j)", "9(1)(k)", "9(1)(l)"})
GROUND_REASONS = {
    "9(1)(f)": CaseReason.EDUCATION_OTHERWISE_NOTIFIED,
    "9(1)(h)": CaseReason.NOT_RETURNED_AFTER_LEAVE,
    "9(1)(i)": CaseReason.UNEXPLAINED_ABSENCE,
    "9(1)(o)": CaseReason.PERMANENTLY_EXCLUDED,
}
KIND_REASONS = {
    NotificationKind.FAILED_TO_START: CaseReason.FAILED_TO_START,
    NotificationKind.MOVED_NO_FORWARDING_ADDRESS: CaseReason.MOVED_NO_FORWARDING_ADDRESS,
    NotificationKind.NEW_ARRIVAL_NOT_IN_SCHOOL: CaseReason.NEW_ARRIVAL_NOT_IN_SCHOOL,
    NotificationKind.CHILD_NOT_IN_SCHOOL_CONCERN: CaseReason.CONCERN_REPORTED,
    NotificationKind.NOT_ATTENDING: CaseReason.CONCERN_REPORTED,
}


@dataclass(frozen=True)
class OpeningDecision:
    opens_case: bool
    reason: str  # a CaseReason when it opens, a RecordOnly when it does not
    risk: Risk


def is_high_risk(referral: ReferralAccepted) -> bool:
    """A child protection plan, child in need, looked-after status or a safeguarding concern."""
    flags = referral.flags
    flagged = flags is not None and any((flags.child_protection_plan, flags.child_in_need, flags.looked_after))
    return flagged or referral.safeguarding_concern


def has_known_destination(referral: ReferralAccepted) -> bool:
    return bool(referral.destination_school_urn and referral.destination_start_date)


def _without_risk(referral: ReferralAccepted) -> CaseReason | RecordOnly:
    kind = referral.notification_kind
    if kind is NotificationKind.DELETION_FROM_ROLL:
        ground = referral.deletion_ground
        if ground == "9(1)(a)" and has_known_destination(referral):
            return RecordOnly.ON_ROLL_ELSEWHERE
        if ground in NOT_CME_GROUNDS:
            return RecordOnly.NOT_CME_GROUND
        return GROUND_REASONS.get(ground or "", CaseReason.UNKNOWN_DESTINATION)
    if kind is NotificationKind.NOT_ATTENDING and referral.source_type is SourceType.SCHOOL:
        return RecordOnly.ATTENDANCE_MATTER
    if kind is NotificationKind.NEW_PUPIL_REGISTERED:
        return RecordOnly.NEW_PUPIL_REGISTERED
    if kind is NotificationKind.CHANGE_OF_CIRCUMSTANCES:
        return RecordOnly.CHANGE_OF_CIRCUMSTANCES
    return KIND_REASONS[kind]


def decide(referral: ReferralAccepted) -> OpeningDecision:
    risk = Risk.HIGH if is_high_risk(referral) else Risk.STANDARD
    reason = _without_risk(referral)
    if isinstance(reason, CaseReason):
        return OpeningDecision(True, reason.value, risk)
    if risk is Risk.HIGH:
        # Any safeguarding flag opens a case, whatever else the referral says (DOMAIN section 2).
        return OpeningDecision(True, CaseReason.SAFEGUARDING_FLAG.value, risk)
    return OpeningDecision(False, reason.value, risk)


def proposes_closure(referral: ReferralAccepted) -> bool:
    """A new pupil return, or a ground (a) deletion naming the school and start date: the child is on a roll."""
    if referral.notification_kind is NotificationKind.NEW_PUPIL_REGISTERED:
        return True
    return (referral.notification_kind is NotificationKind.DELETION_FROM_ROLL
            and referral.deletion_ground == "9(1)(a)" and has_known_destination(referral))
