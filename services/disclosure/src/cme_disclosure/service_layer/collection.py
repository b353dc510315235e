"""Answer rights' data collection for a subject access request: the subject's shares, with recipients,
and who within the council looked at the subject's disclosure records (the access log, Art 15(1)(c))."""

from datetime import date
from typing import Any

from cme_shared.contracts.categories import DataCategory
from cme_shared.contracts.rights import DataCollectionRequest, DataItem
from cme_shared.logging import get_logger
from cme_shared.replies import addressed_to, reply_in_chunks

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
    items += await uow.access_log.items(subject_ids)
    await reply_in_chunks(uow.outbox, request, SERVICE, items, occurred_at=uow.clock.now())
    log.info("data_collection_answered", collection_id=str(request.collection_id), count=len(items))
