"""Answer rights' data collection for a subject access request: the subject's shares, with recipients,
who within the council looked at the subject's disclosure records (the access log, Art 15(1)(c)), and
what was disposed of and when (a tombstone per disposed disclosure record).

A disposed share still says it happened (DOMAIN 4: every share is accounted for; Art 15(1)(c): the
recipients the data "have been disclosed" to): its tombstone item names the recipient organisation (type,
id and name: the disclosure row keeps them, as the log's leaves do, and they are not personal data) and
the day it was shared. Nothing else of it remains: no reason, reference, person, field list or payload.
A refused or never-decided request's tombstone says only that a record was disposed of.
"""

from datetime import date
import uuid
from typing import Any

from cme_shared.clock import london_date
from cme_shared.contracts.categories import DataCategory
from cme_shared.contracts.rights import DataCollectionRequest, DataItem
from cme_shared.logging import get_logger
from cme_shared.replies import addressed_to, reply_in_chunks
from cme_shared.retention import Tombstone, tombstone_item

from ..adapters.unit_of_work import SERVICE, DisclosureUnitOfWork

log = get_logger(__name__)


def _item(subject_id: Any, record: dict[str, Any]) -> DataItem:
    recipient = record["recipient"]
    released = record["categories_released"]
    return DataItem(
        service=SERVICE,
        record_type="disclosure",
        record_id=str(record["disclosure_id"]),
        subject_id=subject_id,
        # A share spans categories; the item is filed under the first, the data lists them all.
        category=DataCategory(released[0]) if released else DataCategory.CONTACT,
        source="council disclosure record",
        recorded_at=record["shared_at"],
        data={
            "purpose": record["purpose"],
            "legal_gateway": record["legal_gateway"],
            "categories_released": released,
            "fields_released": record["fields_released"],
            "shared_at": record["shared_at"].isoformat(),
            "log_leaves": [leaf["leaf_index"] for leaf in record["log"]],
        },
        # Art 15(1)(c): the recipients, as organisations.
        recipient={"type": recipient.get("type"), "org_id": recipient.get("org_id"),
                   "org_name": recipient.get("org_name")},
    )


def _reported(record: dict[str, Any], today: date) -> bool:
    """A share an access request reports: one not withheld, or withheld only until a review date that has
    come (never blanket: DPA 2018 Sch 2 exemptions apply to the extent of the prejudice). A purged share
    names no subject any more, so it is not found at all."""
    withheld = record["withheld_from_sar"]
    return withheld is None or withheld["review_date"] <= today


async def _disposed(uow: DisclosureUnitOfWork, subject_id: uuid.UUID, tombstones: list[Tombstone],
                    today: date) -> list[DataItem]:
    """The subject's disposed disclosure records: what, when, under which rule; a share with its recipient
    organisation and day. A share withheld from access requests stays out until its review date, as it
    would have before its disposal."""
    records = {str(r["disclosure_id"]): r for r in await uow.disclosures.records(
        [uuid.UUID(t.record_id) for t in tombstones])}
    items = []
    for tombstone in tombstones:
        record = records.get(tombstone.record_id)
        if record is not None and not _reported(record, today):
            continue
        item = tombstone_item(SERVICE, tombstone, subject_id, uow.schedule)
        if record is not None and record["status"] == "shared" and record["shared_at"] is not None:
            recipient = record["recipient"]
            item.recipient = {"type": recipient.get("type"), "org_id": recipient.get("org_id"),
                              "org_name": recipient.get("org_name")}
            item.data |= {"shared_on": london_date(record["shared_at"]).isoformat(), "purpose": record["purpose"]}
        items.append(item)
    return items


async def on_data_collection(uow: DisclosureUnitOfWork, request: DataCollectionRequest) -> None:
    """The subject's shares and who looked at them, in reply chunks (the kit's protocol: cme_shared.replies).
    A share withheld from access requests is left out until its review date (London's day) has come."""
    if not addressed_to(request, SERVICE):
        return
    today = uow.clock.today()
    subject_ids = list(dict.fromkeys(request.subject_ids))
    items = [
        _item(subject_id, record)
        for subject_id in subject_ids
        for record in await uow.disclosures.shares_with(subject_id) if _reported(record, today)
    ]
    for subject_id in subject_ids:
        items += await _disposed(uow, subject_id, await uow.tombstones.about([subject_id]), today)
    items += await uow.access_log.items(subject_ids)
    await reply_in_chunks(uow.outbox, request, SERVICE, items, occurred_at=uow.clock.now())
    log.info("data_collection_answered", collection_id=str(request.collection_id), count=len(items))
