"""What an accepted referral writes into a child's history: opening, joining, reopening or only recording.

The referral's facts are copied into the entry (the record of what the partner told us and when);
personal data travels no further than the fields casework needs (sex, date of birth, UPN for the DfE
return and matching), each entry tagged with its data category.
"""

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from typing import Any
from uuid import UUID

from cme_shared.contracts.categories import DataCategory
from cme_shared.contracts.events import ReferralAccepted
from cme_shared.contracts.referrals import Sex, SourceType

from . import opening
from .clocks import ClockPolicy
from .closure import ClosureReason
from .history import SYSTEM_INTAKE, Entry, Kind
from .lifecycle import CaseState
from .opening import OpeningDecision, Risk, Route


SEX_VALUES = frozenset(s.value for s in Sex)


def _private(referral: ReferralAccepted) -> bool:
    return referral.source_type in (SourceType.PUBLIC, SourceType.PARENT)


def referral_source(referral: ReferralAccepted) -> str:
    """Where the information came from (Art 15(1)(g)); a member of the public or parent is never named."""
    if _private(referral):
        return referral.source_type.value
    return f"{referral.source_type.value}:{referral.source_org_name or referral.source_org_id or 'unknown'}"


def referral_detail(referral: ReferralAccepted) -> dict[str, Any]:
    return {
        "intake_id": str(referral.intake_id),
        "referral_id": referral.referral_id,
        "source_type": referral.source_type.value,
        "source_org_id": None if _private(referral) else referral.source_org_id,
        "received_at": referral.received_at.isoformat(),
        "borough": referral.borough.value if referral.borough else None,
        "notification_kind": referral.notification_kind.value,
        "deletion_ground": referral.deletion_ground,
        "deletion_date": _iso(referral.deletion_date),
        "destination_school_urn": referral.destination_school_urn,
        "destination_start_date": _iso(referral.destination_start_date),
        "last_attended_on": _iso(referral.last_attended_on),
        "warnings": list(referral.warnings),
        # SI 2024/208 reg 13: an incomplete return is kept; the officer asks the school for the rest.
        "incomplete_return": referral.incomplete_return,
        "missing_return_fields": list(referral.missing_return_fields),
        # Other subjects the identity index thinks may be this child: a possible duplicate case.
        "possible_match_subject_ids": [str(s) for s in referral.possible_match_subject_ids],
        "new_address_from": _iso(referral.new_address_from),
        "new_address_borough": referral.new_address_borough.value if referral.new_address_borough else None,
    }


def child_facts(referral: ReferralAccepted) -> dict[str, Any]:
    return {"sex": known_sex(referral.child_sex), "date_of_birth": _iso(referral.child_date_of_birth),
            "upn": referral.child_upn}


def known_sex(value: str) -> str:
    """The event's `child_sex` is free text in the contract; casework keeps only a value of `Sex` (the DfE
    return's categories), so nothing else reaches a case, a census cell or another service (SEC-26)."""
    return value if value in SEX_VALUES else Sex.UNKNOWN.value


def missing_since(referral: ReferralAccepted) -> date | None:
    """When the child was last known to be in education: the last day attended, else the deletion date."""
    return referral.last_attended_on or referral.deletion_date


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _entry(referral: ReferralAccepted, kind: Kind, reason: str, referred_on: date, detail: dict[str, Any],
           category: DataCategory = DataCategory.EDUCATION) -> Entry:
    return Entry(kind=kind, actor=SYSTEM_INTAKE, reason=reason, effective_on=referred_on, category=category,
                 source=referral_source(referral), detail=detail)


DEFAULT_POLICY = ClockPolicy()


def escalation_target(referral: ReferralAccepted) -> str:
    """A child already known to social care goes to the allocated team; a new concern goes to MASH."""
    flags = referral.flags.model_dump() if referral.flags else {}
    allocated = any(flags.get(k) for k in ("child_protection_plan", "child_in_need", "looked_after"))
    return "childrens_social_care" if allocated else "mash"


