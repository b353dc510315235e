"""The rights service's requests of casework: restriction, factual rectification, and subject access.

Replies go through the outbox in the same transaction as what they report (the inbox makes a
redelivered request change nothing and answer nothing twice).
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cme_shared.access_log import access_items
from cme_shared.contracts import topics
from cme_shared.contracts.categories import DataCategory
from cme_shared.contracts.rights import (
    DataCollectionRequest,
    DataItem,
    FactualRectification,
    RectificationApplied,
    RestrictionLifted,
    SubjectRestricted,
    ThirdPartyMarker,
    ThirdPartyReason,
    collection_replies,
)
from cme_shared.logging import get_logger

from ..adapters.repository import CaseRecords, entry_from_row
from ..adapters.tables import case_history, kit
from ..domain.history import SYSTEM_RIGHTS, Entry, Kind
from ..domain.rectification import rectify
from .casework import Casework, record, today
from .referrals import release_held_referrals

log = get_logger(__name__)
SERVICE = "casework"


async def on_restriction(session: AsyncSession, casework: Casework,
                         event: SubjectRestricted | RestrictionLifted) -> None:
    records = CaseRecords(session)
    restricted = isinstance(event, SubjectRestricted)
    await records.record_restriction(event.subject_ids, event.rights_request_id,
                                     "restricted" if restricted else "lifted", event.reason, event.event_id)
    kind = Kind.RESTRICTION_APPLIED if restricted else Kind.RESTRICTION_LIFTED
    case_rows = await records.lock_cases_of_subjects(event.subject_ids)  # all at once, in case_id order
    for row in case_rows:
        state = await records.state(row["case_id"])
        entry = Entry(kind, SYSTEM_RIGHTS, f"UK GDPR Art 18: {kind.value.replace('_', ' ')}", today(),
                      DataCategory.EDUCATION, f"rights request {event.rights_request_id}",
                      {"rights_request_id": str(event.rights_request_id)})
        await record(casework, records, state, [entry], case_id=row["case_id"],
                     child_subject_id=row["child_subject_id"])
    if not restricted:
        # Referrals held for a child whose carer was restricted are held under the child's id.
        for child in dict.fromkeys([*event.subject_ids, *(row["child_subject_id"] for row in case_rows)]):
            await release_held_referrals(session, casework, child)


async def on_rectification(session: AsyncSession, casework: Casework, event: FactualRectification) -> None:
    records = CaseRecords(session)
    changed = 0
    for row in await records.lock_child_cases(event.subject_id):
        state = await records.state(row["case_id"])
        try:
            entry = rectify(state, field=event.field, new_value=event.new_value,
                            rights_request_id=str(event.rights_request_id), decided_by=event.decided_by, today=today())
        except ValueError:
            log.warning("rectification_value_refused", request_id=str(event.rights_request_id),
                        case_id=str(row["case_id"]))
            continue
        if entry is not None:
            await record(casework, records, state, [entry], case_id=row["case_id"], child_subject_id=event.subject_id)
            changed += 1
    reply = RectificationApplied(event_id=uuid4(), occurred_at=datetime.now(UTC), service=SERVICE,
                                 rights_request_id=event.rights_request_id, subject_id=event.subject_id,
                                 records_changed=changed)
    await casework.runtime.outbox.add(session, topic=casework.runtime.topics(topics.replies_of("casework")),
                                      event=reply, aggregate_type="rights_request",
                                      aggregate_id=str(event.rights_request_id))


async def on_data_collection(session: AsyncSession, casework: Casework, request: DataCollectionRequest) -> None:
    """Everything casework holds about the subjects, in chunks, the last saying how many items there were."""
    if request.services and SERVICE not in request.services:
        return  # a re-ask addressed to other services only
    items = await collect(session, request.subject_ids)
    for reply in collection_replies(SERVICE, request.collection_id, items):
        await casework.runtime.outbox.add(session, topic=casework.runtime.topics(topics.replies_of("casework")),
                                          event=reply, aggregate_type="data_collection",
                                          aggregate_id=str(request.collection_id))


RECORD_TYPES = {
    Kind.ENQUIRY_MADE: "enquiry", Kind.ENQUIRY_ANSWERED: "enquiry",
    Kind.NOTE_ADDED: "note", Kind.NOTE_CORRECTED: "note", Kind.ADDENDUM_ATTACHED: "note_addendum",
}


async def collect(session: AsyncSession, subject_ids: Sequence[UUID]) -> list[DataItem]:
    records = CaseRecords(session)
    items: list[DataItem] = []
    case_rows = await records.cases_of_subjects(subject_ids)
    wanted = set(subject_ids)
    for row in case_rows:
        if row["child_subject_id"] in wanted:
            items.extend(_case_items(row))
        for carer in set(row["carer_subject_ids"]) & wanted:
            items.append(DataItem(
                service=SERVICE, record_type="case_link", record_id=str(row["case_id"]), subject_id=carer,
                category=DataCategory.CONTACT, source="referral", recorded_at=row["opened_at"],
                data={"case_id": str(row["case_id"]), "link": "named as a carer in a referral about a child"},
                third_party=[ThirdPartyMarker(path="case_id", reason=ThirdPartyReason.OTHER_CHILD,
                                              subject_id=row["child_subject_id"])]))
    history = (select(case_history).where(case_history.c.child_subject_id.in_(subject_ids))
               .order_by(case_history.c.entry_id))
    for row in (await session.execute(history)).mappings():
        items.append(_history_item(entry_from_row(row), row["child_subject_id"]))
    # Who within the council looked at the subject's record here (Art 15(1)(c) recipients; issue 13).
    items.extend(await access_items(session, kit.access_log, SERVICE, list(subject_ids)))
    return items


def _case_items(row: Any) -> list[DataItem]:
    """A case as two items, one per data category it holds."""
    common = {"service": SERVICE, "record_id": str(row["case_id"]), "subject_id": row["child_subject_id"],
              "source": "casework", "recorded_at": row["opened_at"]}
    case = {"case_id": str(row["case_id"]), "status": row["status"], "reason": row["reason"], "risk": row["risk"],
            "borough": row["borough"], "opened_on": _iso(row["period_opened_on"]), "closed_on": _iso(row["closed_on"]),
            "closure_reason": row["closure_reason"], "next_due_date": _iso(row["next_due_date"]),
            "upn": row["child_upn"]}
    child = {"sex": row["child_sex"], "date_of_birth": _iso(row["child_date_of_birth"])}
    return [DataItem(record_type="case", category=DataCategory.EDUCATION, data=case, **common),
            DataItem(record_type="case_child_details", category=DataCategory.DEMOGRAPHICS, data=child, **common)]


def _history_item(entry: Entry, subject_id: UUID) -> DataItem:
    detail = dict(entry.detail)
    detail.pop("event", None)  # a held referral's copy of the event: the same facts as the entry itself
    # Carers' ids are about them, not the child: the pack shows them only to the carer in question; the
    # identity index's possible matches may be other children.
    others = [(f"detail.carer_subject_ids.{i}", ThirdPartyReason.OTHER_CARER, s)
              for i, s in enumerate(detail.get("carer_subject_ids", []))]
    others += [(f"detail.referral.possible_match_subject_ids.{i}", ThirdPartyReason.OTHER_CHILD, s)
               for i, s in enumerate(detail.get("referral", {}).get("possible_match_subject_ids", []))]
    return DataItem(
        service=SERVICE, record_type=RECORD_TYPES.get(entry.kind, "case_history"), record_id=str(entry.entry_id),
        subject_id=subject_id, category=entry.category, source=entry.source,
        recorded_at=entry.recorded_at or datetime.now(UTC),
        data={"case_id": str(entry.case_id) if entry.case_id else None, "kind": entry.kind.value,
              "actor": entry.actor, "reason": entry.reason, "effective_on": entry.effective_on.isoformat(),
              "supersedes": entry.supersedes, "detail": detail},
        third_party=[ThirdPartyMarker(path=path, reason=reason, subject_id=UUID(str(subject)))
                     for path, reason, subject in others],
    )


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
