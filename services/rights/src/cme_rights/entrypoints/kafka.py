"""Kafka in: the other services' answers, each on its own replies topic (lookups, data chunks, rectifications).

Who answered is the topic's service: only that service may write it (ACLs) and the kit accepts only its
signature there. A reply whose `service` field names anyone else is dead-lettered, never believed, so the
handlers (service_layer/collection.py) may take a reply's `service` as its sender.
"""

from collections.abc import Callable
from typing import Annotated

from pydantic import Field, RootModel

from cme_shared.contracts import topics
from cme_shared.contracts.retention import LegalHoldChanged
from cme_shared.contracts.rights import (
    DataCollectionReply,
    DataCollectionRequest,
    FactualRectification,
    RectificationApplied,
    RestrictionLifted,
    SubjectLookup,
    SubjectLookupReply,
    SubjectRestricted,
)
from cme_shared.messaging.consumer import Delivery, json_model_parser, unreadable_because
from cme_shared.runtime import ServiceRuntime

from ..adapters.unit_of_work import RightsUnitOfWork
from ..service_layer import collection, retention


SERVICE_MISMATCH = "service_mismatch"


class Reply(RootModel[Annotated[SubjectLookupReply | DataCollectionReply | RectificationApplied,
                                Field(discriminator="kind")]]):
    """One message on the replies topic, told apart by its `kind`."""


class Ask(RootModel[Annotated[SubjectLookup | DataCollectionRequest, Field(discriminator="kind")]]):
    """What rights sends on the requests topic (documentation: AsyncAPI)."""


class RightsEvent(RootModel[Annotated[SubjectRestricted | RestrictionLifted | FactualRectification,
                                      Field(discriminator="kind")]]):
    """What rights publishes on the rights events topic (documentation: AsyncAPI)."""


def replies_parser(service: str) -> Callable[[Delivery], Reply]:
    """Replies from `service`'s own topic: one that says it comes from another service is refused."""
    parse = json_model_parser(Reply)

    def parse_from(delivery: Delivery) -> Reply:
        reply: Reply = parse(delivery)
        if reply.root.service != service:
            raise unreadable_because(SERVICE_MISMATCH, f"a reply on {service}'s topic names another service")
        return reply

    return parse_from


async def on_reply(uow: RightsUnitOfWork, reply: Reply) -> None:
    """Each kind of reply to its handler, in the unit of work the kit opened for the record."""
    match reply.root:
        case SubjectLookupReply() as lookup:
            await collection.on_lookup_reply(uow, lookup)
        case DataCollectionReply() as chunk:
            await collection.on_collection_reply(uow, chunk)
        case RectificationApplied() as applied:
            await collection.on_rectification_applied(uow, applied)


async def on_legal_hold_changed(uow: RightsUnitOfWork, event: LegalHoldChanged) -> None:
    """A legal hold on a subject placed or lifted in another service: rights keeps the same hold (issue 14)."""
    await retention.on_legal_hold_changed(uow, event)


def subscribe(runtime: ServiceRuntime, services: list[str]) -> None:
    """One consumer per answering service, on its own replies topic; one on the legal holds topic."""
    for service in dict.fromkeys(services):
        runtime.consume(f"collection-replies-{service}", topics.replies_of(service), replies_parser(service),
                        on=on_reply)
    runtime.consume("legal-holds", topics.LEGAL_HOLDS, json_model_parser(LegalHoldChanged),
                    on=on_legal_hold_changed)