def _risk_entries(referral: ReferralAccepted, referred_on: date, policy: ClockPolicy, *,
                  raise_risk: bool = True) -> list[Entry]:
    """A high-risk child: the risk recorded, and an escalation due the same working day (DOMAIN section 2;
    configurable per borough, `ClockPolicy.escalation_working_days`)."""
    flags = referral.flags.model_dump() if referral.flags else {}
    to = escalation_target(referral)
    due_on = policy.escalation_due(_borough(referral), referred_on)
    statutory = DataCategory.STATUTORY_SERVICES
    risk = _entry(referral, Kind.RISK_RAISED, "a child protection plan, child in need, looked after or safeguarding "
                  "concern", referred_on, {"risk": Risk.HIGH.value, "flags": flags,
                                           "safeguarding_concern": referral.safeguarding_concern}, statutory)
    return [
        *([risk] if raise_risk else []),
        _entry(referral, Kind.ESCALATION_REQUIRED, f"high risk: escalate to {to} by {due_on.isoformat()}",
               referred_on, {"escalation_id": str(uuid.uuid4()), "to": to, "due_on": due_on.isoformat()}, statutory),
    ]


def _borough(referral: ReferralAccepted) -> str | None:
    return referral.borough.value if referral.borough else None


def open_case(referral: ReferralAccepted, decision: OpeningDecision, case_id: UUID, referred_on: date,
              policy: ClockPolicy = DEFAULT_POLICY) -> list[Entry]:
    detail = {
        "case_id": str(case_id), "child_subject_id": str(referral.child_subject_id), "reason": decision.reason,
        "risk": Risk.STANDARD.value, "borough": _borough(referral),
        "child": child_facts(referral), "carer_subject_ids": [str(c) for c in referral.carer_subject_ids],
        "missing_since": _iso(missing_since(referral)), "referral": referral_detail(referral),
        "check_start_on": _iso(decision.check_start_on),
    }
    opened = _entry(referral, Kind.CASE_OPENED, f"referral opens a case: {decision.reason}", referred_on, detail)
    return [opened, *(_risk_entries(referral, referred_on, policy) if decision.risk is Risk.HIGH else [])]


def reopen_case(state: CaseState, referral: ReferralAccepted, decision: OpeningDecision,
                referred_on: date, policy: ClockPolicy = DEFAULT_POLICY) -> list[Entry]:
    detail = {
        "reason": decision.reason, "risk": Risk.STANDARD.value, "child": child_facts(referral),
        "carer_subject_ids": [str(c) for c in referral.carer_subject_ids],
        "missing_since": _iso(missing_since(referral)), "referral": referral_detail(referral),
        "check_start_on": _iso(decision.check_start_on),
    }
    reopened = _entry(referral, Kind.CASE_REOPENED, f"a new referral reopens the case: {decision.reason}",
                      referred_on, detail)
    return [reopened, *(_risk_entries(referral, referred_on, policy) if decision.risk is Risk.HIGH else [])]


def join_case(state: CaseState, referral: ReferralAccepted, decision: OpeningDecision,
              referred_on: date, policy: ClockPolicy = DEFAULT_POLICY) -> list[Entry]:
    """A further referral about a child with an open case joins it; it never opens a second one."""
    detail = {"referral": referral_detail(referral), "child": child_facts(referral),
              "carer_subject_ids": [str(c) for c in referral.carer_subject_ids]}
    entries = [_entry(referral, Kind.REFERRAL_JOINED, "a further referral about a child with an open case",
                      referred_on, detail)]
    if decision.risk is Risk.HIGH and not state.pending_escalations:
        # New information about a high-risk child goes to social care, unless an escalation is still open.
        entries += _risk_entries(referral, referred_on, policy, raise_risk=state.risk is not Risk.HIGH)
    if state.borough is None and referral.borough is not None:
        entries.append(_entry(referral, Kind.BOROUGH_ASSIGNED, "the referral names the borough", referred_on,
                              {"borough": referral.borough.value, "previous": None}, DataCategory.CONTACT))
    if Route.ELECTIVE_HOME_EDUCATION in decision.routes:
        # The EHE team hears of the notice even while a CME case is open (it may then close as assessed).
        entries.append(_routed_to_ehe(referral, decision, referred_on))
    if opening.proposes_closure(referral) and state.proposal is None:
        proposal = {"closure_reason": ClosureReason.ON_ROLL_ELSEWHERE.value,
                    "evidence": _on_roll_evidence(referral, referred_on)}
        entries.append(_entry(referral, Kind.CLOSURE_PROPOSED,
                              "the child is registered at a school: an officer confirms", referred_on, proposal))
    return entries


