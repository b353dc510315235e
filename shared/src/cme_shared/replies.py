"""Answering the rights service: the reply protocol every service follows, written once.

A subject access request reaches each service as a `DataCollectionRequest` (contracts/rights.py, CONTRACT
section 4). A service answers only when the request is addressed to it (`addressed_to`: a re-ask after a
timeout names the services still owed, an empty list means every service), and answers with all it holds
about the subjects in `DataCollectionReply` chunks on its own replies topic (`reply_in_chunks`): numbered
from 0, each bounded in items and bytes, the last with `last=True` and `total_items`, so the rights
service knows the answer is whole when it has every chunk up to the last and as many items as announced
(`cme_rights.domain.collection.answer_complete`). An empty answer is still one chunk.

    async def on_data_collection(uow, request: DataCollectionRequest) -> None:
        if not addressed_to(request, SERVICE):
            return
        items = await collect(uow, request.subject_ids)
        await reply_in_chunks(uow.outbox, request, SERVICE, items, occurred_at=uow.clock.now())

Every reply of a service to rights (the chunks, a `SubjectLookupReply`, a `RectificationApplied`) is one
outbox row of aggregate type `REPLY_AGGREGATE_TYPE` (`send_reply`), keyed by what it answers, so the
chunks of one collection leave in order on one partition.
"""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel

from .contracts import topics
from .contracts.rights import (
    MAX_CHUNK_BYTES,
    MAX_ITEMS_PER_CHUNK,
    DataCollectionReply,
    DataCollectionRequest,
    DataItem,
    collection_replies,
)

REPLY_AGGREGATE_TYPE = "rights_reply"


class ReplyOutbox(Protocol):
    """What a reply needs of the unit of work's outbox (`BoundOutbox`, or `FakeOutbox` in tests)."""

    async def add(self, topic: str, event: BaseModel, *, aggregate_type: str,
                  aggregate_id: str) -> uuid.UUID: ...


def addressed_to(request: DataCollectionRequest, service: str) -> bool:
    """Whether `service` is asked to answer: it is named, or no service is (every service is asked)."""
    return not request.services or service in request.services


async def send_reply(outbox: ReplyOutbox, service: str, event: BaseModel, *, aggregate_id: str) -> None:
    """One reply of `service` to rights, on its replies topic, keyed by `aggregate_id` (what it answers)."""
    await outbox.add(topics.replies_of(service), event, aggregate_type=REPLY_AGGREGATE_TYPE,
                     aggregate_id=aggregate_id)


async def reply_in_chunks(outbox: ReplyOutbox, request: DataCollectionRequest, service: str,
                          items: Sequence[DataItem], *, occurred_at: datetime,
                          max_items: int = MAX_ITEMS_PER_CHUNK,
                          max_bytes: int = MAX_CHUNK_BYTES) -> list[DataCollectionReply]:
    """`service`'s whole answer to `request`: `items` in order, in chunks, the last saying how many there
    were; all in the caller's transaction (the inbox makes a redelivered request answer nothing twice).
    Returns the chunks sent."""
    replies = collection_replies(service, request.collection_id, items, max_items=max_items,
                                 max_bytes=max_bytes, occurred_at=occurred_at)
    for reply in replies:
        await send_reply(outbox, service, reply, aggregate_id=str(request.collection_id))
    return replies
