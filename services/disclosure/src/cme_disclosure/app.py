"""create_app(): disclosure's HTTP API and Kafka subscribers on the shared runtime."""

from fastapi import FastAPI

from cme_shared.asyncapi import build_document
from cme_shared.http.app import create_service_app
from cme_shared.runtime import ServiceRuntime

from .adapters.tables import kit
from .settings import DisclosureSettings


def create_app(settings: DisclosureSettings | None = None) -> FastAPI:
    settings = settings or DisclosureSettings()
    runtime = ServiceRuntime(settings, kit)
    return create_service_app(
        runtime,
        title="CME disclosure",
        description="Every share and decision not to share, policy-checked, in an RFC 6962 log.",
        routers=[],
        asyncapi=lambda: build_document("CME disclosure", "1.0.0", "Topics disclosure uses.", [], runtime.topics,
                                        settings.kafka_bootstrap),
    )
