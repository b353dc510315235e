"""create_app(): rights's HTTP API and Kafka subscribers on the shared runtime."""

from fastapi import FastAPI

from cme_shared.asyncapi import build_document
from cme_shared.http.app import create_service_app
from cme_shared.runtime import ServiceRuntime

from .adapters.tables import kit
from .settings import RightsSettings


def create_app(settings: RightsSettings | None = None) -> FastAPI:
    settings = settings or RightsSettings()
    runtime = ServiceRuntime(settings, kit)
    return create_service_app(
        runtime,
        title="CME rights",
        description="Subject access and the other data-protection rights, on the statutory clock.",
        routers=[],
        asyncapi=lambda: build_document("CME rights", "1.0.0", "Topics rights uses.", [], runtime.topics,
                                        settings.kafka_bootstrap),
    )
