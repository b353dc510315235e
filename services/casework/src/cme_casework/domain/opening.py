"""Which referrals open a case, and why (DfE "Children missing education" statutory guidance, Aug 2024,
updated 8 Sep 2025; SI 2024/208 reg 9; Education Act 1996 ss8, 436A).

DOMAIN section 2: a deletion on ground (a) with a known destination school and start date is normally
not a CME case (record it, no case); an unknown destination, a move abroad, ground (h) or (i), a failure
to start, a concern from a partner or the public, and any safeguarding flag open one. A new pupil
return says the child is on a roll: it proposes closing an open case instead (see `referrals`).

Who is not CME, and so never opens a CME case (statutory review 2026-12, D4, D5, section 3 items 6, 7):
- s436A covers children of compulsory school age only (s8; SI 1998/1607; SI 1997/1970). A child below
  or over it is recorded without a case; one below it gets a follow-up on the day they reach it.
- Ground (f) (the parent's written notice of education otherwise) and ground (e) (an SAO revoked because
  suitable education otherwise is arranged): the DfE guidance (8 Sep 2025, "Who are children missing
  education") says children in elective home education the LA has not yet assessed are not CME, nor
  those receiving suitable education otherwise. Recorded, no case, routed to elective home education
  (`routed_to_ehe`); a CME case opens later only if that education is found unsuitable or absent.
- Ground (a) naming the school and a start date later than the deletion: the same guidance counts a
  child offered a place for a future date who has not started as CME. Decision (documented in the
  README): when the child misses more than `start_gap_school_days` school days between the deletion and
  the start (default 5: DOMAIN's "normally"), a case opens as `destination_known_check_start`, due a
  check on the start date; a new pupil return from the school then proposes its closure.
- Ground (d) (SAO amended to name a school): the council's own order names the school, so the case is
  `destination_known_check_start`, not `unknown_destination`.
- A safeguarding flag on a referral that is not CME for another reason (out of school age, grounds (c),
  (j), (k), (l), (e), (f)) escalates on the safeguarding route (`routed_to_safeguarding`: MASH / social
  care, due as an escalation is) without a CME case: the safeguarding route is right, a CME case is not.
  A flag still opens a case where the child may be CME (DOMAIN section 2), ground (a) included.
"""

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from zoneinfo import ZoneInfo

from cme_shared.contracts.events import ReferralAccepted
from cme_shared.contracts.referrals import NotificationKind, SourceType
from cme_shared.law.school_age import SchoolAge, compulsory_school_age_starts, school_age_on

from .school_days import WORKING_DAYS_ONLY, TermCalendar, school_days_between

LONDON = ZoneInfo("Europe/London")


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
    # Ground (a) with a start date after a gap, or (d) an SAO naming the school: is the child there?
    DESTINATION_KNOWN_CHECK_START = "destination_known_check_start"
    # An EHE record's education assessed unsuitable or none evident, or an s437(1) notice not answered
    # satisfactorily (domain/ehe.py): the child is CME from that day.
    EHE_EDUCATION_UNSUITABLE = "ehe_education_unsuitable"


# Reasons a case may carry from before the rules above that are not CME: never counted in the DfE return.
NOT_CME_REASONS = frozenset({CaseReason.EDUCATION_OTHERWISE_NOTIFIED.value})


class RecordOnly(StrEnum):
    """Why a referral is recorded without opening a case."""

    ON_ROLL_ELSEWHERE = "on_roll_elsewhere"  # ground (a) with destination school and start date
    NOT_CME_GROUND = "not_cme_ground"  # the ground itself says where the child is
    ATTENDANCE_MATTER = "attendance_matter"  # on roll but absent: not CME until deleted (DOMAIN section 1)
    NEW_PUPIL_REGISTERED = "new_pupil_registered"
    CHANGE_OF_CIRCUMSTANCES = "change_of_circumstances"
    EDUCATION_OTHERWISE = "education_otherwise"  # ground (e) or (f): routed to elective home education
    BELOW_COMPULSORY_SCHOOL_AGE = "below_compulsory_school_age"  # s436A: not CME (yet)
    OVER_COMPULSORY_SCHOOL_AGE = "over_compulsory_school_age"  # s436A: not CME


class Route(StrEnum):
    """Where a referral that opens no CME case is sent on (a history entry, listed on GET /referrals/routed)."""

    ELECTIVE_HOME_EDUCATION = "elective_home_education"  # the EHE record is a later issue: this is the hand-off
    SAFEGUARDING = "safeguarding"  # MASH / children's social care, without a CME case


