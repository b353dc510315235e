"""Request and response bodies of the EHE routes and of the children-not-in-school register."""

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from cme_shared.contracts.referrals import Borough

from ..domain import cnis_register
from ..domain.ehe import ClosureGround, EheDue, EheEntry, EheState, Outcome, RevocationGround
from ..domain.restriction import RestrictionException

Short = Annotated[str, Field(min_length=1, max_length=200)]
Reason = Annotated[str, Field(min_length=1, max_length=2000)]
LongText = Annotated[str, Field(min_length=1, max_length=10_000)]
Urn = Annotated[str, Field(pattern=r"^\d{6}$", description="a school's URN (6 digits)")]


class EheSummary(BaseModel):
    ehe_id: UUID
    child_subject_id: UUID
    borough: str | None
    status: str
    notice_on: date
    outcome: str | None
    cme_case_id: UUID | None
    review_due_on: date | None
    next_due_date: date | None
    next_due_kind: str | None
    closed_on: date | None
    opened_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> "EheSummary":
        return cls.model_validate(dict(row))

    @classmethod
    def from_state(cls, state: EheState, due: EheDue | None) -> "EheSummary":
        return cls(ehe_id=state.ehe_id, child_subject_id=state.child_subject_id, borough=state.borough,
                   status=state.status.value if state.status else "notified", notice_on=state.notice_on,
                   outcome=state.outcome, cme_case_id=state.cme_case_id, review_due_on=state.review_due_on,
                   next_due_date=due.on if due else None, next_due_kind=due.kind.value if due else None,
                   closed_on=state.closed["closed_on"] if state.closed else None, opened_at=state.opened_at)


class EheHistoryEntry(BaseModel):
    entry_id: int
    kind: str
    actor: str
    reason: str
    effective_on: date
    recorded_at: datetime
    category: str
    source: str
    detail: dict[str, Any]

    @classmethod
    def of(cls, entry: EheEntry) -> "EheHistoryEntry":
        return cls(entry_id=entry.entry_id, kind=entry.kind.value, actor=entry.actor, reason=entry.reason,
                   effective_on=entry.effective_on, recorded_at=entry.recorded_at, category=entry.category.value,
                   source=entry.source, detail=entry.detail)


class EheDetail(EheSummary):
    restricted: bool
    notices: list[dict[str, Any]]
    enquiries: list[dict[str, Any]]
    responses: list[dict[str, Any]]
    assessments: list[dict[str, Any]]
    s437_notice: dict[str, Any] | None
    s438_notice: dict[str, Any] | None
    school_attendance_order: dict[str, Any] | None
    revocations: list[dict[str, Any]]
    cme_case_ids: list[UUID]
    history: list[EheHistoryEntry]

    @classmethod
    def of(cls, state: EheState, entries: list[EheEntry], due: EheDue | None, restricted: bool) -> "EheDetail":
        return cls(**EheSummary.from_state(state, due).model_dump(), restricted=restricted, notices=state.notices,
                   enquiries=state.enquiries, responses=state.responses, assessments=state.assessments,
                   s437_notice=state.s437, s438_notice=state.s438, school_attendance_order=state.order,
                   revocations=state.revocations, cme_case_ids=[UUID(c) for c in state.cme_case_ids],
                   history=[EheHistoryEntry.of(e) for e in entries])


class EheStepResult(BaseModel):
    record: EheSummary
    entry_id: int
    cme_case_id: UUID | None  # the CME case linked to the record (opened by this step, or before)


class NoticeGiver(StrEnum):
    PARENT = "parent"
    BOTH_PARENTS = "both_parents"
    CARER_WITH_PARENTAL_RESPONSIBILITY = "carer_with_parental_responsibility"


class ParentNoticeIn(BaseModel):
    """A parent's written notice to the council that the child is to be educated otherwise than at school."""

    model_config = ConfigDict(extra="forbid")

    child_subject_id: UUID
    borough: Borough
    notice_on: date = Field(description="the date of the written notice")
    given_by: NoticeGiver = NoticeGiver.PARENT
    restriction_exception: RestrictionException | None = None


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on: date = Field(description="the day it happened (not after today, not before the first notice)")
    note: Reason | None = None
    restriction_exception: RestrictionException | None = None


class EnquiryMethod(StrEnum):
    LETTER = "letter"
    EMAIL = "email"
    PHONE = "phone"
    HOME_VISIT = "home_visit"
    MEETING = "meeting"


class EnquiryStep(_Step):
    kind: Literal["enquiry_made"]
    method: EnquiryMethod
    response_due_on: date | None = Field(default=None, description="default: the configured working days")


