"""Which referrals open a case (DfE "Children missing education", Aug 2024; SI 2024/208 reg 9)."""

from dataclasses import dataclass
from enum import StrEnum

from cme_shared.contracts.events import ReferralAccepted
from cme_shared.contracts.referrals import NotificationKind


class Risk(StrEnum):
    STANDARD = "standard"
    HIGH = "high"


@dataclass(frozen=True)
class OpeningDecision:
    opens_case: bool
    reason: str
    risk: Risk


def is_high_risk(referral: ReferralAccepted) -> bool:
    """A child protection plan, child in need, looked-after status or a safeguarding concern."""
    flags = referral.flags
    flagged = flags is not None and any(
        (flags.child_protection_plan, flags.child_in_need, flags.looked_after)
    )
    return flagged or referral.safeguarding_concern


def decide(referral: ReferralAccepted) -> OpeningDecision:
    risk = Risk.HIGH if is_high_risk(referral) else Risk.STANDARD
    kind = referral.notification_kind
    if risk is Risk.HIGH:
        return OpeningDecision(True, kind.value, risk)
    if kind is NotificationKind.DELETION_FROM_ROLL:
        # Ground (a) with a known destination and start date: the child is on a roll; record, no case.
        known_destination = referral.destination_school_urn and referral.destination_start_date
        if referral.deletion_ground == "9(1)(a)" and known_destination:
            return OpeningDecision(False, "deletion_ground_a_with_destination", risk)
        return OpeningDecision(True, f"deletion_from_roll:{referral.deletion_ground or 'unknown_ground'}", risk)
    if kind in (NotificationKind.NEW_PUPIL_REGISTERED, NotificationKind.CHANGE_OF_CIRCUMSTANCES):
        return OpeningDecision(False, kind.value, risk)
    return OpeningDecision(True, kind.value, risk)