# Grounds whose deletion says where the child is, so the child is not missing education:
# (c) still registered at the other school, (j) detained, (k) died, (l) over compulsory school age.
NOT_CME_GROUNDS = frozenset({"9(1)(c)", "9(1)(j)", "9(1)(k)", "9(1)(l)"})
# (e) SAO revoked because suitable education otherwise is arranged; (f) the parent's notice of education
# otherwise: not CME until assessed (DfE CME guidance, 8 Sep 2025).
EDUCATION_OTHERWISE_GROUNDS = frozenset({"9(1)(e)", "9(1)(f)"})
GROUND_REASONS = {
    "9(1)(d)": CaseReason.DESTINATION_KNOWN_CHECK_START,
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
    routes: tuple[Route, ...] = ()  # where a referral opening no case is sent on
    follow_up_on: date | None = None  # a child below compulsory school age: the day they reach it
    check_start_on: date | None = None  # destination known: the start date to check


@dataclass(frozen=True)
class OpeningRules:
    """What `decide` needs beyond the referral: the borough's school days and the configured gap."""

    calendar: TermCalendar = WORKING_DAYS_ONLY
    start_gap_school_days: int = 5


def is_high_risk(referral: ReferralAccepted) -> bool:
    """A child protection plan, child in need, looked-after status or a safeguarding concern."""
    flags = referral.flags
    flagged = flags is not None and any((flags.child_protection_plan, flags.child_in_need, flags.looked_after))
    return flagged or referral.safeguarding_concern


def has_known_destination(referral: ReferralAccepted) -> bool:
    return bool(referral.destination_school_urn and referral.destination_start_date)


def referred_on(referral: ReferralAccepted) -> date:
    return referral.received_at.astimezone(LONDON).date()


def starts_after_a_gap(referral: ReferralAccepted, rules: OpeningRules) -> bool:
    """Ground (a): the child misses more than the allowed school days between deletion and start."""
    start = referral.destination_start_date
    assert start is not None
    deleted = referral.deletion_date or referred_on(referral)
    gap = rules.start_gap_school_days
    return school_days_between(rules.calendar, deleted, start, stop_after=gap) > gap


def _without_risk(referral: ReferralAccepted, rules: OpeningRules) -> CaseReason | RecordOnly:
    kind = referral.notification_kind
    if kind is NotificationKind.DELETION_FROM_ROLL:
        ground = referral.deletion_ground
        if ground == "9(1)(a)" and has_known_destination(referral):
            if starts_after_a_gap(referral, rules):
                return CaseReason.DESTINATION_KNOWN_CHECK_START
            return RecordOnly.ON_ROLL_ELSEWHERE
        if ground in NOT_CME_GROUNDS:
            return RecordOnly.NOT_CME_GROUND
        if ground in EDUCATION_OTHERWISE_GROUNDS:
            return RecordOnly.EDUCATION_OTHERWISE
        return GROUND_REASONS.get(ground or "", CaseReason.UNKNOWN_DESTINATION)
    if kind is NotificationKind.NOT_ATTENDING and referral.source_type is SourceType.SCHOOL:
        return RecordOnly.ATTENDANCE_MATTER
    if kind is NotificationKind.NEW_PUPIL_REGISTERED:
        return RecordOnly.NEW_PUPIL_REGISTERED
    if kind is NotificationKind.CHANGE_OF_CIRCUMSTANCES:
        return RecordOnly.CHANGE_OF_CIRCUMSTANCES
    return KIND_REASONS[kind]


# Record-only reasons where a safeguarding flag escalates without a CME case: the child is not CME.
NOT_CME = frozenset({RecordOnly.NOT_CME_GROUND, RecordOnly.EDUCATION_OTHERWISE,
                     RecordOnly.BELOW_COMPULSORY_SCHOOL_AGE, RecordOnly.OVER_COMPULSORY_SCHOOL_AGE})


def _school_age(referral: ReferralAccepted) -> RecordOnly | None:
    """s436A: outside compulsory school age on the day of the referral (an unknown date of birth is not)."""
    born = referral.child_date_of_birth
    age = school_age_on(born, referred_on(referral)) if born is not None else SchoolAge.COMPULSORY
    return None if age is SchoolAge.COMPULSORY else RecordOnly(age.value)


def decide(referral: ReferralAccepted, rules: OpeningRules | None = None) -> OpeningDecision:
    rules = rules or OpeningRules()
    risk = Risk.HIGH if is_high_risk(referral) else Risk.STANDARD
    reason = _school_age(referral) or _without_risk(referral, rules)
    if isinstance(reason, CaseReason):
        check = referral.destination_start_date if reason is CaseReason.DESTINATION_KNOWN_CHECK_START else None
        return OpeningDecision(True, reason.value, risk, check_start_on=check)
    routes = (Route.ELECTIVE_HOME_EDUCATION,) if reason is RecordOnly.EDUCATION_OTHERWISE else ()
    if risk is Risk.HIGH and reason in NOT_CME:
        # Item 7: the safeguarding route, but no CME case for a child who is not CME.
        routes = (*routes, Route.SAFEGUARDING)
    elif risk is Risk.HIGH:
        # Any safeguarding flag opens a case, whatever else the referral says (DOMAIN section 2).
        return OpeningDecision(True, CaseReason.SAFEGUARDING_FLAG.value, risk)
    follow_up = None
    if reason is RecordOnly.BELOW_COMPULSORY_SCHOOL_AGE and referral.child_date_of_birth is not None:
        follow_up = compulsory_school_age_starts(referral.child_date_of_birth)
    return OpeningDecision(False, reason.value, risk, routes, follow_up)


def proposes_closure(referral: ReferralAccepted) -> bool:
    """A new pupil return, or a ground (a) deletion naming the school and start date: the child is on a roll."""
    if referral.notification_kind is NotificationKind.NEW_PUPIL_REGISTERED:
        return True
    return (referral.notification_kind is NotificationKind.DELETION_FROM_ROLL
            and referral.deletion_ground == "9(1)(a)" and has_known_destination(referral))
