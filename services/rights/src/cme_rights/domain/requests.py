"""A rights request's kinds, statuses and the moves between them (pure).

Access: received -> (awaiting_identity | awaiting_fee) -> collecting -> ready_for_review -> responded
(CONTRACT section 4). The other rights gather the subject ids and the recipients the same way, then
wait for a recorded decision (awaiting_decision) before their response goes for review; an officer's
rectification or restriction that would change something waits for a DPO's approval first
(awaiting_approval), and takes effect only then. A complaint has
its own path: received -> investigating -> ready_for_review -> responded. Nothing is released without
a DPO's approval; a collection a service never answered stops at collection_incomplete and is released
only when a DPO accepts it as incomplete, in writing.
"""

from datetime import date
from enum import StrEnum

from cme_shared.refusal import Refusal


class RequestType(StrEnum):
    ACCESS = "access"
    RECTIFICATION = "rectification"
    ERASURE = "erasure"
    RESTRICTION = "restriction"
    OBJECTION = "objection"
    TRANSFER = "transfer"
    AUTOMATED_DECISION = "automated_decision"
    COMPLAINT = "complaint"


class Status(StrEnum):
    RECEIVED = "received"
    AWAITING_IDENTITY = "awaiting_identity"
    AWAITING_FEE = "awaiting_fee"
    COLLECTING = "collecting"
    COLLECTION_INCOMPLETE = "collection_incomplete"
    AWAITING_DECISION = "awaiting_decision"
    AWAITING_APPROVAL = "awaiting_approval"  # an officer's proposed decision, until a DPO approves or rejects it
    INVESTIGATING = "investigating"
    READY_FOR_REVIEW = "ready_for_review"
    RESPONDED = "responded"


class ActingAs(StrEnum):
    SELF = "self"
    PARENT = "parent"
    GUARDIAN = "guardian"
    REPRESENTATIVE = "representative"


class InvalidMove(Refusal):
    """A move the request's status does not allow (409); code and message carry no personal data."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(409, code, message)


# The rights that find the person in the identity index and gather data before anything else.
GATHERING = frozenset({RequestType.ACCESS, RequestType.RECTIFICATION, RequestType.ERASURE,
                       RequestType.RESTRICTION, RequestType.OBJECTION, RequestType.TRANSFER})
# Who must be asked for data, by right: access and transfer need the whole record; the others need
# the recipients the data went to (Art 19), which the disclosure log holds.
WHOLE_RECORD = frozenset({RequestType.ACCESS, RequestType.TRANSFER})
BEFORE_WORK = frozenset({Status.RECEIVED, Status.AWAITING_IDENTITY, Status.AWAITING_FEE})
# Decisions on the non-access rights need the gathered subject ids; an incomplete gathering may still
# be decided on (its gaps are shown with the decision).
DECIDABLE = frozenset({Status.AWAITING_DECISION, Status.COLLECTION_INCOMPLETE})

AUTHORITY = {
    ActingAs.SELF: "the data subject, for themself",
    ActingAs.PARENT: "a parent acting for their child (parental responsibility)",
    ActingAs.GUARDIAN: "a guardian acting for the child (parental responsibility)",
    ActingAs.REPRESENTATIVE: "a representative with the data subject's written authority",
}
# ICO right of access guidance ("requests on behalf of children"): from about 12 a child is usually
# mature enough to understand their rights, so a parent's request needs the child's view considered.
COMPETENCE_GUIDE_AGE = 12


def uses_month_clock(request_type: RequestType) -> bool:
    """Every right runs on Art 12A's month except a complaint (DPA 2018 s164A, 30 days to acknowledge)."""
    return request_type is not RequestType.COMPLAINT


def needs_identity(request_type: RequestType) -> bool:
    # Art 12(6): identity matters where the council is about to reveal or change someone's data; the
    # register of automated processing and a complaint's acknowledgement reveal nothing personal.
    return request_type in GATHERING


def status_before_work(request_type: RequestType, *, awaiting: frozenset[str], identity_verified: bool) -> Status:
    """Where a request stands until its work can begin."""
    if "identity" in awaiting:
        return Status.AWAITING_IDENTITY
    if "fee" in awaiting:
        return Status.AWAITING_FEE
    if needs_identity(request_type) and not identity_verified:
        return Status.RECEIVED
    return first_work_status(request_type)


