"""Rights service <-> every other service: identity lookup, data collection, restriction, rectification.

Flow of a subject access request (correlation by `collection_id`):
1. rights -> `cme.rights.data-collection-requests.v1`: `SubjectLookup` (intake answers with the subject
   ids its identity index holds for the person) and then `DataCollectionRequest` for those ids.
2. each service -> `cme.rights.data-collection-replies.v1`: `DataCollectionReply` chunks (at most
   `MAX_ITEMS_PER_CHUNK` items each, so a subject with thousands of records spans many messages), the
   last one with `last=True` and `total_items` set, so rights knows when a service's answer is whole.
3. rights -> `cme.rights.events.v1`: `SubjectRestricted` / `RestrictionLifted` / `FactualRectification`,
   which services apply; each answers facts it changed as `RectificationApplied` on the replies topic.
"""

from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from .categories import DataCategory
from .events import Event

MAX_ITEMS_PER_CHUNK = 200


class PersonHint(BaseModel):
    """What the requester told us about whom the data is about: used only to search the identity index."""

    model_config = ConfigDict(extra="forbid")

    first_name: str
    last_name: str
    date_of_birth: date | None = None
    upn: str | None = None
    postcode: str | None = None


class SubjectLookup(Event):
    kind: Literal["subject_lookup"] = "subject_lookup"
    collection_id: UUID
    person: PersonHint


class SubjectMatch(BaseModel):
    subject_id: UUID
    subject_type: Literal["child", "carer"]
    match: Literal["exact_identifier", "name_dob_postcode", "possible"]


class SubjectLookupReply(Event):
    kind: Literal["subject_lookup_reply"] = "subject_lookup_reply"
    collection_id: UUID
    service: str
    matches: list[SubjectMatch]


class DataCollectionRequest(Event):
    kind: Literal["data_collection"] = "data_collection"
    collection_id: UUID
    rights_request_id: UUID
    subject_ids: list[UUID]
    # The requester's own subject id when they are a carer: their own data is not third-party to them.
    requester_subject_ids: list[UUID] = []
    # The services asked to answer; empty means every service. A re-ask after a timeout names only the
    # services that have not answered, so the others need not answer twice (rights ignores it if they do).
    services: list[str] = []


class ThirdPartyReason(StrEnum):
    PUBLIC_REFERRER = "public_referrer"  # a member of the public who referred (DPA 2018 Sch 2 Part 3 para 16)
    OTHER_CHILD = "other_child"
    OTHER_CARER = "other_carer"
    OTHER_PERSON = "other_person"


class ThirdPartyMarker(BaseModel):
    """A part of `DataItem.data` (a dotted path) that is about someone else, and why."""

    path: str
    reason: ThirdPartyReason
    subject_id: UUID | None = None  # the carer's subject id, so a carer asking for their own data sees it


class DataItem(BaseModel):
    service: str
    record_type: str  # referral, case, case_history, enquiry, note, disclosure, ...
    record_id: str
    subject_id: UUID
    category: DataCategory
    source: str | None  # where the data came from (a school, the NHS, an officer), per Art 15(1)(g)
    recorded_at: datetime
    data: dict[str, Any]
    third_party: list[ThirdPartyMarker] = []
    # For disclosure records: the recipient as the pack's "recipients" section lists it.
    recipient: dict[str, Any] | None = None


class DataCollectionReply(Event):
    kind: Literal["data_collection_reply"] = "data_collection_reply"
    collection_id: UUID
    service: str
    chunk: int
    last: bool
    total_items: int | None = None
    items: list[DataItem] = []
    error: str | None = None  # a code, never personal data


class SubjectRestricted(Event):
    """UK GDPR Art 18: store, but do not otherwise process or share, except the recorded exceptions."""

    kind: Literal["subject_restricted"] = "subject_restricted"
    rights_request_id: UUID
    subject_ids: list[UUID]
    reason: str


class RestrictionLifted(Event):
    kind: Literal["restriction_lifted"] = "restriction_lifted"
    rights_request_id: UUID
    subject_ids: list[UUID]
    reason: str


class FactualRectification(Event):
    """A factual correction (Art 16), applied by each owning service as a new version of the record."""

    kind: Literal["factual_rectification"] = "factual_rectification"
    rights_request_id: UUID
    subject_id: UUID
    field: Literal["first_name", "last_name", "date_of_birth", "sex", "upn", "address"]
    new_value: Any
    decided_by: str


class RectificationApplied(Event):
    kind: Literal["rectification_applied"] = "rectification_applied"
    rights_request_id: UUID
    service: str
    subject_id: UUID
    records_changed: int
