"""Traces (tracing.py): off by default, W3C context in headers, spans that say nothing personal."""

import json
import uuid

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from cme_shared.contracts.topics import REFERRAL_ACCEPTED
from cme_shared.http.app import RequestContext
from cme_shared.messaging.consumer import Delivery, signed_by
from cme_shared.settings import ServiceSettings
from cme_shared.testing.signing import TEST_KEYS, signed_headers
from cme_shared.tracing import (
    TRACEPARENT,
    TRACESTATE,
    JsonLinesFile,
    Tracing,
    context_from_headers,
    trace_headers,
)

pytestmark = pytest.mark.unit

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def in_memory(service: str = "intake") -> tuple[Tracing, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    return Tracing.with_exporters(service, [exporter]), exporter


def finished(tracing: Tracing, exporter: InMemorySpanExporter) -> list:
    assert tracing.provider is not None
    tracing.provider.force_flush()
    return list(exporter.get_finished_spans())


def test_tracing_is_off_unless_configured(monkeypatch):
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "CME_TRACES_FILE",
                 "CME_OTEL_EXPORTER_OTLP_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    settings = ServiceSettings()
    assert settings.otel_exporter_otlp_endpoint is None and settings.traces_file is None
    tracing = Tracing.configure("intake", otlp_endpoint=None, traces_file=None)
    assert not tracing.enabled and tracing.provider is None
    # No span, so nothing to carry: an outbox row written now has no trace headers.
    assert trace_headers() == []
    with tracing.serving("GET", PARENT) as span:
        assert span is None


def test_blank_settings_are_unset_and_sdk_disabled_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("CME_TRACES_FILE", " ")
    assert ServiceSettings().traces_file is None
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert not Tracing.configure("intake", otlp_endpoint=None, traces_file=str(tmp_path / "t.jsonl")).enabled


def test_the_file_exporter_writes_one_json_span_per_line_per_service(tmp_path):
    tracing = Tracing.configure("casework", otlp_endpoint=None, traces_file=str(tmp_path / "traces/{service}.jsonl"))
    assert tracing.enabled
    with tracing.tracer.start_as_current_span("one"), tracing.tracer.start_as_current_span("two"):
        pass
    tracing.shutdown()
    lines = (tmp_path / "traces" / "casework.jsonl").read_text().splitlines()
    spans = [json.loads(line) for line in lines]
    assert sorted(s["name"] for s in spans) == ["one", "two"]
    assert {s["resource"]["attributes"]["service.name"] for s in spans} == {"casework"}
    assert len({s["context"]["trace_id"] for s in spans}) == 1


def test_an_otlp_endpoint_turns_tracing_on(monkeypatch):
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    tracing = Tracing.configure("rights", otlp_endpoint="http://127.0.0.1:9/", traces_file=None)
    assert tracing.enabled
    # Nothing listens there: the batch exporter gives up in its own thread, the service carries on.
    assert tracing.provider is not None
    tracing.provider.shutdown()


def test_the_current_context_travels_as_w3c_headers_and_comes_back_as_the_parent():
    tracing, exporter = in_memory()
    with tracing.tracer.start_as_current_span("handler") as handler:
        headers = trace_headers()
    names = [name for name, _ in headers]
    assert names == [TRACEPARENT]
    trace_id = handler.get_span_context().trace_id
    assert dict(headers)[TRACEPARENT].decode().split("-")[1] == f"{trace_id:032x}"

    delivery = Delivery(topic="t", partition=2, offset=7, key=b"k", value=b"{}", headers=headers)
    with tracing.record(delivery, "group", "consumer", trusted=True) as span:
        assert span is not None
    [_, record] = finished(tracing, exporter)
    assert record.context.trace_id == trace_id and record.parent.span_id == handler.get_span_context().span_id
    assert record.kind is SpanKind.CONSUMER and record.name == "process t"
    assert record.attributes["messaging.destination.partition.id"] == "2"
    assert record.attributes["messaging.kafka.offset"] == 7


def test_a_callers_tracestate_is_dropped_at_the_edge_and_kept_between_services():
    headers = [(TRACEPARENT, PARENT.encode()), (TRACESTATE, b"vendor=amelia-okonkwo")]
    outside = context_from_headers(headers, trusted=False)
    inside = context_from_headers(headers, trusted=True)
    assert outside is not None and inside is not None
    assert dict(trace.get_current_span(outside).get_span_context().trace_state) == {}
    assert dict(trace.get_current_span(inside).get_span_context().trace_state) == {"vendor": "amelia-okonkwo"}


@pytest.mark.parametrize("value", [b"not a traceparent", b"00-" + b"0" * 32 + b"-" + b"0" * 16 + b"-01",
                                   b"00-" + b"a" * 600, None])
def test_a_traceparent_that_does_not_parse_starts_a_new_trace(value):
    assert context_from_headers([(TRACEPARENT, value)], trusted=True) is None


def test_a_record_in_a_batch_is_a_child_of_its_own_context_and_linked_to_the_batch():
    tracing, exporter = in_memory()
    carried = Delivery("t", 0, 1, None, b"{}", [(TRACEPARENT, PARENT.encode())])
    bare = Delivery("t", 0, 2, None, b"{}", [])
    with tracing.batch("t", "group", "consumer", 2) as batch:
        with tracing.record(carried, "group", "consumer", trusted=True, batch=batch):
            pass
        with tracing.record(bare, "group", "consumer", trusted=True, batch=batch):
            pass
    spans = {span.attributes.get("messaging.kafka.offset", "batch"): span for span in finished(tracing, exporter)}
    batch_span = spans["batch"]
    assert batch_span.attributes["messaging.batch.message_count"] == 2
    assert f"{spans[1].context.trace_id:032x}" == PARENT.split("-")[1]
    assert [link.context.span_id for link in spans[1].links] == [batch_span.context.span_id]
    assert spans[2].parent.span_id == batch_span.context.span_id  # no context of its own: the batch's child


def test_a_signed_event_with_trace_headers_still_verifies():
    """The signature covers topic, key, event id and payload (messaging/signing.py), not trace headers."""
    tracing, _ = in_memory()
    value, key = b'{"kind":"referral_accepted"}', b"child-1"
    with tracing.tracer.start_as_current_span("handler"):
        base = [("event_id", str(uuid.uuid4()).encode()), *trace_headers()]
    headers = signed_headers(REFERRAL_ACCEPTED, value, key, base)
    settings = ServiceSettings(**TEST_KEYS.settings_for("casework"))
    verify = signed_by(settings.pinned_signers(), frozenset({"intake"}))
    verify(Delivery(REFERRAL_ACCEPTED, 0, 0, key, value, headers))  # raises Unreadable if refused
    # A different traceparent (a forger's, or a relay's) changes nothing the signature protects.
    moved = [(n, PARENT.encode() if n == TRACEPARENT else v) for n, v in headers]
    verify(Delivery(REFERRAL_ACCEPTED, 0, 0, key, value, moved))


def test_exported_spans_keep_only_ids_positions_and_codes():
    tracing, exporter = in_memory()
    with pytest.raises(ValueError):
        with tracing.tracer.start_as_current_span("sql", kind=SpanKind.INTERNAL) as span:
            span.set_attribute("db.statement", "INSERT INTO children (name) VALUES ($1)")
            span.set_attribute("child.name", "Amelia Okonkwo")
            span.set_attribute("cme.consumer", "referrals")
            span.set_status(trace.Status(StatusCode.ERROR, 'Key (name)=(Amelia Okonkwo) already exists'))
            raise ValueError("Amelia Okonkwo")
    [exported] = finished(tracing, exporter)
    text = exported.to_json()
    assert "Amelia" not in text
    assert exported.attributes == {"db.statement": "INSERT INTO children (name) VALUES ($1)",
                                   "cme.consumer": "referrals"}
    assert exported.status.status_code is StatusCode.ERROR and not exported.events


def test_a_query_outside_any_span_is_not_a_trace_of_its_own():
    tracing, exporter = in_memory()
    with tracing.tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT):
        pass  # a relay poll: dropped
    with tracing.tracer.start_as_current_span("request", kind=SpanKind.SERVER):
        with tracing.tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT):
            pass
    assert sorted(span.name for span in finished(tracing, exporter)) == ["SELECT", "request"]


