"""The rights service's requests of casework: restriction, factual rectification, and subject access.

Replies follow the kit's reply protocol (cme_shared.replies) and go through the outbox in the same
transaction as what they report (the inbox makes a redelivered request change nothing and answer nothing
twice).
"""

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

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
)
from cme_shared.logging import get_logger
from cme_shared.replies import addressed_to, reply_in_chunks, send_reply
from cme_shared.retention import tombstone_item

from ..adapters.access_log import SERVICE
from ..adapters.unit_of_work import CaseworkUnitOfWork
from ..domain import cnis_register
from ..domain.history import SYSTEM_RIGHTS, Entry, Kind
from ..domain.rectification import rectify
from .case_writes import append_entries
from .referrals import release_held_referrals

log = get_logger(__name__)

RightsEvent = SubjectRestricted | RestrictionLifted | FactualRectification


async def on_rights_event(uow: CaseworkUnitOfWork, event: RightsEvent | None) -> None:
    """The `rights-events` consumer's handler: the kinds casework acts on (None: a kind for others)."""
    if isinstance(event, FactualRectification):
        await on_rectification(uow, event)
    elif event is not None:
        await on_restriction(uow, event)


async def on_restriction(uow: CaseworkUnitOfWork, event: SubjectRestricted | RestrictionLifted) -> None:
    cases = uow.cases
    restricted = isinstance(event, SubjectRestricted)
    await cases.record_restriction(event.subject_ids, event.rights_request_id,
                                   "restricted" if restricted else "lifted", event.reason, event.event_id)
    kind = Kind.RESTRICTION_APPLIED if restricted else Kind.RESTRICTION_LIFTED
    case_rows = await cases.lock_cases_of_subjects(event.subject_ids)  # all at once, in case_id order
    for row in case_rows:
        state = await cases.state(row["case_id"])
        entry = Entry(kind, SYSTEM_RIGHTS, f"UK GDPR Art 18: {kind.value.replace('_', ' ')}", uow.clock.today(),
                      DataCategory.EDUCATION, f"rights request {event.rights_request_id}",
                      {"rights_request_id": str(event.rights_request_id)})
        await append_entries(uow, state, [entry], case_id=row["case_id"], child_subject_id=row["child_subject_id"])
    if not restricted:
        # Referrals held for a child whose carer was restricted are held under the child's id.
        for child in dict.fromkeys([*event.subject_ids, *(row["child_subject_id"] for row in case_rows)]):
            await release_held_referrals(uow, child)


async def on_rectification(uow: CaseworkUnitOfWork, event: FactualRectification) -> None:
    changed = 0
    for row in await uow.cases.lock_child_cases(event.subject_id):
        state = await uow.cases.state(row["case_id"])
        try:
            entry = rectify(state, field=event.field, new_value=event.new_value,
                            rights_request_id=str(event.rights_request_id), decided_by=event.decided_by,
                            today=uow.clock.today())
        except ValueError:
            log.warning("rectification_value_refused", request_id=str(event.rights_request_id),
                        case_id=str(row["case_id"]))
            continue
        if entry is not None:
            await append_entries(uow, state, [entry], case_id=row["case_id"], child_subject_id=event.subject_id)
            changed += 1
    reply = RectificationApplied(event_id=uuid4(), occurred_at=uow.clock.now(), service=SERVICE,
                                 rights_request_id=event.rights_request_id, subject_id=event.subject_id,
                                 records_changed=changed)
    await send_reply(uow.outbox, SERVICE, reply, aggregate_id=str(event.rights_request_id))


async def on_data_collection(uow: CaseworkUnitOfWork, request: DataCollectionRequest | None) -> None:
    """Everything casework holds about the subjects, in chunks, the last saying how many items there were."""
    if request is None or not addressed_to(request, SERVICE):
        return  # another kind on the topic, or a re-ask addressed to other services only
    items = await collect(uow, request.subject_ids)
    await reply_in_chunks(uow.outbox, request, SERVICE, items, occurred_at=uow.clock.now())


RECORD_TYPES = {
    Kind.ENQUIRY_MADE: "enquiry", Kind.ENQUIRY_ANSWERED: "enquiry",
    Kind.NOTE_ADDED: "note", Kind.NOTE_CORRECTED: "note", Kind.ADDENDUM_ATTACHED: "note_addendum",
}


