"""Retention and disposal (issue 14, item 1; DOMAIN section 3): one schedule for every service, one event.

The schedule says, per record type and data category, how long a record is kept after the event that
starts its clock (a case's closure, a request's completion, a record's receipt). The council's default
is 7 years after the case is closed; a deployment changes it with a JSON file (`CME_RETENTION_SCHEDULE_FILE`,
the shape of `RetentionSchedule`), and the access pack's retention statement is written from the schedule
in force, never from a fixed text.

`RecordsDisposed` is how a disposal fans out (SEC-18: a purge reaches the other copies): the service that
disposed records says so on `cme.retention.disposals.v1`; the others dispose their copies of the same
records, and disclosure appends a leaf to its log for every disposal, so the log still accounts for what
was destroyed and its proofs still verify. Ids, codes and dates only, never personal data.
"""

from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from .categories import DataCategory
from .events import Event


class RecordType(StrEnum):
    CASE = "case"  # casework: a case, its history, enquiries, notes, closure
    RECORD_WITHOUT_CASE = "record_without_case"  # casework: a referral recorded and routed, no case opened
    EHE_RECORD = "ehe_record"  # casework: an elective home education record (issue 14, item 2)
    REFERRAL = "referral"  # intake: a partner's referral as received, and its validation
    DEAD_LETTER = "dead_letter"  # intake: a rejected referral kept for the partner to correct
    IDENTITY = "identity"  # intake: a child's or carer's entry in the identity index
    DISCLOSURE = "disclosure"  # disclosure: a share or a decision not to share (the log leaf stays)
    RIGHTS_REQUEST = "rights_request"  # rights: a request, its decisions and its response pack


class ClockStart(StrEnum):
    """The event after which a record's retention period runs."""

    CASE_CLOSED = "case_closed"  # the record's case (or the child's last case) was closed
    RECORDED = "recorded"  # the record was made (a dead letter, a record without a case)
    COMPLETED = "completed"  # a rights request was answered, refused or withdrawn


class RetentionRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rule_id: str = Field(pattern=r"^[a-z0-9_.-]{1,64}$")  # named in every tombstone and disposal event
    record_type: RecordType
    category: DataCategory | None = None  # None: the record type's rule for every category
    starts: ClockStart
    years: int = Field(default=0, ge=0, le=100)
    days: int = Field(default=0, ge=0, le=36_500)
    description: str = Field(min_length=1, max_length=500)  # in plain words, for the access pack


class RetentionSchedule(BaseModel):
    """The schedule in force: at least one rule per record type (the category-free one), and per
    category rules that override it for fields of that category."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schedule_id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")  # e.g. "corporate-records-policy-2026"
    rules: tuple[RetentionRule, ...]

    @classmethod
    def from_file(cls, path: Path) -> "RetentionSchedule":
        return cls.model_validate_json(path.read_bytes())

    def rule_for(self, record_type: RecordType, category: DataCategory | None = None) -> RetentionRule:
        """The rule for a record (or, with `category`, for its fields of that category)."""
        general = None
        for rule in self.rules:
            if rule.record_type is record_type:
                if category is not None and rule.category is category:
                    return rule
                if rule.category is None:
                    general = rule
        if general is None:
            raise LookupError(f"the retention schedule has no rule for {record_type.value}")
        return general


class RecordsDisposed(Event):
    """A service disposed of records: their content is gone, its tombstones remain."""

    kind: str = "records_disposed"
    service: str  # the service that disposed (also its signature's signer)
    schedule_id: str
    rule_id: str
    record_type: RecordType
    record_ids: list[str]
    subject_ids: list[UUID] = []  # the children and carers the records were about (internal ids)
    case_ids: list[UUID] = []  # the cases the records belonged to, if any
    # Records other services hold that the disposed ones drew on and that fall due with them, by record
    # type: a case's referrals in intake ({"referral": [intake ids]}). The holder disposes of them.
    related_record_ids: dict[RecordType, list[str]] = {}
    clock_started_on: date | None = None  # e.g. the closure date the period ran from
    disposed_at: datetime
    run_id: UUID  # the disposal run, for the records officer's report


# Who may announce the disposal of each record type: the service that holds the record. A consumer acts
# on a RecordsDisposed only from its record type's owner (its signature says who sent it), so no service
# can order another's records destroyed by naming them.
OWNERS: dict[RecordType, str] = {
    RecordType.CASE: "casework",
    RecordType.RECORD_WITHOUT_CASE: "casework",
    RecordType.EHE_RECORD: "casework",
    RecordType.REFERRAL: "intake",
    RecordType.DEAD_LETTER: "intake",
    RecordType.IDENTITY: "intake",
    RecordType.DISCLOSURE: "disclosure",
    RecordType.RIGHTS_REQUEST: "rights",
}


def from_owner(event: RecordsDisposed) -> bool:
    """The event comes from the service that holds its record type (the signer must be `event.service`)."""
    return OWNERS.get(event.record_type) == event.service


class LegalHoldChanged(Event):
    """A legal hold on a subject or a case was placed or lifted in one service: every other service keeps
    the same hold (same `hold_id`), so a hold placed once keeps the subject's or case's records everywhere.
    A hold on one service's own record (scope `record`) stays in that service. The reason stays with the
    service it was given to (free text); the event carries ids, codes and who."""

    kind: str = "legal_hold_changed"
    service: str  # where it was placed or lifted (also its signature's signer)
    hold_id: UUID
    change: str = Field(pattern=r"^(placed|lifted)$")
    scope: str = Field(pattern=r"^(subject|case)$")
    target_id: str = Field(min_length=1, max_length=200)
    by: str = Field(min_length=1, max_length=200)  # the staff id who placed or lifted it
    at: datetime
