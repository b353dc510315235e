"""create_app(): casework's HTTP API and Kafka subscribers on the shared runtime."""

from fastapi import FastAPI

from cme_shared.asyncapi import ChannelDoc, build_document
from cme_shared.contracts import topics
from cme_shared.contracts.events import ReferralAccepted
from cme_shared.http.app import create_service_app
from cme_shared.runtime import ServiceRuntime

from .adapters.tables import kit
from .entrypoints import http, kafka
from .settings import CaseworkSettings

CHANNELS = [
    ChannelDoc(topics.REFERRAL_ACCEPTED, "receive", "Accepted referrals from intake.", ReferralAccepted,
               key="child subject id"),
]


def create_app(settings: CaseworkSettings | None = None) -> FastAPI:
    settings = settings or CaseworkSettings()
    runtime = ServiceRuntime(settings, kit)
    kafka.subscribe(runtime)
    return create_service_app(
        runtime,
        title="CME casework",
        description="Cases on the statutory clock, enquiries, escalation, closure, records as they happened.",
        routers=[http.router(runtime)],
        asyncapi=lambda: build_document("CME casework", "1.0.0", "Topics casework uses.", CHANNELS,
                                        runtime.topics, settings.kafka_bootstrap),
    )
