"""Elective home education (EHE) records: the notice, enquiries about suitability, the assessment, and the
school attendance order pathway, each step with its own clock (issue 14, item 2; statutory review 2026-12, D4).

Sources:
- Education Act 1996 s7: the parent's duty to cause the child to receive efficient full-time education
  suitable to age, ability, aptitude and any special educational needs, "either by regular attendance at
  school or otherwise".
- SI 2024/208 reg 9(1)(f): a school deletes a pupil on the parent's written notice of education otherwise
  (and reg 13 makes it tell the council); reg 9(1)(e): a school attendance order (SAO) revoked (s442)
  because suitable education is arranged otherwise. Neither child is CME (DfE "Children missing education",
  8 Sep 2025: children in EHE the council has not assessed are not CME).
- DfE "Elective home education: departmental guidance for local authorities" (April 2019), section 6
  (paras 6.1-6.17 in the 2019 text): the council makes informal enquiries of the parent first, takes the
  parent's response into account, and reaches a view on suitability; only when it appears that suitable
  education is not being provided does it use the formal s437 route. It should review a suitable
  arrangement periodically (normally once a year: `EheRules.review_months`).
- Education Act 1996 s437(1)-(2): "If it appears to a local authority that a child of compulsory school age
  in their area is not receiving suitable education", it serves a notice requiring the parent to satisfy
  it, within the period the notice specifies, that the child is; that period "shall not be less than 15
  days beginning with the day on which it is served".
- s438(2)-(4): before an SAO the council serves a notice of its intention, naming the school it intends
  to name (and any alternatives); the parent may, within "15 days beginning with the day on which the
  notice is served", choose a school.
- s437(3): if the parent fails to satisfy it within the s437 period and it is expedient that the child
  attend school, the council serves an SAO naming a school. s442: the council may revoke an order (for
  example because arrangements are made for education otherwise).

An unsuitable assessment, one with no education evident, or an s437 notice the parent does not answer
satisfactorily, makes the child CME from that day: casework opens (or joins, or reopens) a CME case with
reason `ehe_education_unsuitable`, linked both ways (`service_layer/ehe.py`). A suitable assessment
schedules a review. EHE records are never counted in the CME census; they have their own count.

LOCAL RULES (configurable, no statutory number): the working days within which the council makes its first
enquiry, expects a response, assesses, serves the s437 and s438 notices and makes the order.

The record is append-only (`ehe_history`); the state is what its entries add up to (`fold`), and the
`ehe_records` table is a projection of it, as `cases` is of `case_history`.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from cme_shared.contracts.categories import DataCategory
from cme_shared.law.calendar import is_working_day, next_working_day

from .closure import Problem
from .errors import EvidenceRefused, TransitionRefused


class EheKind(StrEnum):
    NOTICE_RECEIVED = "notice_received"  # the notice of education otherwise (a further one is added, never a new record)
    ENQUIRY_MADE = "enquiry_made"  # informal enquiry of the parent (2019 guidance, section 6)
    PARENT_RESPONDED = "parent_responded"
    ASSESSMENT_RECORDED = "assessment_recorded"  # suitable | unsuitable | no_education_evident
    S437_NOTICE_SERVED = "s437_notice_served"  # Education Act 1996 s437(1)
    S437_RESPONSE_RECORDED = "s437_response_recorded"  # did the parent satisfy the council within the period?
    S438_NOTICE_SERVED = "s438_notice_served"  # notice of intention to serve an SAO (s438)
    ORDER_MADE = "school_attendance_order_made"  # s437(3)
    ORDER_REVOKED = "school_attendance_order_revoked"  # s442
    S437_PERIOD_LAPSED = "s437_period_lapsed"  # the s437(1) period ended without an answer (recorded by casework)
    CME_CASE_LINKED = "cme_case_linked"  # the CME case the outcome opened, joined or reopened
    RECORD_CLOSED = "record_closed"


class NoticeSource(StrEnum):
    DELETION_GROUND_F = "deletion_return_ground_f"  # a school's deletion return, SI 2024/208 reg 9(1)(f)
    SAO_REVOKED_GROUND_E = "sao_revoked_ground_e"  # reg 9(1)(e): an SAO revoked for education otherwise
    PARENT_WRITTEN_NOTICE = "parent_written_notice"  # the parent told the council in writing


class Outcome(StrEnum):
    SUITABLE = "suitable"
    UNSUITABLE = "unsuitable"
    NO_EDUCATION_EVIDENT = "no_education_evident"


NOT_SUITABLE = frozenset({Outcome.UNSUITABLE, Outcome.NO_EDUCATION_EVIDENT})


class EheStatus(StrEnum):
    NOTIFIED = "notified"  # notice received, no enquiry yet
    ENQUIRIES = "enquiries"  # informal enquiries under way
    SUITABLE = "suitable"  # assessed suitable: monitored, review due
    UNSUITABLE = "unsuitable"  # assessed unsuitable or no education evident: the s437 route
    S437_NOTICE = "s437_notice"
    S438_NOTICE = "s438_notice"
    ORDER = "school_attendance_order"
    CLOSED = "closed"


OPEN_STATUSES = frozenset(EheStatus) - {EheStatus.CLOSED}
# The statuses in which the council has found the education unsuitable (or none): the child is CME.
FOUND_UNSUITABLE = frozenset({EheStatus.UNSUITABLE, EheStatus.S437_NOTICE, EheStatus.S438_NOTICE, EheStatus.ORDER})


class DueKind(StrEnum):
    ENQUIRY = "enquiry"
    PARENT_RESPONSE = "parent_response"
    ASSESSMENT = "assessment"
    REVIEW = "review"
    S437_NOTICE = "s437_notice"
    S437_PERIOD_ENDS = "s437_period_ends"
    S438_NOTICE = "s438_notice"
    S438_SCHOOL_CHOICE = "s438_school_choice"


class RevocationGround(StrEnum):
    EDUCATION_OTHERWISE = "education_otherwise"  # s442(2)-(4): suitable education otherwise arranged
    REGISTERED_AT_SCHOOL = "registered_at_school"
    OTHER = "other"


class ClosureGround(StrEnum):
    REGISTERED_AT_SCHOOL = "registered_at_school"
    MOVED_OUT_OF_AREA = "moved_out_of_area"
    OVER_COMPULSORY_SCHOOL_AGE = "over_compulsory_school_age"
    DECEASED = "deceased"
    OTHER = "other"


# Education Act 1996 s437(2): the period "shall not be less than 15 days beginning with the day on which it
# is served"; s438(4): the parent may choose a school "within 15 days beginning with the day on which the
# notice is served".
S437_MIN_PERIOD_DAYS = 15
S438_CHOICE_DAYS = 15


@dataclass(frozen=True)
class EheRules:
    """The local clocks (working days, England) and the review interval; configurable (settings)."""

    enquiry_working_days: int = 10  # notice -> first informal enquiry
    response_working_days: int = 15  # enquiry -> the parent's response, unless the enquiry gives a date
    assessment_working_days: int = 10  # the parent's response -> the council's view on suitability
    s437_working_days: int = 10  # found unsuitable -> the s437(1) notice
    s438_working_days: int = 10  # s437 period over, unsatisfied -> the s438 notice
    review_months: int = 12  # suitable -> the next review (2019 guidance: normally annually)


@dataclass(frozen=True)
class EheEntry:
    """One EHE history entry, as `history.Entry` is for a case."""

    kind: EheKind
    actor: str
    reason: str
    effective_on: date
    category: DataCategory
    source: str
    detail: dict[str, Any] = field(default_factory=dict)
    entry_id: int | None = None
    recorded_at: datetime | None = None
    ehe_id: UUID | None = None


@dataclass(frozen=True)
class EheDue:
    kind: DueKind
    on: date


@dataclass
class EheState:
    ehe_id: UUID | None = None
    child_subject_id: UUID | None = None
    borough: str | None = None
    child: dict[str, Any] = field(default_factory=dict)  # sex, date_of_birth, upn, as the notice gave them
    carer_subject_ids: list[str] = field(default_factory=list)
    opened_at: datetime | None = None
    notices: list[dict[str, Any]] = field(default_factory=list)
    enquiries: list[dict[str, Any]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)
    assessments: list[dict[str, Any]] = field(default_factory=list)
    s437: dict[str, Any] | None = None  # the notice in force: served_on, period_ends_on, response
    s438: dict[str, Any] | None = None
    order: dict[str, Any] | None = None
    revocations: list[dict[str, Any]] = field(default_factory=list)
    cme_case_ids: list[str] = field(default_factory=list)
    review_due_on: date | None = None
    closed: dict[str, Any] | None = None
    status: EheStatus | None = None
    last_entry_id: int | None = None

    @property
    def notice_on(self) -> date:
        return self.notices[0]["notice_on"]

    @property
    def assessment(self) -> dict[str, Any] | None:
        return self.assessments[-1] if self.assessments else None

    @property
    def outcome(self) -> str | None:
        return self.assessment["outcome"] if self.assessment else None

    @property
    def cme_case_id(self) -> str | None:
        return self.cme_case_ids[-1] if self.cme_case_ids else None

    def unanswered_enquiries(self) -> list[dict[str, Any]]:
        answered = len(self.responses)
        return self.enquiries[answered:] if answered < len(self.enquiries) else []

    def open_on(self, day: date) -> bool:
        return bool(self.notices) and self.notice_on <= day and (self.closed is None or day < self.closed["closed_on"])


# --- calendar arithmetic (pure; the kit's England working days) ---------------------------------------

def add_working_days(day: date, n: int) -> date:
    """The n-th working day after `day` (0: `day` itself if a working day, else the next one)."""
    if n <= 0:
        return next_working_day(day)
    while n:
        day += timedelta(days=1)
        if is_working_day(day):
            n -= 1
    return day


def add_months(day: date, months: int) -> date:
    """The same day `months` later, the month's last day if it has no such day (29 Feb -> 28 Feb)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, candidate)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def s437_period_ends(served_on: date, period_days: int) -> date:
    """The last day of the s437(1) period: `period_days` days beginning with the day of service (s437(2))."""
    return served_on + timedelta(days=period_days - 1)


