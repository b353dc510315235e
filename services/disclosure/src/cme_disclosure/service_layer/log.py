"""Recording in the disclosure log: every request, decision, share, withholding and purge is appended as
leaves in the transaction that makes it, bound to its record, and every new signed head is published on
the tree-heads topic, so copies of the heads exist outside the log's database (verify-log compares them).
"""

import uuid

from cme_shared.contracts import topics
from cme_shared.contracts.log import TreeHeadPublished

from ..adapters.unit_of_work import DisclosureUnitOfWork
from ..domain.entries import Entry
from ..domain.tree_head import SignedTreeHead

LOG_AGGREGATE = "disclosure-log"  # one key: heads keep their order on the topic


async def record_in_log(uow: DisclosureUnitOfWork, disclosure_id: uuid.UUID, entries: list[Entry]) -> list[int]:
    """Append `entries` for this disclosure; returns their leaf indices."""
    appended = await uow.log.append(entries)
    indices = [appended.index_of(i) for i in range(len(entries))]
    await uow.disclosures.bind_leaves(disclosure_id, [(index, e.kind.value) for index, e in zip(indices, entries)])
    await publish_head(uow, appended.head)
    return indices


async def record_unbound(uow: DisclosureUnitOfWork, entries: list[Entry]) -> list[int]:
    """Append `entries` that belong to no disclosure record (a disposal notice); returns their indices."""
    appended = await uow.log.append(entries)
    await publish_head(uow, appended.head)
    return [appended.index_of(i) for i in range(len(entries))]


async def publish_head(uow: DisclosureUnitOfWork, head: SignedTreeHead) -> None:
    body = head.as_json()
    event = TreeHeadPublished(
        event_id=uuid.uuid4(), occurred_at=uow.clock.now(), tree_size=body["tree_size"],
        root_hash=body["root_hash"], timestamp=body["timestamp"], key_id=body["key_id"],
        signature=body["signature"], signed_bytes=body["signed_bytes"],
    )
    await uow.outbox.add(topics.TREE_HEADS, event, aggregate_type="tree_head", aggregate_id=LOG_AGGREGATE)
