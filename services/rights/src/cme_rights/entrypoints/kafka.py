"""Kafka in: the other services' answers, each on its own replies topic (lookups, data chunks, rectifications).

Who answered is the topic's service: only that service may write it (ACLs) and the kit accepts only its
signature there. A reply whose `service` field names anyone else is dead-lettered, never believed.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated

from pydantic import Field, RootModel
from sqlalchemy.ext.asyncio import AsyncSession

from cme_shared.contracts import topics
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

from ..service_layer import collection
from ..service_layer.context import RightsContext


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


def subscribe(runtime: ServiceRuntime, ctx: RightsContext) -> None:
    def handler(service: str) -> Callable[[AsyncSession, Reply, Delivery], Awaitable[None]]:
        async def handle(session: AsyncSession, reply: Reply, _delivery: Delivery) -> None:
            match reply.root:
                case SubjectLookupReply() as lookup:
                    await collection.on_lookup_reply(ctx, session, service, lookup)
                case DataCollectionReply() as chunk:
                    await collection.on_collection_reply(ctx, session, service, chunk)
                case RectificationApplied() as applied:
                    await collection.on_rectification_applied(session, service, applied)

        return handle

    settings = ctx.settings
    answering = dict.fromkeys([settings.lookup_service, *settings.collection_services, settings.recipients_service])
    for service in answering:
        runtime.consume(f"collection-replies-{service}", topics.replies_of(service), replies_parser(service),
                        handler(service))