async def collect(uow: CaseworkUnitOfWork, subject_ids: list[UUID]) -> list[DataItem]:
    items: list[DataItem] = []
    wanted = set(subject_ids)
    for row in await uow.cases.cases_of_subjects(subject_ids):
        if row["child_subject_id"] in wanted:
            items.extend(_case_items(row))
        for carer in set(row["carer_subject_ids"]) & wanted:
            items.append(DataItem(
                service=SERVICE, record_type="case_link", record_id=str(row["case_id"]), subject_id=carer,
                category=DataCategory.CONTACT, source="referral", recorded_at=row["opened_at"],
                data={"case_id": str(row["case_id"]), "link": "named as a carer in a referral about a child"},
                third_party=[ThirdPartyMarker(path="case_id", reason=ThirdPartyReason.OTHER_CHILD,
                                              subject_id=row["child_subject_id"])]))
    now = uow.clock.now()
    items.extend(_history_item(entry, child, now) for entry, child in await uow.cases.history_of_children(subject_ids))
    # Elective home education records and their history (issue 14, item 2), and the register (item 3, only
    # with the feature on: with it off nothing of it exists).
    items.extend(await ehe_items(uow, subject_ids, now))
    # Who within the council looked at the subject's record here (Art 15(1)(c) recipients; issue 13).
    items.extend(await uow.access_log.items(subject_ids))
    # What was disposed of under the retention schedule, and when: the content is gone, its tombstone stays.
    for tombstone in await uow.retention.tombstones.about(subject_ids):
        items.extend(tombstone_item(SERVICE, tombstone, subject, uow.schedule)
                     for subject in tombstone.subject_ids if subject in wanted)
    return items


async def ehe_items(uow: CaseworkUnitOfWork, subject_ids: list[UUID], now: datetime) -> list[DataItem]:
    items: list[DataItem] = []
    for row in await uow.ehe.records_of_children(subject_ids):
        items.append(DataItem(
            service=SERVICE, record_type="ehe_record", record_id=str(row["ehe_id"]), subject_id=row["child_subject_id"],
            category=DataCategory.EDUCATION, source="casework", recorded_at=row["opened_at"],
            data={"ehe_id": str(row["ehe_id"]), "status": row["status"], "borough": row["borough"],
                  "notice_on": _iso(row["notice_on"]), "outcome": row["outcome"],
                  "cme_case_id": _iso_id(row["cme_case_id"]), "review_due_on": _iso(row["review_due_on"]),
                  "next_due_date": _iso(row["next_due_date"]), "next_due_kind": row["next_due_kind"],
                  "closed_on": _iso(row["closed_on"])}))
    for entry, child in await uow.ehe.history_of_children(subject_ids):
        detail = dict(entry.detail)
        others = [(f"detail.carer_subject_ids.{i}", ThirdPartyReason.OTHER_CARER, s)
                  for i, s in enumerate(detail.get("carer_subject_ids", []))]
        items.append(DataItem(
            service=SERVICE, record_type="ehe_history", record_id=str(entry.entry_id), subject_id=child,
            category=entry.category, source=entry.source, recorded_at=entry.recorded_at or now,
            data={"ehe_id": str(entry.ehe_id), "kind": entry.kind.value, "actor": entry.actor, "reason": entry.reason,
                  "effective_on": entry.effective_on.isoformat(), "detail": detail},
            third_party=[ThirdPartyMarker(path=path, reason=reason, subject_id=UUID(str(subject)))
                         for path, reason, subject in others]))
    if uow.cnis_register:
        for row in await uow.ehe.register_of_children(subject_ids):
            items.append(DataItem(
                service=SERVICE, record_type="cnis_register_entry", record_id=str(row["version_id"]),
                subject_id=row["child_subject_id"], category=DataCategory.EDUCATION, source=row["entered_by"],
                recorded_at=row["recorded_at"],
                data={"ehe_id": str(row["ehe_id"]), "borough": row["borough"], "reason": row["reason"],
                      "fields": cnis_register.minimised(row["content"]), "categories": cnis_register.categories()}))
    return items


def _iso_id(value: Any) -> str | None:
    return str(value) if value is not None else None


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


def _history_item(entry: Entry, subject_id: UUID, now: datetime) -> DataItem:
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
        recorded_at=entry.recorded_at or now,
        data={"case_id": str(entry.case_id) if entry.case_id else None, "kind": entry.kind.value,
              "actor": entry.actor, "reason": entry.reason, "effective_on": entry.effective_on.isoformat(),
              "supersedes": entry.supersedes, "detail": detail},
        third_party=[ThirdPartyMarker(path=path, reason=reason, subject_id=UUID(str(subject)))
                     for path, reason, subject in others],
    )


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