async def test_a_request_is_a_span_named_by_its_route_template_never_its_path_or_query():
    tracing, exporter = in_memory()
    app = FastAPI()

    @app.get("/cases/{case_id}")
    async def case(case_id: str) -> dict[str, str]:
        return {"case_id": case_id}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "alive"}

    app.add_middleware(RequestContext, tracing=tracing)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answer = await client.get("/cases/4f1c?name=Amelia", headers={TRACEPARENT: PARENT,
                                                                      TRACESTATE: "v=amelia"})
        assert answer.status_code == 200
        await client.get("/healthz")
    [span] = finished(tracing, exporter)
    assert span.name == "GET /cases/{case_id}" and span.kind is SpanKind.SERVER
    assert span.attributes["http.route"] == "/cases/{case_id}"
    assert span.attributes["http.response.status_code"] == 200
    assert span.attributes["cme.correlation_id"] == answer.headers["x-correlation-id"]
    assert f"{span.context.trace_id:032x}" == PARENT.split("-")[1]  # the caller's trace continues
    assert "Amelia" not in span.to_json() and "amelia" not in span.to_json() and "4f1c" not in span.to_json()


def test_the_json_lines_exporter_appends(tmp_path):
    path = tmp_path / "a" / "b.jsonl"
    first, second = JsonLinesFile(path), JsonLinesFile(path)
    tracing = Tracing.with_exporters("intake", [first])
    with tracing.tracer.start_as_current_span("x"):
        pass
    tracing.shutdown()
    other = Tracing.with_exporters("intake", [second])
    with other.tracer.start_as_current_span("y"):
        pass
    other.shutdown()
    assert [json.loads(line)["name"] for line in path.read_text().splitlines()] == ["x", "y"]
