"""Answer rights' data collection for a subject access request: the subject's shares, with recipients,
and who within the council looked at the subject's disclosure records (the access log, Art 15(1)(c))."""

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cme_shared.access_log import access_items
from cme_shared.contracts import topics
from cme_shared.contracts.categories import DataCategory
from cme_shared.contracts.rights import DataCollectionRequest, DataItem, collection_replies
from cme_shared.runtime import ServiceRuntime

from .views import shared_for_access_request

SERVICE = "disclosure"


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


async def answer(session: AsyncSession, runtime: ServiceRuntime, request: DataCollectionRequest,
                 today: date | None = None) -> int | None:
    """Queue the reply chunks in the outbox; returns how many items they carry (None: not asked).

    A re-ask after a timeout names only the services still owed; disclosure answers when named or
    when no service is named (every service).
    """
    if request.services and SERVICE not in request.services:
        return None
    today = today or datetime.now(UTC).date()
    subject_ids = list(dict.fromkeys(request.subject_ids))
    items = [
        _item(subject_id, record)
        for subject_id in subject_ids
        for record in await shared_for_access_request(session, subject_id, today)
    ]
    items += await access_items(session, runtime.kit.access_log, SERVICE, subject_ids)
    for reply in collection_replies(SERVICE, request.collection_id, items):
        await runtime.outbox.add(session, topic=runtime.topics(topics.replies_of("disclosure")), event=reply,
                                 aggregate_type="data_collection", aggregate_id=str(request.collection_id))
    return len(items)