def s438_choice_ends(served_on: date) -> date:
    """The last day the parent may choose a school: 15 days beginning with the day of service (s438(4))."""
    return served_on + timedelta(days=S438_CHOICE_DAYS - 1)


# --- the fold -------------------------------------------------------------------------------------------

def _d(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else value


def fold(entries: Iterable[EheEntry], rules: EheRules | None = None) -> EheState:
    rules = rules or EheRules()
    state = EheState()
    for entry in entries:
        _apply(state, entry, rules)
    return state


def _apply(state: EheState, entry: EheEntry, rules: EheRules) -> None:
    d = entry.detail
    match entry.kind:
        case EheKind.NOTICE_RECEIVED:
            if state.ehe_id is None:
                state.ehe_id = UUID(str(d["ehe_id"]))
                state.child_subject_id = UUID(str(d["child_subject_id"]))
                state.opened_at = entry.recorded_at
            state.borough = state.borough or d.get("borough")
            for key, value in (d.get("child") or {}).items():
                if value is not None and state.child.get(key) is None:
                    state.child[key] = value
            for carer in d.get("carer_subject_ids", []):
                if str(carer) not in state.carer_subject_ids:
                    state.carer_subject_ids.append(str(carer))
            state.notices.append({"notice_on": entry.effective_on, "given_by": d.get("given_by"),
                                  "source": d.get("source"), "entry_id": entry.entry_id})
        case EheKind.ENQUIRY_MADE:
            state.enquiries.append({"asked_on": entry.effective_on, "method": d.get("method"),
                                    "response_due_on": _d(d["response_due_on"]), "entry_id": entry.entry_id})
        case EheKind.PARENT_RESPONDED:
            state.responses.append({"responded_on": entry.effective_on, "entry_id": entry.entry_id,
                                    "education_described": d.get("education_described")})
        case EheKind.ASSESSMENT_RECORDED:
            state.assessments.append({"assessed_on": entry.effective_on, "outcome": d["outcome"],
                                      "assessed_by": d.get("assessed_by"), "entry_id": entry.entry_id})
            if d["outcome"] == Outcome.SUITABLE:
                # The parent has shown suitable education: any formal route so far ends here.
                state.s437 = state.s438 = None
                state.review_due_on = add_months(entry.effective_on, rules.review_months)
            else:
                state.review_due_on = None
        case EheKind.S437_NOTICE_SERVED:
            state.s437 = {"served_on": entry.effective_on, "period_days": d["period_days"],
                          "period_ends_on": _d(d["period_ends_on"]), "response": None, "entry_id": entry.entry_id}
            state.review_due_on = None
        case EheKind.S437_RESPONSE_RECORDED:
            assert state.s437 is not None
            state.s437["response"] = {"responded_on": entry.effective_on, "satisfied": d["satisfied"]}
            if d["satisfied"]:
                state.s437 = None
                state.assessments.append({"assessed_on": entry.effective_on, "outcome": Outcome.SUITABLE.value,
                                          "assessed_by": d.get("assessed_by"), "entry_id": entry.entry_id})
                state.review_due_on = add_months(entry.effective_on, rules.review_months)
        case EheKind.S437_PERIOD_LAPSED:
            assert state.s437 is not None
            state.s437["lapsed_on"] = entry.effective_on
        case EheKind.S438_NOTICE_SERVED:
            state.s438 = {"served_on": entry.effective_on, "choose_by": _d(d["choose_by"]),
                          "intended_school_urn": d["intended_school_urn"], "entry_id": entry.entry_id}
        case EheKind.ORDER_MADE:
            state.order = {"made_on": entry.effective_on, "school_urn": d["school_urn"], "entry_id": entry.entry_id}
        case EheKind.ORDER_REVOKED:
            state.revocations.append({"revoked_on": entry.effective_on, "ground": d["ground"], "order": state.order})
            state.order = state.s437 = state.s438 = None
            if d["ground"] == RevocationGround.EDUCATION_OTHERWISE:
                state.assessments.append({"assessed_on": entry.effective_on, "outcome": Outcome.SUITABLE.value,
                                          "assessed_by": d.get("decided_by"), "entry_id": entry.entry_id})
                state.review_due_on = add_months(entry.effective_on, rules.review_months)
        case EheKind.CME_CASE_LINKED:
            state.cme_case_ids.append(str(d["case_id"]))
        case EheKind.RECORD_CLOSED:
            state.closed = {"closed_on": entry.effective_on, "ground": d["ground"]}
    state.last_entry_id = entry.entry_id or state.last_entry_id
    state.status = _status(state)


def _status(state: EheState) -> EheStatus:
    if state.closed is not None:
        return EheStatus.CLOSED
    if state.order is not None:
        return EheStatus.ORDER
    if state.s438 is not None:
        return EheStatus.S438_NOTICE
    if state.s437 is not None:
        return EheStatus.S437_NOTICE
    if state.assessment is not None:
        return EheStatus.SUITABLE if state.outcome == Outcome.SUITABLE else EheStatus.UNSUITABLE
    return EheStatus.ENQUIRIES if state.enquiries else EheStatus.NOTIFIED


# --- clocks ---------------------------------------------------------------------------------------------

def next_due(state: EheState, rules: EheRules | None = None) -> EheDue | None:
    """The record's next deadline: what the council (or the parent, for the statutory periods) must do next."""
    rules = rules or EheRules()
    match state.status:
        case EheStatus.NOTIFIED:
            return EheDue(DueKind.ENQUIRY, add_working_days(state.notice_on, rules.enquiry_working_days))
        case EheStatus.ENQUIRIES:
            waiting = state.unanswered_enquiries()
            if waiting:
                return EheDue(DueKind.PARENT_RESPONSE, min(e["response_due_on"] for e in waiting))
            last = state.responses[-1]["responded_on"]
            return EheDue(DueKind.ASSESSMENT, add_working_days(last, rules.assessment_working_days))
        case EheStatus.SUITABLE:
            return EheDue(DueKind.REVIEW, state.review_due_on) if state.review_due_on else None
        case EheStatus.UNSUITABLE:
            assert state.assessment is not None
            return EheDue(DueKind.S437_NOTICE, add_working_days(state.assessment["assessed_on"], rules.s437_working_days))
        case EheStatus.S437_NOTICE:
            assert state.s437 is not None
            response = state.s437["response"]
            if response is not None:
                return EheDue(DueKind.S438_NOTICE, add_working_days(response["responded_on"], rules.s438_working_days))
            if state.s437.get("lapsed_on") is not None:
                return EheDue(DueKind.S438_NOTICE, add_working_days(state.s437["period_ends_on"], rules.s438_working_days))
            return EheDue(DueKind.S437_PERIOD_ENDS, state.s437["period_ends_on"])
        case EheStatus.S438_NOTICE:
            assert state.s438 is not None
            return EheDue(DueKind.S438_SCHOOL_CHOICE, state.s438["choose_by"])
    return None


def s437_unanswered(state: EheState, today: date) -> bool:
    """The s437(1) period has ended without the parent satisfying the council (s437(3)(a))."""
    notice = state.s437
    if notice is None:
        return False
    response = notice["response"]
    return (response is not None and not response["satisfied"]) or (response is None and today > notice["period_ends_on"])


# --- commands (pure: the entry a step writes, or a refusal) ----------------------------------------------

def refuse(loc: tuple[str | int, ...], code: str, message: str) -> EvidenceRefused:
    return EvidenceRefused([Problem(loc, code, message)])


def _check_dated(state: EheState, on: date, today: date, loc: tuple[str | int, ...]) -> None:
    if on > today:
        raise refuse(loc, "date_in_future", "this date is after today")
    if state.notices and on < state.notice_on:
        raise refuse(loc, "before_notice", "this date is before the notice of education otherwise")


def notice_entry(*, ehe_id: UUID, child_subject_id: UUID, borough: str | None, notice_on: date, given_by: str,
                 source: NoticeSource, actor: str, origin: str, child: dict[str, Any] | None = None,
                 carer_subject_ids: Iterable[UUID] = (), extra: dict[str, Any] | None = None) -> EheEntry:
    """A notice of education otherwise: the first makes the record, a later one is added to it."""
    return EheEntry(EheKind.NOTICE_RECEIVED, actor, f"notice of education otherwise ({source.value}): not CME "
                    "until assessed", notice_on, DataCategory.EDUCATION, origin, {
                        "ehe_id": str(ehe_id), "child_subject_id": str(child_subject_id), "borough": borough,
                        "given_by": given_by, "source": source.value, "child": child or {},
                        "carer_subject_ids": [str(c) for c in carer_subject_ids], **(extra or {})})


def step_entry(state: EheState, step: dict[str, Any], *, actor: str, today: date, rules: EheRules) -> EheEntry:
    """The entry an officer's step writes, after the rules of the pathway (409 out of order, 422 bad data).

    `step` is the validated request body: its `kind` and the fields of that kind."""
    if state.status is EheStatus.CLOSED:
        raise TransitionRefused("ehe_record_closed", "this EHE record is closed")
    kind = EheKind(step["kind"])
    on: date = step["on"]
    _check_dated(state, on, today, ("on",))
    note = step.get("note") or ""
    education = DataCategory.EDUCATION

    def entry(reason: str, source: str, detail: dict[str, Any]) -> EheEntry:
        return EheEntry(kind, actor, reason + (f": {note}" if note else ""), on, education, source,
                        {**detail, **({"note": note} if note else {})})

    match kind:
        case EheKind.ENQUIRY_MADE:
            due = step.get("response_due_on") or add_working_days(on, rules.response_working_days)
            if due < on:
                raise refuse(("response_due_on",), "before_enquiry", "the response cannot be due before the enquiry")
            return entry("informal enquiry of the parent about the education provided (2019 guidance, section 6)",
                         "local_authority", {"method": step["method"], "response_due_on": due.isoformat()})
        case EheKind.PARENT_RESPONDED:
            if not state.unanswered_enquiries():
                raise TransitionRefused("no_enquiry_awaiting_response", "no enquiry is awaiting the parent's response")
            return entry("the parent's response to the council's enquiry", "parent",
                         {"form": step["form"], "education_described": step.get("education_described")})
        case EheKind.ASSESSMENT_RECORDED:
            if not state.enquiries:
                # 2019 guidance, section 6: informal enquiries of the parent come first.
                raise TransitionRefused("enquiry_first", "make an informal enquiry of the parent before assessing "
                                        "(EHE guidance 2019, section 6)")
            if state.status in (EheStatus.S438_NOTICE, EheStatus.ORDER):
                raise TransitionRefused("ehe_step_refused", "the school attendance order route is under way; record "
                                        "the order or its revocation")
            outcome = Outcome(step["outcome"])
            return entry(f"assessment of the education provided: {outcome.value}", "local_authority",
                         {"outcome": outcome.value, "assessed_by": step["assessed_by"], "method": step.get("method")})
        case EheKind.S437_NOTICE_SERVED:
            if state.status in (EheStatus.S437_NOTICE, EheStatus.S438_NOTICE, EheStatus.ORDER):
                raise TransitionRefused("ehe_step_refused", "an s437 notice or order is already in force")
            if not _appears_unsuitable(state, on):
                raise TransitionRefused("s437_not_open", "an s437(1) notice needs the education assessed unsuitable "
                                        "(or none evident), or an enquiry the parent has not answered in time")
            period = step.get("period_days") or S437_MIN_PERIOD_DAYS
            if period < S437_MIN_PERIOD_DAYS:
                raise refuse(("period_days",), "s437_period_too_short",
                              "Education Act 1996 s437(2): the period is at least 15 days")
            return entry("notice under Education Act 1996 s437(1): satisfy the council that the child is receiving "
                         "suitable education", "local_authority",
                         {"period_days": period, "period_ends_on": s437_period_ends(on, period).isoformat()})
        case EheKind.S437_RESPONSE_RECORDED:
            if state.s437 is None or state.s437["response"] is not None:
                raise TransitionRefused("ehe_step_refused", "no s437 notice awaits the parent's answer")
            satisfied = bool(step["satisfied"])
            return entry("the parent " + ("satisfied" if satisfied else "did not satisfy")
                         + " the council under the s437(1) notice", "parent",
                         {"satisfied": satisfied, "assessed_by": step.get("assessed_by")})
        case EheKind.S438_NOTICE_SERVED:
            if state.status is not EheStatus.S437_NOTICE or not s437_unanswered(state, on):
                raise TransitionRefused("s437_period_not_over", "an s438 notice follows an s437(1) notice whose period "
                                        "ended without a satisfactory answer (s437(3)(a))")
            return entry("notice of intention to serve a school attendance order (Education Act 1996 s438)",
                         "local_authority", {"intended_school_urn": step["school_urn"],
                                             "alternative_school_urns": step.get("alternative_school_urns") or [],
                                             "choose_by": s438_choice_ends(on).isoformat()})
        case EheKind.ORDER_MADE:
            if state.s438 is None or state.order is not None:
                raise TransitionRefused("s438_notice_first", "a school attendance order follows an s438 notice")
            if on <= state.s438["choose_by"] and not step.get("parent_chose_school"):
                raise refuse(("on",), "s438_choice_period_running",
                              "Education Act 1996 s438(4): the parent has 15 days to choose a school")
            return entry("school attendance order (Education Act 1996 s437(3))", "local_authority",
                         {"school_urn": step["school_urn"], "parent_chose_school": bool(step.get("parent_chose_school"))})
        case EheKind.ORDER_REVOKED:
            if state.order is None:
                raise TransitionRefused("no_order_in_force", "no school attendance order is in force")
            ground = RevocationGround(step["ground"])
            return entry(f"school attendance order revoked (Education Act 1996 s442): {ground.value}",
                         "local_authority", {"ground": ground.value, "decided_by": step.get("decided_by")})
        case EheKind.RECORD_CLOSED:
            ground = ClosureGround(step["ground"])
            return entry(f"EHE record closed: {ground.value}", "local_authority", {"ground": ground.value})
    raise TransitionRefused("ehe_step_refused", f"{kind.value} is not an officer's step")


def _appears_unsuitable(state: EheState, today: date) -> bool:
    """s437(1) "if it appears ... not receiving suitable education": assessed unsuitable or none evident, or the
    parent has not answered an enquiry by its date (2019 guidance: the council may then conclude so)."""
    if state.outcome in NOT_SUITABLE:
        return True
    return any(e["response_due_on"] < today for e in state.unanswered_enquiries())


def opens_cme_case(entry: EheEntry) -> bool:
    """The entries that make the child CME from their day: an assessment unsuitable or with no education evident,
    an s437 notice the parent did not answer satisfactorily (s437(3)(a)), or one whose period ended unanswered
    (the s438 notice is served only then)."""
    d = entry.detail
    match entry.kind:
        case EheKind.ASSESSMENT_RECORDED:
            return d["outcome"] in NOT_SUITABLE
        case EheKind.S437_RESPONSE_RECORDED:
            return not d["satisfied"]
        case EheKind.S438_NOTICE_SERVED | EheKind.S437_PERIOD_LAPSED:
            return True
    return False


def lapse_entry(state: EheState, today: date) -> EheEntry | None:
    """s437(3)(a): the period ended (its last day passed) with no answer from the parent: the child is CME from
    the day after it. None while the period runs, once answered, or once recorded."""
    notice = state.s437
    if notice is None or notice["response"] is not None or notice.get("lapsed_on") is not None:
        return None
    if not s437_unanswered(state, today):
        return None
    day = notice["period_ends_on"] + timedelta(days=1)
    return EheEntry(EheKind.S437_PERIOD_LAPSED, "system:casework",
                    f"the s437(1) period ended on {notice['period_ends_on'].isoformat()} without the parent satisfying "
                    "the council (Education Act 1996 s437(3)(a))", day, DataCategory.EDUCATION, "casework",
                    {"period_ends_on": notice["period_ends_on"].isoformat()})


def transition(state: EheState, entry: EheEntry, rules: EheRules | None = None) -> EheState:
    """The state after `entry` (folded onto a copy)."""
    import copy

    after = copy.deepcopy(state)
    _apply(after, entry, rules or EheRules())
    return after


def with_id(entry: EheEntry, ehe_id: UUID) -> EheEntry:
    return replace(entry, ehe_id=ehe_id)


# --- the EHE count (never part of the CME census) ---------------------------------------------------------

EHE_COUNT_COLUMNS = ("census_date", "borough", "ehe_records_open", "of_which_education_found_unsuitable")


def count_open(states: Iterable[EheState], day: date) -> list[tuple[str, int, int]]:
    """Per borough, the EHE records open on `day` (each as it stood that day), and how many of them had found
    the education unsuitable (those children are CME from then, counted in the census by their CME case)."""
    tally: dict[str, list[int]] = {}
    for state in states:
        if not state.open_on(day):
            continue
        counts = tally.setdefault(state.borough or "unassigned", [0, 0])
        counts[0] += 1
        counts[1] += state.status in FOUND_UNSUITABLE
    return sorted((borough, n, unsuitable) for borough, (n, unsuitable) in tally.items())
