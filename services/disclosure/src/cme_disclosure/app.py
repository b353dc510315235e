"""create_app(): disclosure's HTTP API and Kafka subscribers on the shared runtime."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from cme_shared.asyncapi import ChannelDoc, build_document
from cme_shared.contracts import topics
from cme_shared.contracts.log import TreeHeadPublished
from cme_shared.contracts.retention import LegalHoldChanged, RecordsDisposed
from cme_shared.contracts.rights import DataCollectionReply, DataCollectionRequest, SubjectRestricted
from cme_shared.contracts.shares import ShareMade
from cme_shared.http.app import create_service_app
from cme_shared.runtime import ServiceRuntime

from .adapters.merkle_store import KeyRing
from .adapters.tables import kit
from .adapters.unit_of_work import DisclosureUnitOfWork
from .domain.policy import DisclosureRules, load_policy
from .domain.tree_head import key_id, load_public_key
from .entrypoints import http, kafka, retention_http
from .service_layer.log import LOG_AGGREGATE
from .service_layer.witness import Cosigner, WitnessClient
from .settings import DisclosureSettings

CHANNELS = [
    ChannelDoc(topics.SHARE_EVENTS, "receive", "Shares other services made; each becomes a log leaf.", ShareMade,
               key="the sharing service's aggregate id"),
    ChannelDoc(topics.RIGHTS_EVENTS, "receive", "Restrictions (Art 18) and their lifting; other kinds ignored.",
               SubjectRestricted, key="rights request id"),
    ChannelDoc(topics.DATA_COLLECTION_REQUESTS, "receive",
               "Access request data collection; kinds other than data_collection are ignored.",
               DataCollectionRequest, key="collection id"),
    ChannelDoc(topics.replies_of("disclosure"), "send", "The subject's shares, with recipients, in chunks.",
               DataCollectionReply, key="collection id"),
    ChannelDoc(topics.RETENTION_DISPOSALS, "receive",
               "Records disposed of, acted on only from their record type's owner: one log leaf each; a child's "
               "identity (after their cases) makes their disclosures due.",
               RecordsDisposed, key="the disposal run id"),
    ChannelDoc(topics.RETENTION_DISPOSALS, "send",
               "Disclosure records the disposal job disposed of (written by `dispose`, sent by the relay).",
               RecordsDisposed, key="the disposal run id"),
    ChannelDoc(topics.LEGAL_HOLDS, "receive",
               "Legal holds on a subject or a case placed or lifted in another service: disclosure keeps the same hold.",
               LegalHoldChanged, key="the hold id"),
    ChannelDoc(topics.LEGAL_HOLDS, "send",
               "Legal holds on a subject or a case placed or lifted in disclosure, for the other services.",
               LegalHoldChanged, key="the hold id"),
    ChannelDoc(topics.TREE_HEADS, "send", "Every signed tree head of the disclosure log.", TreeHeadPublished,
               key=LOG_AGGREGATE),
]


def use_disclosure_units_of_work(runtime: ServiceRuntime, settings: DisclosureSettings) -> KeyRing:
    """Make `runtime.unit_of_work()` a DisclosureUnitOfWork (its repositories, the log's signing key, the
    policy and limits); returns the key ring, whose public half the log's routes show."""
    config = unit_of_work_config(settings)
    runtime.make_unit_of_work = lambda: DisclosureUnitOfWork(**runtime.unit_of_work_parts(), **config)
    return config["keys"]  # type: ignore[no-any-return]


def unit_of_work_config(settings: DisclosureSettings) -> dict[str, Any]:
    """What a DisclosureUnitOfWork takes besides the runtime's parts (the service's and the disposal job's):
    the log's signing key, the policy and limits, the log's origin and the retention schedule in force."""
    rules = DisclosureRules(load_policy(settings.disclosure_policy_file),
                            withholding_max_days=settings.withholding_max_days,
                            requests_per_hour=settings.disclosure_requests_per_hour)
    return {"keys": KeyRing(settings.log_key()), "rules": rules, "origin": settings.log_origin,
            "schedule": settings.retention_schedule()}


def create_app(settings: DisclosureSettings | None = None) -> FastAPI:
    settings = settings or DisclosureSettings()
    runtime = ServiceRuntime(settings, kit)
    keys = use_disclosure_units_of_work(runtime, settings)
    pinned = [load_public_key(pem) for pem in settings.pinned_public_keys()]
    if key_id(keys.public_key()) not in {key_id(k) for k in pinned}:
        raise ValueError("the log signing key is not among the pinned public keys (CME_LOG_PUBLIC_KEY)")
    kafka.subscribe(runtime)
    app = create_service_app(
        runtime,
        title="CME disclosure",
        description="Every share and decision not to share, policy-checked, in an RFC 6962 log.",
        routers=[http.disclosures_router(runtime),
                 http.log_router(runtime, keys, settings.log_origin, pinned, settings.log_witness_key),
                 retention_http.retention_router(runtime)],
        asyncapi=lambda: build_document("CME disclosure", "1.0.0", "Topics disclosure uses.", CHANNELS,
                                        runtime.topics, settings.kafka_bootstrap),
    )
    if settings.log_witness_url and settings.log_witness_key:
        app.state.cosigner = _cosign_in_background(app, runtime, WitnessClient(
            settings.log_witness_url, settings.log_witness_key, settings.log_witness_timeout_seconds))
    return app


def _cosign_in_background(app: FastAPI, runtime: ServiceRuntime, client: WitnessClient) -> Cosigner:
    """Run the witness cosigner while the app runs, inside the shared lifespan."""
    cosigner = Cosigner(runtime.unit_of_work, client)  # type: ignore[arg-type]
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: FastAPI) -> AsyncIterator[Any]:
        async with inner(a) as state:
            await cosigner.start()
            try:
                yield state
            finally:
                await cosigner.stop()

    app.router.lifespan_context = lifespan
    return cosigner
