"""Internal events between services. Each is versioned by its topic's suffix and its `schema_version`.

Every event carries an `event_id`, which consumers record in their inbox so that a redelivered event
changes nothing, and the id of the aggregate it is about, which is its Kafka key (per-key ordering).
"""

from datetime import date, datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from .categories import DataCategory
from .referrals import Borough, Flags, NotificationKind, SourceType


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = 1
    event_id: UUID
    occurred_at: datetime


class ReferralAccepted(Event):
    """intake -> casework: a referral intake accepted, with the identity index's subject ids.

    Personal data travels only as far as casework needs it, each field tagged with its data
    category. A public referrer's contact details never travel (third-party data stays sealed in
    intake); an anonymous referral carries no referrer data at all.
    """

    intake_id: UUID
    referral_id: str
    source_type: SourceType
    source_org_id: str | None
    source_org_name: str | None
    received_at: datetime
    borough: Borough | None
    notification_kind: NotificationKind
    deletion_ground: str | None = None
    deletion_date: date | None = None
    destination_school_urn: str | None = None
    destination_start_date: date | None = None
    child_subject_id: UUID
    carer_subject_ids: list[UUID] = []
    child_sex: str = "unknown"
    child_date_of_birth: date | None = None
    child_upn: str | None = None
    flags: Flags | None = None
    safeguarding_concern: bool = False
    warnings: list[str] = []
    data_categories: dict[str, DataCategory] = {}
    # Added with the intake service (all optional, so earlier events still parse):
    last_attended_on: date | None = None
    # SI 2024/208 reg 13: a deletion return lacking required fields; officers ask the school for the rest.
    incomplete_return: bool = False
    missing_return_fields: list[str] = []
    # Subjects the identity index thinks may be this child, pending an officer's decision in intake.
    possible_match_subject_ids: list[UUID] = []
    # A new address (change of circumstances, or a return's future address) and the borough it is in
    # (None: outside the configured districts or unknown). The address itself stays in intake.
    new_address_from: date | None = None
    new_address_borough: Borough | None = None
