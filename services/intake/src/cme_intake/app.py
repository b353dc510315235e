"""create_app(): intake's HTTP API and Kafka subscribers on the shared runtime."""

from fastapi import FastAPI

from cme_shared.asyncapi import ChannelDoc, build_document
from cme_shared.contracts import topics
from cme_shared.contracts.events import ReferralAccepted
from cme_shared.contracts.referrals import Referral, ReferralOutcome
from cme_shared.http.app import create_service_app
from cme_shared.runtime import ServiceRuntime

from .adapters.tables import kit
from .entrypoints import http, kafka
from .service_layer.reception import ReferralReception
from .settings import IntakeSettings

CHANNELS = [
    ChannelDoc(topics.REFERRALS, "receive", "Partner referrals about children who may be missing education.",
               Referral, key="any; intake does not depend on it"),
    ChannelDoc(topics.REFERRAL_OUTCOMES, "send", "One outcome per referral received (Kafka or HTTP).",
               ReferralOutcome, key="the input record's key (none for HTTP)"),
    ChannelDoc(topics.dlq(topics.REFERRALS), "send",
               "Referrals that could not be understood, kept byte for byte with the reasons in headers.",
               key="the input record's key"),
    ChannelDoc(topics.REFERRAL_ACCEPTED, "send", "Internal: accepted referrals, for casework.",
               ReferralAccepted, key="child subject id"),
]


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    runtime = ServiceRuntime(settings, kit)
    reception = ReferralReception(runtime.outbox, runtime.topics)
    kafka.subscribe(runtime, reception)
    app = create_service_app(
        runtime,
        title="CME intake",
        description="Partner referrals in (Kafka and HTTP), validation, dead letters, outcomes back.",
        routers=[http.router(runtime, reception)],
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
