"""What officers and the DPO send (CONTRACT section 4 for RightsRequest and the clock; the decision
bodies are this service's own). Strict about shape, silent about values: errors never echo the input."""

from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from cme_shared.contracts.referrals import Address, Borough, Sex

from ..domain.clock import ClockEventKind
from ..domain.requests import ActingAs, RequestType

Name = Annotated[str, Field(min_length=1, max_length=100)]
Reason = Annotated[str, Field(min_length=1, max_length=10_000)]
Channel = Literal["email", "web", "letter", "phone", "in_person"]


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Requester(Command):
    first_name: Name
    last_name: Name
    email: Annotated[str, Field(max_length=200)] | None = None
    phone: Annotated[str, Field(max_length=32)] | None = None
    address: Address | None = None
    acting_as: ActingAs


class Subject(Command):
    first_name: Name
    last_name: Name
    date_of_birth: date | None = None
    upn: Annotated[str, Field(max_length=16)] | None = None
    address: Address | None = None


class RightsRequest(Command):
    type: RequestType
    received_on: date
    channel: Channel
    requester: Requester
    subject: Subject
    identity_verified: bool = False  # the DPO's word only (an officer's true is refused, 403)
    details: Annotated[str, Field(max_length=10_000)] | None = None


class ClockEventIn(Command):
    event: ClockEventKind
    on: date
    reason: Annotated[str, Field(max_length=10_000)] | None = None


class Approval(Command):
    # A pack missing a service's answer is released only when the DPO says so, with a note the pack shows.
    accept_incomplete: bool = False
    note: Annotated[str, Field(max_length=10_000)] | None = None


class Exemption(Command):
    """One record of an access pack withheld under a DPA 2018 exemption, with its reason (the codes are
    `responses.EXEMPTIONS`; `exemptions.check` applies their conditions). The health data exemption
    needs the appropriate health professional (a role, e.g. "the child's paediatrician") and the day of
    their opinion that the serious harm test is met."""

    service: Annotated[str, Field(min_length=1, max_length=64)]
    record_id: Annotated[str, Field(min_length=1, max_length=200)]
    exemption: Literal["crime_and_taxation", "legal_professional_privilege", "social_work_serious_harm",
                       "education_serious_harm", "child_abuse_data", "health_serious_harm",
                       "special_educational_needs_records"]
    reason: Reason
    health_professional: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    health_professional_opinion_on: date | None = None


class Refusal(Command):
    basis: Literal["manifestly_unfounded", "manifestly_excessive"]  # UK GDPR Art 12(5)
    reason: Reason


class Correction(Command):
    """A factual correction (Art 16) for one subject's field; applied by each service as a new version."""

    subject_id: UUID
    field: Literal["first_name", "last_name", "date_of_birth", "sex", "upn", "address"]
    new_value: Any
    accepted: bool = True
    reason: Reason

    @model_validator(mode="after")
    def _value_fits_the_field(self) -> "Correction":
        if not self.accepted:
            return self
        checkers: dict[str, Any] = {
            "first_name": Name, "last_name": Name, "date_of_birth": date, "sex": Sex,
            "upn": Annotated[str, Field(min_length=1, max_length=16)], "address": Address,
        }
        try:
            value = TypeAdapter(checkers[self.field]).validate_python(self.new_value, strict=False)
        except ValidationError:
            raise ValueError(f"new_value is not a valid {self.field}") from None
        self.new_value = value.model_dump(mode="json") if isinstance(value, BaseModel) else (
            value.isoformat() if isinstance(value, date) else str(value))
        return self


class OpinionDispute(Command):
    """A disputed professional opinion: not rectified, but an addendum may be accepted (DOMAIN section 3)."""

    record_ref: Annotated[str, Field(min_length=1, max_length=200)]  # service/record_type/record_id
    addendum: Literal["accept", "refuse"]
    addendum_text: Annotated[str, Field(max_length=10_000)] | None = None
    reason: Reason


class RectificationDecision(Command):
    corrections: list[Correction] = Field(default=[], max_length=50)
    opinion_disputes: list[OpinionDispute] = Field(default=[], max_length=50)
    reason: Reason