class ResponseForm(StrEnum):
    WRITTEN_REPORT = "written_report"
    SAMPLES_OF_WORK = "samples_of_work"
    MEETING = "meeting"
    HOME_VISIT = "home_visit"
    PHONE = "phone"


class ResponseStep(_Step):
    kind: Literal["parent_responded"]
    form: ResponseForm
    education_described: LongText | None = None


class AssessmentStep(_Step):
    kind: Literal["assessment_recorded"]
    outcome: Outcome
    assessed_by: Short
    method: Short | None = None


class S437NoticeStep(_Step):
    kind: Literal["s437_notice_served"]
    period_days: Annotated[int, Field(ge=1, le=365)] = 15


class S437ResponseStep(_Step):
    kind: Literal["s437_response_recorded"]
    satisfied: bool
    assessed_by: Short | None = None


class S438NoticeStep(_Step):
    kind: Literal["s438_notice_served"]
    school_urn: Urn
    alternative_school_urns: Annotated[list[Urn], Field(max_length=5)] = []


class OrderStep(_Step):
    kind: Literal["school_attendance_order_made"]
    school_urn: Urn
    parent_chose_school: bool = False


class RevocationStep(_Step):
    kind: Literal["school_attendance_order_revoked"]
    ground: RevocationGround
    decided_by: Short | None = None


class CloseStep(_Step):
    kind: Literal["record_closed"]
    ground: ClosureGround


Step = Annotated[EnquiryStep | ResponseStep | AssessmentStep | S437NoticeStep | S437ResponseStep | S438NoticeStep
                 | OrderStep | RevocationStep | CloseStep, Field(discriminator="kind")]


# --- the children-not-in-school register (s436C) ----------------------------------------------------------

class RegisterParent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Short
    address: Short


class ParentEducation(BaseModel):
    """s436C(1)(c): which parent provides the education, and for how much of the time."""

    model_config = ConfigDict(extra="forbid")
    parent_name: Short
    share_of_time: Short = Field(description='e.g. "all of the time", "mornings", "60%"')


class OtherProvider(BaseModel):
    """s436C(1)(d): each other person providing the education: name, address, type, where and for how long."""

    model_config = ConfigDict(extra="forbid")
    name: Short
    address: Short
    type: Short = Field(description="e.g. tutor, online school, out-of-school setting")
    place: Short
    hours_per_week: Annotated[float, Field(ge=0, le=168)]


class ProtectedCharacteristic(StrEnum):
    """Equality Act 2010 s4 (recorded only when an officer records them)."""

    AGE = "age"
    DISABILITY = "disability"
    GENDER_REASSIGNMENT = "gender_reassignment"
    RACE = "race"
    RELIGION_OR_BELIEF = "religion_or_belief"
    SEX = "sex"
    SEXUAL_ORIENTATION = "sexual_orientation"


class RegisterIn(BaseModel):
    """The register entry: only what s436C requires (1) or allows (2); any other field is refused."""

    model_config = ConfigDict(extra="forbid")

    child_name: Short | None = None
    child_date_of_birth: date | None = None
    child_address: Short | None = None
    parents: Annotated[list[RegisterParent], Field(max_length=6)] = []
    education_by_parent: Annotated[list[ParentEducation], Field(max_length=6)] = []
    other_providers: Annotated[list[OtherProvider], Field(max_length=20)] = []
    special_educational_needs: Short | None = None
    child_protection_matters: Reason | None = None
    protected_characteristics: dict[ProtectedCharacteristic, Short] | None = None
    reason: Reason = Field(description="why the entry is made or changed")
    restriction_exception: RestrictionException | None = None

    def content(self) -> dict[str, Any]:
        """The fields the officer gave (null clears one); the others keep what the entry holds."""
        given = self.model_dump(mode="json", exclude_unset=True)
        return {k: v for k, v in given.items() if k in cnis_register.FIELD_NAMES}


class RegisterEntry(BaseModel):
    child_subject_id: UUID
    ehe_id: UUID
    borough: str | None
    version_id: int
    recorded_at: datetime
    entered_by: str
    fields: dict[str, Any]
    categories: dict[str, str] = Field(default_factory=cnis_register.categories)

    @classmethod
    def from_row(cls, row: Any) -> "RegisterEntry":
        return cls(child_subject_id=row["child_subject_id"], ehe_id=row["ehe_id"], borough=row["borough"],
                   version_id=row["version_id"], recorded_at=row["recorded_at"], entered_by=row["entered_by"],
                   fields=cnis_register.minimised(row["content"]))


def step_fields(step: BaseModel) -> dict[str, Any]:
    """The step as the domain reads it (dates as dates), without the exception (recorded apart)."""
    return {k: v for k, v in step.model_dump().items() if k != "restriction_exception"}


