"""Rights service <-> every other service: identity lookup, data collection, restriction, rectification.

Flow of a subject access request (correlation by `collection_id`):
1. rights -> `cme.rights.data-collection-requests.v1`: `SubjectLookup` (intake answers with the subject
   ids its identity index holds for the person) and then `DataCollectionRequest` for those ids.
2. each service -> its own `cme.rights.data-collection-replies.<service>.v1`: `DataCollectionReply`
   chunks (at most `MAX_ITEMS_PER_CHUNK` items and `MAX_CHUNK_BYTES` of items each, so a subject with thousands of
   records, or a case of long notes, spans many messages that each fit in a Kafka record), the last one
   with `last=True` and `total_items` set, so rights knows when a service's answer is whole. Every
   service sends them with `cme_shared.replies.reply_in_chunks` (built by `collection_replies`).
3. rights -> `cme.rights.events.v1`: `SubjectRestricted` / `RestrictionLifted` / `FactualRectification`,
   which services apply; each answers facts it changed as `RectificationApplied` on the replies topic.
"""

from collections.abc import Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field

from ..clock import SystemClock
from .categories import DataCategory
from .events import Event

MAX_ITEMS_PER_CHUNK = 200
# A count carried in a message, stored in an integer column: a value PostgreSQL cannot take is refused at the
# edge, as the message's fault, never sent to the database.
Count = Annotated[int, Field(ge=0, le=2**31 - 1)]
# A quarter of Kafka's default 1 MiB record: 105 notes of 10,000 characters once made one chunk of 200 items
# larger than any record the broker takes, and the reply could never leave casework (SEC-01).
MAX_CHUNK_BYTES = 256 * 1024


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
    # The boroughs of the referrals that name this subject (issue 13: a rights request belongs to the
    # borough of the subject's records, and is scoped like a case). Empty: none decided yet (triage).
    boroughs: list[str] = []


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
    chunk: Count
    last: bool
    total_items: Count | None = None
    items: list[DataItem] = []
    error: str | None = None  # a code, never personal data


def collection_replies(service: str, collection_id: UUID, items: Sequence[DataItem], *,
                       max_items: int = MAX_ITEMS_PER_CHUNK, max_bytes: int = MAX_CHUNK_BYTES,
                       occurred_at: datetime | None = None) -> list[DataCollectionReply]:
    """A service's whole answer to a collection, in order: at least one chunk (an empty answer is still an
    answer), each of at most `max_items` items and `max_bytes` of their JSON; an item larger than
    `max_bytes` on its own travels alone. The last chunk says how many items there were in all.

    A handler sends them with `cme_shared.replies.reply_in_chunks`, which passes its clock's `occurred_at`.
    """
    parts: list[list[DataItem]] = []
    size = 0
    for item in items:
        item_bytes = len(item.model_dump_json().encode()) + 1  # and its comma
        if not parts or len(parts[-1]) >= max_items or (parts[-1] and size + item_bytes > max_bytes):
            parts.append([])
            size = 0
        parts[-1].append(item)
        size += item_bytes
    parts = parts or [[]]
    now = occurred_at or SystemClock().now()
    return [
        DataCollectionReply(event_id=uuid4(), occurred_at=now, service=service, collection_id=collection_id,
                            chunk=number, last=number == len(parts) - 1,
                            total_items=len(items) if number == len(parts) - 1 else None, items=part)
        for number, part in enumerate(parts)
    ]


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
    records_changed: Count
