"""Edges a hostile review found after the first round: a message id the inbox cannot key, header names
JSONB cannot hold, values the driver cannot encode, a body that stops arriving, and metric labels a client
could multiply without end."""

import asyncio
import uuid

import asyncpg.exceptions._base as asyncpg_client
import httpx
import pytest
from fastapi import FastAPI, Request
from prometheus_client import REGISTRY
from pydantic import ValidationError
from sqlalchemy.exc import InterfaceError

from cme_shared.contracts.rights import DataCollectionReply
from cme_shared.http.errors import install_error_handlers
from cme_shared.http.limits import BodyLimit
from cme_shared.messaging.consumer import Delivery, is_transient
from cme_shared.messaging.outbox import decode_headers, encode_headers

pytestmark = pytest.mark.unit


def delivery(headers: list[tuple[str, bytes | None]]) -> Delivery:
    return Delivery(topic="t", partition=2, offset=7, key=None, value=b"{}", headers=headers)


@pytest.mark.parametrize("event_id", [b"a\x00", b"x" * 3_000, b"not-a-uuid", b"", None])
def test_an_event_id_that_is_not_a_uuid_is_not_the_inbox_key(event_id):
    assert delivery([("event_id", event_id)]).message_id == "t:2:7"


def test_our_own_event_ids_still_are():
    event_id = uuid.uuid4()
    assert delivery([("event_id", str(event_id).encode())]).message_id == str(event_id)


def test_header_names_jsonb_cannot_hold_survive_the_outbox():
    headers = [("\x00", b""), ("a\x00b", None), ("plain", b"\x00\xff")]
    stored = encode_headers(headers)
    assert not any("\x00" in str(part) for entry in stored for part in entry)
    assert decode_headers(stored) == headers


def test_a_value_the_driver_cannot_encode_is_the_messages_fault_not_transient():
    out_of_range = asyncpg_client.DataError("invalid input for query argument $1 (value out of int32 range)")
    assert not is_transient(InterfaceError("INSERT ...", {}, out_of_range))
    assert is_transient(InterfaceError("INSERT ...", {}, asyncpg_client.InterfaceError("connection is closed")))


def test_counts_in_replies_are_bounded_to_what_the_database_stores():
    with pytest.raises(ValidationError):
        DataCollectionReply(event_id=uuid.uuid4(), occurred_at="2026-12-01T10:00:00Z", collection_id=uuid.uuid4(),
                            service="casework", chunk=3_000_000_000, last=True, total_items=1)


async def test_a_body_that_stops_arriving_gets_408():
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(BodyLimit, default=1024, read_timeout=0.2)

    @app.post("/x")
    async def x(request: Request) -> dict:
        return {"n": len(await request.body())}

    async def trickle():
        yield b'{"a":'
        await asyncio.sleep(5)
        yield b"1}"

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await asyncio.wait_for(client.post("/x", content=trickle()), 3)
    assert response.status_code == 408 and response.json()["errors"][0]["code"] == "body_timeout"


async def test_unusual_http_methods_share_one_metric_label():
    """Each new method token was a new Prometheus series for ever: 200 requests took /metrics from 4 KB to 548 KB."""
    from types import SimpleNamespace

    from cme_shared.http.app import STANDARD_METHODS, create_service_app
    from cme_shared.settings import ServiceSettings

    settings = ServiceSettings(env="test", database_url="postgresql+asyncpg://x:x@127.0.0.1:1/x",
                               kafka_bootstrap="127.0.0.1:1")
    # No lifespan runs here, so the runtime is only asked for its settings and tables.
    from cme_shared.messaging.tables import KitTables
    from sqlalchemy import MetaData

    from cme_shared.tracing import OFF

    runtime = SimpleNamespace(settings=settings, kit=KitTables(MetaData()), tracing=OFF)
    app = create_service_app(runtime, title="t", description="d", routers=[],
                             asyncapi=dict)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        for _ in range(30):
            await client.request(f"M{uuid.uuid4().hex.upper()}", "/healthz")
        await client.get("/healthz")
    methods = {sample.labels["method"] for metric in REGISTRY.collect() if metric.name == "cme_http_requests"
               for sample in metric.samples}
    assert "other" in methods and "GET" in methods
    assert methods <= STANDARD_METHODS | {"other"}
