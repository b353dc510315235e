"""Kafka in: the other services' answers on the replies topic (lookups, data chunks, rectifications)."""

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
from cme_shared.messaging.consumer import Delivery, json_model_parser
from cme_shared.runtime import ServiceRuntime

from ..service_layer import collection
from ..service_layer.context import RightsContext


class Reply(RootModel[Annotated[SubjectLookupReply | DataCollectionReply | RectificationApplied,
                                Field(discriminator="kind")]]):
    """One message on the replies topic, told apart by its `kind`."""


class Ask(RootModel[Annotated[SubjectLookup | DataCollectionRequest, Field(discriminator="kind")]]):
    """What rights sends on the requests topic (documentation: AsyncAPI)."""


class RightsEvent(RootModel[Annotated[SubjectRestricted | RestrictionLifted | FactualRectification,
                                      Field(discriminator="kind")]]):
    """What rights publishes on the rights events topic (documentation: AsyncAPI)."""


def subscribe(runtime: ServiceRuntime, ctx: RightsContext) -> None:
    async def handle(session: AsyncSession, reply: Reply, _delivery: Delivery) -> None:
        match reply.root:
            case SubjectLookupReply() as lookup:
                await collection.on_lookup_reply(ctx, session, lookup)
            case DataCollectionReply() as chunk:
                await collection.on_collection_reply(ctx, session, chunk)
            case RectificationApplied() as applied:
                await collection.on_rectification_applied(session, applied)

    runtime.consume("collection-replies", topics.DATA_COLLECTION_REPLIES, json_model_parser(Reply), handle)
