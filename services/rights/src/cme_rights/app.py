"""create_app(): rights's HTTP API, its Kafka subscriber, the collection sweep (and chunk pruning) and the PDF
printer's process on the shared runtime."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI

from cme_shared.asyncapi import ChannelDoc, build_document
from cme_shared.contracts import topics
from cme_shared.contracts.retention import LegalHoldChanged, RecordsDisposed
from cme_shared.contracts.shares import ShareMade
from cme_shared.http.app import create_service_app
from cme_shared.runtime import ServiceRuntime

from .adapters.pdf import Printer
from .adapters.tables import kit
from .adapters.unit_of_work import RightsUnitOfWork
from .domain.collection import CollectionPolicy, RetryPolicy
from .entrypoints import collector, http, kafka, public, retention
from .settings import RightsSettings

CHANNELS = [
    ChannelDoc(topics.DATA_COLLECTION_REQUESTS, "send",
               "SubjectLookup (the identity index answers with subject ids) and DataCollectionRequest (each "
               "service named in `services`, or every service, answers), correlated by collection_id; a "
               "service that has not answered in time is asked again.", kafka.Ask, key="rights request id"),
    *(ChannelDoc(topic, "receive",
                 f"{service}'s answers: SubjectLookupReply, DataCollectionReply chunks (the last with last=true "
                 "and total_items) and RectificationApplied, told apart by `kind`. Who answered is this topic's "
                 f"service; a message naming another `service` is dead-lettered. Signed by {service} "
                 "(x-cme-signer, x-cme-signature).", kafka.Reply)
      for service, topic in topics.REPLIES.items()),
    ChannelDoc(topics.RIGHTS_EVENTS, "send",
               "SubjectRestricted, RestrictionLifted and FactualRectification, which the other services "
               "honour.", kafka.RightsEvent, key="rights request id"),
    ChannelDoc(topics.SHARE_EVENTS, "send",
               "A transfer to another council, as a statutory share (purpose statutory_transfer), for the "
               "disclosure log.", ShareMade, key="rights request id"),
    ChannelDoc(topics.RETENTION_DISPOSALS, "send",
               "RecordsDisposed: rights requests the disposal job (`python -m cme_rights dispose`) disposed of, their "
               "content gone and a tombstone kept; ids, codes and dates only. Written by the job to the outbox, sent "
               "by the running service's relay; the disclosure log appends a leaf for each.", RecordsDisposed,
               key="disposal run id"),
    *(ChannelDoc(topics.LEGAL_HOLDS, action,
                 "LegalHoldChanged: rights sends one when a legal hold on a subject is placed or lifted in rights "
                 "(POST /legal-holds, /legal-holds/{hold_id}/lift; a hold on one rights request stays in rights), "
                 "and keeps the same hold (same hold_id, placed once and lifted once whatever the order) when "
                 "another service sends one; its own are ignored. Ids, codes, who and when, never the reason.",
                 LegalHoldChanged, key="legal hold id") for action in ("send", "receive")),
]


def collection_policy(settings: RightsSettings) -> CollectionPolicy:
    return CollectionPolicy(
        lookup_service=settings.lookup_service, collection_services=tuple(settings.collection_services),
        recipients_service=settings.recipients_service,
        retry=RetryPolicy(timeout=timedelta(seconds=settings.collection_timeout_seconds),
                          max_attempts=settings.collection_max_attempts),
        chunk_retention=timedelta(days=settings.chunk_retention_days))


def create_app(settings: RightsSettings | None = None) -> FastAPI:
    settings = settings or RightsSettings()
    runtime = ServiceRuntime(settings, kit)
    policy = collection_policy(settings)
    schedule = settings.retention_schedule()  # a bad schedule file stops the service here, not a pack later
    runtime.make_unit_of_work = lambda: RightsUnitOfWork(**runtime.unit_of_work_parts(), policy=policy,
                                                         schedule=schedule)
    kafka.subscribe(runtime, [settings.lookup_service, *settings.collection_services, settings.recipients_service])
    printer = Printer(settings.pdf_font_path, settings.pdf_timeout_seconds)
    app = create_service_app(
        runtime,
        title="CME rights",
        description="Subject access and the other data-protection rights, on the statutory clock.",
        routers=[http.router(runtime, printer), public.router(runtime, settings), retention.router(runtime)],
        asyncapi=lambda: build_document("CME rights", "1.0.0", "Topics rights uses.", CHANNELS, runtime.topics,
                                        settings.kafka_bootstrap),
    )
    # The collection sweep runs inside the app's lifespan, after the runtime (broker, relay) started.
    runtime_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[None]:
        try:
            async with runtime_lifespan(application), collector.running(runtime, settings):
                yield
        finally:
            printer.close()

    app.router.lifespan_context = lifespan
    return app