class ErasureDecision(Command):
    outcome: Literal["refused", "granted"]
    reason: Annotated[str, Field(max_length=10_000)] | None = None

    @model_validator(mode="after")
    def _a_grant_is_reasoned(self) -> "ErasureDecision":
        if self.outcome == "granted" and not (self.reason or "").strip():
            raise ValueError("an exceptional grant of erasure needs its reasons recorded")
        return self


Art18Ground = Literal[
    "accuracy_contested",  # Art 18(1)(a)
    "unlawful_processing",  # Art 18(1)(b)
    "needed_for_legal_claims",  # Art 18(1)(c)
    "objection_pending",  # Art 18(1)(d)
]


class RestrictionDecision(Command):
    outcome: Literal["restricted", "refused"]
    ground: Art18Ground | None = None
    reason: Reason

    @model_validator(mode="after")
    def _a_restriction_names_its_ground(self) -> "RestrictionDecision":
        if self.outcome == "restricted" and self.ground is None:
            raise ValueError("a restriction names its Art 18(1) ground")
        return self


class RestrictionLift(Command):
    reason: Reason
    requester_informed_on: date  # Art 18(3): the requester is told before the restriction is lifted


class ProposalDecision(Command):
    """The DPO's word on an officer's proposed rectification, restriction or lift (SEC-12)."""

    outcome: Literal["approved", "rejected"]
    reason: Annotated[str, Field(max_length=10_000)] | None = None

    @model_validator(mode="after")
    def _a_rejection_is_reasoned(self) -> "ProposalDecision":
        if self.outcome == "rejected" and not (self.reason or "").strip():
            raise ValueError("a rejected proposal needs its reasons recorded")
        return self


class ObjectionDecision(Command):
    """Art 21(1): processing stops unless the council shows compelling legitimate grounds."""

    compelling_grounds: bool
    reason: Reason


class TransferRecipient(Command):
    org_id: Annotated[str, Field(max_length=64)] | None = None  # the LA code
    org_name: Annotated[str, Field(min_length=1, max_length=200)]


class TransferDecision(Command):
    recipient: TransferRecipient
    legal_gateway: Annotated[str, Field(min_length=1, max_length=500)] = (
        "UK GDPR Art 6(1)(e); Education Act 1996 s436A (DfE Children missing education guidance, 2024)")
    reason: Reason


class ComplaintAcknowledgement(Command):
    on: date


class ComplaintOutcome(Command):
    outcome: Literal["upheld", "partly_upheld", "not_upheld"]
    findings: Reason
    actions: Annotated[str, Field(max_length=10_000)] | None = None


class ComplaintProgress(Command):
    """A progress update the complainant is sent (DPA 2018 s164A(2)(c): keep them informed)."""

    on: date
    text: Reason


class BoroughAssignment(Command):
    """The borough a request with none belongs to (a public complaint names none): its officers may then
    act on it as on any request of theirs."""

    borough: Borough
    reason: Reason


class Complainant(Command):
    first_name: Name
    last_name: Name
    email: Annotated[str, Field(min_length=3, max_length=200, pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    address: Address | None = None

    @model_validator(mode="after")
    def _reachable(self) -> "Complainant":
        if self.email is None and self.address is None:
            raise ValueError("give an email address or a postal address, so that the council can answer")
        return self


class ConcernedChild(Command):
    first_name: Name
    last_name: Name
    date_of_birth: date | None = None


class PublicComplaint(Command):
    """A member of the public's complaint, sent through the council's electronic form (DPA 2018 s164A(2)(a))."""

    complainant: Complainant
    about: Annotated[str, Field(min_length=1, max_length=5_000)]
    child: ConcernedChild | None = None


class HoldPlacement(Command):
    """A legal hold (issue 14): every request about a subject (`subject`: the subject's id from the identity
    index), or one request (`request`: its id), kept past its retention while the hold is in force."""

    scope: Literal["subject", "request"]
    target_id: UUID
    reason: Annotated[str, Field(min_length=1, max_length=2_000)]  # e.g. "litigation: claim 2031/114"


class HoldLift(Command):
    reason: Annotated[str, Field(min_length=1, max_length=2_000)]