def first_work_status(request_type: RequestType) -> Status:
    if request_type in GATHERING:
        return Status.COLLECTING
    if request_type is RequestType.AUTOMATED_DECISION:
        return Status.READY_FOR_REVIEW  # answered from the register of automated processing
    return Status.RECEIVED  # a complaint waits for its acknowledgement


def after_gathering(request_type: RequestType) -> Status:
    return Status.READY_FOR_REVIEW if request_type is RequestType.ACCESS else Status.AWAITING_DECISION


def check_clock_event(request_type: RequestType, status: Status, event: str) -> None:
    if not uses_month_clock(request_type):
        raise InvalidMove("complaint_clock", "a complaint is acknowledged within 30 days, it has no month clock")
    if event == "clarification_requested" and request_type is not RequestType.ACCESS:
        # Art 12A (DUAA 2025 s76): the pause is for "a request under Article 15" only (DPA 2018 s54(3C):
        # "a request under section 45(1)", Part 3's right of access); the other rights' month runs on
        # (statutory review Dec 2026, D2). A clarification already awaited may still be received.
        raise InvalidMove("clarification_access_only",
                          "only a subject access request may pause its clock for clarification (Art 12A)")
    if status is Status.RESPONDED:
        raise InvalidMove("already_responded", "the request has been answered")
    if event in ("identity_requested", "fee_requested") and status not in BEFORE_WORK:
        raise InvalidMove("work_started", "identity or a fee must be asked for before the work starts")


def proposal_pending() -> InvalidMove:
    return InvalidMove("proposal_pending", "a proposed decision awaits the DPO's approval")


def check_decision(request_type: RequestType, expected: RequestType, status: Status) -> None:
    if request_type is not expected:
        raise InvalidMove("wrong_request_type", f"this decision is for {expected.value} requests")
    if status is Status.AWAITING_APPROVAL:
        raise proposal_pending()
    if status not in DECIDABLE:
        raise InvalidMove("not_awaiting_decision", "the request is not awaiting a decision")


def check_approval(status: Status, *, complete: bool, accept_incomplete: bool) -> None:
    """Only a prepared response is released; one lacking a service's answer only on the DPO's word."""
    if status not in (Status.READY_FOR_REVIEW, Status.COLLECTION_INCOMPLETE):
        raise InvalidMove("not_ready_for_review", "there is no response ready for review")
    if not complete and not accept_incomplete:
        raise InvalidMove("collection_incomplete",
                          "a service did not answer; re-ask it, or approve with accept_incomplete and a note")


def check_refusal(request_type: RequestType, status: Status) -> None:
    if request_type is RequestType.COMPLAINT:
        raise InvalidMove("complaint_not_refusable", "a complaint is investigated and answered with its outcome")
    if status is Status.RESPONDED:
        raise InvalidMove("already_responded", "the request has been answered")
    if status is Status.AWAITING_APPROVAL:
        raise proposal_pending()


def check_regather(request_type: RequestType, status: Status) -> None:
    if request_type not in GATHERING:
        raise InvalidMove("nothing_to_gather", "this kind of request gathers no data")
    if status is Status.AWAITING_APPROVAL:
        raise proposal_pending()
    if status in BEFORE_WORK or status is Status.RESPONDED:
        raise InvalidMove("not_gathering", "data is gathered once identity is settled and until the response")


def authority_notes(acting_as: ActingAs, subject_date_of_birth: date | None, received_on: date) -> list[str]:
    """What the officer should weigh about the requester's authority (recorded with the request)."""
    notes = [AUTHORITY[acting_as]]
    if acting_as in (ActingAs.PARENT, ActingAs.GUARDIAN) and subject_date_of_birth is not None:
        age = received_on.year - subject_date_of_birth.year - (
            (received_on.month, received_on.day) < (subject_date_of_birth.month, subject_date_of_birth.day))
        if age >= COMPETENCE_GUIDE_AGE:
            notes.append("the child may be competent to exercise their own rights: consider the child's "
                         "views and whether the parent's request is in the child's interest")
    if acting_as is ActingAs.REPRESENTATIVE:
        notes.append("check the written authority before releasing anything")
    return notes
