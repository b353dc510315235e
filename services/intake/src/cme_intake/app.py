"""create_app(): intake's HTTP API and Kafka subscribers on the shared runtime."""

from fastapi import FastAPI

from cme_shared.asyncapi import ChannelDoc, build_document
from cme_shared.contracts import topics
from cme_shared.contracts.events import ReferralAccepted
from cme_shared.contracts.referrals import Referral, ReferralOutcome
from cme_shared.contracts.retention import LegalHoldChanged, RecordsDisposed
from cme_shared.contracts.rights import DataCollectionReply, DataCollectionRequest, FactualRectification
from cme_shared.http.app import create_service_app
from cme_shared.runtime import ServiceRuntime

from .adapters.partner_bindings import BindingsFile
from .adapters.sealing import Seal
from .adapters.tables import kit
from .adapters.unit_of_work import IntakeUnitOfWork
from .entrypoints import http, kafka, officers, retention_routes
from .settings import IntakeSettings

CHANNELS = [
    ChannelDoc(topics.REFERRALS, "receive",
               "Partner referrals about children who may be missing education. A partner login bound to an "
               "org (make kafka-user ORG_ID=...) sends each referral with the headers x-cme-partner (its "
               "username) and x-cme-partner-mac (HMAC-SHA256 of the record value under its mac_key, hex); "
               "referrals for a bound org without them, or for another org, are rejected.",
               Referral, key="any; intake does not depend on it"),
    ChannelDoc(topics.REFERRAL_OUTCOMES, "send", "One outcome per referral received (Kafka or HTTP).",
               ReferralOutcome, key="the input record's key (none for HTTP)"),
    ChannelDoc(topics.dlq(topics.REFERRALS), "send",
               "Referrals that could not be understood, kept byte for byte with the reasons in headers.",
               key="the input record's key"),
    ChannelDoc(topics.REFERRAL_ACCEPTED, "send", "Internal: accepted referrals, for casework.",
               ReferralAccepted, key="child subject id"),
    ChannelDoc(topics.DATA_COLLECTION_REQUESTS, "receive",
               "Internal: the rights service's subject lookups and data collection requests (other kinds "
               "on this topic are ignored).", DataCollectionRequest, key="collection id"),
    ChannelDoc(topics.replies_of("intake"), "send",
               "Internal: subject lookup replies, data collection chunks and rectification receipts.",
               DataCollectionReply, key="collection id or rights request id"),
    ChannelDoc(topics.RIGHTS_EVENTS, "receive",
               "Internal: factual rectifications to apply as new versions, and Art 18 restrictions placed "
               "and lifted (a restricted subject's records are kept from disposal); other kinds are ignored.",
               FactualRectification, key="as the rights service sets it"),
    ChannelDoc(topics.RETENTION_DISPOSALS, "receive",
               "Internal: records other services disposed of; intake disposes of the referrals a disposed case "
               "drew on (related_record_ids.referral) in its next disposal run. Its own events are ignored.",
               RecordsDisposed, key="the disposal run"),
    ChannelDoc(topics.RETENTION_DISPOSALS, "send",
               "Internal: what intake's disposal job disposed of (referrals, dead letters, identities), written "
               "by the job, sent by the running service's relay; disclosure logs a leaf for each.",
               RecordsDisposed, key="the disposal run"),
    ChannelDoc(topics.LEGAL_HOLDS, "receive",
               "Internal: legal holds on a subject or a case placed or lifted in another service; intake keeps "
               "the same hold (same id). Its own events are ignored.", LegalHoldChanged, key="the hold id"),
    ChannelDoc(topics.LEGAL_HOLDS, "send",
               "Internal: a legal hold on a subject or a case placed or lifted in intake, for the other services "
               "to keep too.", LegalHoldChanged, key="the hold id"),
]


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    runtime = ServiceRuntime(settings, kit)
    seal = Seal(settings.seal_key.get_secret_value())
    schedule = settings.retention_schedule()
    runtime.make_unit_of_work = lambda: IntakeUnitOfWork(
        **runtime.unit_of_work_parts(), seal=seal, districts=settings.postcode_districts,
        digest_key=settings.digest_key(), schedule=schedule)
    bindings = BindingsFile(settings.partner_bindings_path(), required=settings.partner_bindings_file is not None)
    kafka.subscribe(runtime, bindings)
    app = create_service_app(
        runtime,
        title="CME intake",
        description="Partner and public referrals in (Kafka and HTTP), validation, dead letters, outcomes back; "
                    "the identity index and its possible matches; the triage list.",
        routers=[http.router(runtime, settings), officers.router(runtime), retention_routes.router(runtime)],
        body_limits=http.BODY_LIMITS,
        asyncapi=lambda: build_document(
            "CME intake", "1.0.0", "Referral topics of the CME platform.", CHANNELS, runtime.topics,
            settings.kafka_bootstrap,
        ),
    )
    # The request body is read raw (so a reject can be kept byte for byte): document its schema here.
    original_openapi = app.openapi

    def openapi() -> dict:
        schema = original_openapi()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        referral_schema = Referral.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(referral_schema.pop("$defs", {}))
        components["Referral"] = referral_schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