def _on_roll_evidence(referral: ReferralAccepted, referred_on: date) -> dict[str, Any]:
    """What the return itself proves: the school (a new pupil return comes from it) and the start date."""
    school = referral.destination_school_urn or (
        referral.source_org_id if referral.source_type is SourceType.SCHOOL else None)
    start = referral.destination_start_date or referred_on
    return {"school_urn": school, "start_date": start.isoformat(), "confirmed_by": referral_source(referral)}


def record_only(referral: ReferralAccepted, decision: OpeningDecision, referred_on: date,
                policy: ClockPolicy = DEFAULT_POLICY) -> list[Entry]:
    """A referral that opens no case: recorded (with a follow-up date for a child below compulsory school
    age), and routed on where the decision says: to elective home education, to the safeguarding route."""
    detail: dict[str, Any] = {"referral": referral_detail(referral), "child": child_facts(referral),
                              "decision": decision.reason, "follow_up_on": _iso(decision.follow_up_on)}
    why = f"recorded, no case: {decision.reason}"
    if decision.follow_up_on is not None:
        why += f"; follow up when of compulsory school age ({decision.follow_up_on.isoformat()})"
    entries = [_entry(referral, Kind.REFERRAL_RECORDED, why, referred_on, detail)]
    if Route.ELECTIVE_HOME_EDUCATION in decision.routes:
        entries.append(_routed_to_ehe(referral, decision, referred_on))
    if Route.SAFEGUARDING in decision.routes:
        to = escalation_target(referral)
        due_on = policy.escalation_due(_borough(referral), referred_on)
        entries.append(_entry(
            referral, Kind.ROUTED_TO_SAFEGUARDING,
            f"safeguarding flag on a child who is not CME ({decision.reason}): refer to {to} by {due_on.isoformat()}, "
            "no CME case", referred_on,
            {"route": Route.SAFEGUARDING.value, "to": to, "due_on": due_on.isoformat(), "decision": decision.reason,
             "flags": referral.flags.model_dump() if referral.flags else {},
             "safeguarding_concern": referral.safeguarding_concern, "referral": referral_detail(referral)},
            DataCategory.STATUTORY_SERVICES))
    return entries


def _routed_to_ehe(referral: ReferralAccepted, decision: OpeningDecision, referred_on: date) -> Entry:
    """The hand-off to elective home education: the EHE record itself is a later issue (issue 14, item 2)."""
    return _entry(referral, Kind.ROUTED_TO_EHE,
                  f"education otherwise ({referral.deletion_ground}): not CME until assessed; for the EHE team",
                  referred_on, {"route": Route.ELECTIVE_HOME_EDUCATION.value, "decision": decision.reason,
                                "referral": referral_detail(referral), "child": child_facts(referral)})


def hold_restricted(referral: ReferralAccepted, referred_on: date) -> Entry:
    """UK GDPR Art 18: a referral about a restricted subject is stored, not acted on, until an officer
    records an exception (POST /referrals/held/{id}/release) or the restriction is lifted. A high-risk
    referral is never held (`restriction.SAFEGUARDING_EXCEPTION`)."""
    # The whole event is kept, so that it can be acted on exactly as it came once the restriction ends.
    return _entry(referral, Kind.REFERRAL_HELD_RESTRICTED, "subject restricted: stored, not processed", referred_on,
                  {"referral": referral_detail(referral), "child": child_facts(referral),
                   "decision": opening.decide(referral).reason, "event": referral.model_dump(mode="json")})


def with_exception(entries: Sequence[Entry], exception: dict[str, Any] | None) -> list[Entry]:
    """The entries a referral writes, each carrying the restriction exception it was processed under."""
    if exception is None:
        return list(entries)
    return [replace(e, detail={**e.detail, "restriction_exception": exception}) for e in entries]
