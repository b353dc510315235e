"""Traces across HTTP and Kafka (OpenTelemetry): off unless configured, and never holding personal data.

Turned on by configuration only (`ServiceSettings`, end of the class):
- `CME_OTEL_EXPORTER_OTLP_ENDPOINT` (a collector's base URL, `http://collector:4318`), or the standard
  `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`: spans go by OTLP over HTTP;
- `CME_TRACES_FILE` (`.local/traces/{service}.jsonl`, `{service}` replaced by the service's name): one
  JSON span per line, for a local run without a collector. Both may be set.
Neither set, or `OTEL_SDK_DISABLED=true`: no tracer provider, no SQL listeners, no trace headers; the
kit's hooks cost one attribute check. The standard `OTEL_TRACES_SAMPLER`, `OTEL_BSP_*` and
`OTEL_RESOURCE_ATTRIBUTES` variables apply as usual. Each runtime has its own provider (never the
global one), so services run in one test process keep their own `service.name`.

Propagation: the W3C trace context (`traceparent`, `tracestate`) in Kafka headers. `Outbox.add` stores
the current context with each row (the creation context), the relay sends it as stored, and the consumer
starts each record's span as its child, so one referral's trace runs from intake's consumer through
casework's handler. Signatures (messaging/signing.py) do not cover these headers, so a signed event
verifies with them; a forged `traceparent` can only misplace a span. From outside the platform (HTTP
requests, partners' topics: consumers without a signature check) only `traceparent` is taken, whose
fixed hexadecimal form holds nothing else; a caller's `tracestate` (free text) is dropped.

Spans: HTTP requests (the kit's `RequestContext`: method and route template, never the path's ids or
the query string, which may hold a searched name: the reason the FastAPI/ASGI instrumentation is not
used), one per consumed record (in batch mode linked to the batch's span), SQL statements
(opentelemetry-instrumentation-sqlalchemy on the engine, text with bound parameters only, never their
values) and the relay's sends. The aiokafka instrumentation is not used: it would add a second
`traceparent` to records whose stored one is the creation context. Exported spans keep only the
attributes in `ALLOWED_ATTRIBUTES` (ids, topics, positions, route templates, status codes): no
exception messages, events or status descriptions, which may quote a value (a unique-key violation
quotes the key), whatever an instrumentation recorded.
"""

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult, _get_from_env_or_default
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from sqlalchemy.ext.asyncio import AsyncEngine

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
TRACE_HEADERS = frozenset({TRACEPARENT, TRACESTATE})
MAX_TRACE_HEADER_BYTES = 512  # W3C: a tracestate of more than 512 characters may be dropped whole
TRACER_NAME = "cme_shared"

# What an exported span may say: ids, topics, record positions, route templates, status codes and the
# (parameterised) SQL text. Anything else an instrumentation sets is dropped at export.
ALLOWED_ATTRIBUTES = frozenset({
    "messaging.system", "messaging.operation.type", "messaging.operation.name", "messaging.destination.name",
    "messaging.destination.partition.id", "messaging.kafka.offset", "messaging.consumer.group.name",
    "messaging.message.id", "messaging.batch.message_count",
    "db.system", "db.system.name", "db.name", "db.namespace", "db.user", "db.statement", "db.query.text",
    "db.operation", "db.operation.name", "net.peer.name", "net.peer.port", "net.transport", "server.address",
    "server.port", "network.transport",
    "http.request.method", "http.route", "http.response.status_code", "error.type",
})
ALLOWED_PREFIX = "cme."  # the kit's own: correlation id, consumer name, outcome

_W3C = TraceContextTextMapPropagator()  # the W3C trace context only: no baggage, which is free text


def trace_headers() -> list[tuple[str, bytes]]:
    """The current span's context as Kafka headers; empty when no span is recording (tracing off)."""
    if not trace.get_current_span().get_span_context().is_valid:
        return []
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    return [(name, value.encode()) for name, value in carrier.items()]


def context_from_headers(headers: Sequence[tuple[str, bytes | None]], *, trusted: bool) -> Context | None:
    """The trace context a record carries (its first `traceparent`; `tracestate` only if `trusted`), or
    None when it carries none that parses."""
    carrier: dict[str, str] = {}
    for name, value in headers:
        if value is None or len(value) > MAX_TRACE_HEADER_BYTES:
            continue
        if name == TRACEPARENT or (trusted and name == TRACESTATE):
            carrier.setdefault(name, value.decode("ascii", errors="replace"))
    if TRACEPARENT not in carrier:
        return None
    context = _W3C.extract(carrier)
    return context if trace.get_current_span(context).get_span_context().is_valid else None


class _NoOrphanQueries(Sampler):
    """The configured sampler (OTEL_TRACES_SAMPLER, by default parent-based, always on), except that a
    client span with no parent (a relay poll, a readiness probe's SELECT 1, the pruner) is not recorded:
    five a second per service would drown the traces of requests and records."""

    def __init__(self) -> None:
        self._delegate = _get_from_env_or_default()

    def should_sample(self, parent_context: Context | None, trace_id: int, name: str,
                      kind: SpanKind | None = None, attributes: Any = None, links: Any = None,
                      trace_state: Any = None) -> SamplingResult:
        if kind is SpanKind.CLIENT and not trace.get_current_span(parent_context).get_span_context().is_valid:
            return SamplingResult(Decision.DROP)
        return self._delegate.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return f"NoOrphanQueries({self._delegate.get_description()})"


class SafeSpans(SpanExporter):
    """Exports through `inner` only what ALLOWED_ATTRIBUTES lets a span say (see the module docstring)."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner

    @staticmethod
    def scrubbed(span: ReadableSpan) -> ReadableSpan:
        attributes = {key: value for key, value in (span.attributes or {}).items()
                      if key in ALLOWED_ATTRIBUTES or key.startswith(ALLOWED_PREFIX)}
        return ReadableSpan(
            name=span.name, context=span.context, parent=span.parent, resource=span.resource,
            attributes=attributes, events=(), links=[Link(link.context) for link in span.links], kind=span.kind,
            status=Status(span.status.status_code), start_time=span.start_time, end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.inner.export([self.scrubbed(span) for span in spans])

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class JsonLinesFile(SpanExporter):
    """One span per line, as the SDK's JSON for a span (`to_json`), appended to `path`."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._out: IO[str] = path.open("a", encoding="utf-8")

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self._out.write("".join(span.to_json(indent=None) + "\n" for span in spans))
        self._out.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._out.close()


def _ended_with(span: Span, error: BaseException | None) -> None:
    if error is not None:  # the type only: an exception's message may quote a value
        span.set_attribute("error.type", type(error).__name__)
        span.set_status(Status(StatusCode.ERROR))


class Tracing:
    """One service's tracer (or none), its SQL instrumentation, and the kit's spans."""

    def __init__(self, provider: TracerProvider | None = None) -> None:
        self.provider = provider
        self.enabled = provider is not None
        self.tracer = provider.get_tracer(TRACER_NAME) if provider is not None else trace.NoOpTracer()

    @classmethod
    def off(cls) -> "Tracing":
        return cls()

    @classmethod
    def with_exporters(cls, service: str, exporters: Sequence[SpanExporter], *, environment: str = "") -> "Tracing":
        """A provider exporting (in batches, from a thread of its own) to each of `exporters`, scrubbed."""
        attributes = {"service.name": service, "service.namespace": "cme"}
        if environment:
            attributes["deployment.environment.name"] = environment
        provider = TracerProvider(resource=Resource.create(attributes), sampler=_NoOrphanQueries())
        for exporter in exporters:
            provider.add_span_processor(BatchSpanProcessor(SafeSpans(exporter)))
        return cls(provider)

    @classmethod
    def configure(cls, service: str, *, otlp_endpoint: str | None, traces_file: str | None,
                  environment: str = "") -> "Tracing":
        """From the settings (module docstring); off when nothing asks for traces."""
        if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
            return cls.off()
        exporters: list[SpanExporter] = []
        standard = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        if otlp_endpoint or standard:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            # Ours is a base URL, like the standard OTEL_EXPORTER_OTLP_ENDPOINT; the exporter reads those itself.
            endpoint = otlp_endpoint.rstrip("/") + "/v1/traces" if otlp_endpoint else None
            exporters.append(OTLPSpanExporter(endpoint=endpoint))
        if traces_file:
            exporters.append(JsonLinesFile(Path(traces_file.replace("{service}", service))))
        if not exporters:
            return cls.off()
        return cls.with_exporters(service, exporters, environment=environment)

    def instrument(self, engine: AsyncEngine) -> None:
        """A span for each SQL statement on `engine` (this engine only, with this service's tracer)."""
        if not self.enabled:
            return
        from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
        from opentelemetry.metrics import NoOpMeterProvider

        # The instrumentor itself would also patch create_engine for every later engine in the process,
        # with the first provider it was given: EngineTracer is what it attaches to one engine.
        usage = NoOpMeterProvider().get_meter(TRACER_NAME).create_up_down_counter("db.client.connections.usage")
        EngineTracer(self.tracer, engine.sync_engine, usage)

    def shutdown(self) -> None:
        """Export what is waiting, then stop (a service's shutdown)."""
        if self.provider is not None:
            self.provider.shutdown()

    # ---- HTTP ----------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def serving(self, method: str, traceparent: str | None) -> Iterator[Span | None]:
        """A server span for one request, child of the caller's `traceparent` if it sent one."""
        if not self.enabled:
            yield None
            return
        parent = context_from_headers([(TRACEPARENT, traceparent.encode())], trusted=False) if traceparent else None
        with self.tracer.start_as_current_span(method, context=parent, kind=SpanKind.SERVER,
                                               record_exception=False, set_status_on_exception=False) as span:
            yield span

    @staticmethod
    def served(span: Span | None, method: str, route: str, status: int, correlation_id: str) -> None:
        if span is None:
            return
        span.update_name(f"{method} {route}")
        span.set_attributes({"http.request.method": method, "http.route": route,
                             "http.response.status_code": status, "cme.correlation_id": correlation_id})
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR))

    # ---- Kafka: consuming ----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def batch(self, topic: str, group_id: str, consumer: str, count: int) -> Iterator[Span | None]:
        """The span of one batch taken by a batch consumer; each record's span links to it."""
        if not self.enabled:
            yield None
            return
        attributes = {"messaging.system": "kafka", "messaging.operation.type": "process",
                      "messaging.destination.name": topic, "messaging.consumer.group.name": group_id,
                      "messaging.batch.message_count": count, "cme.consumer": consumer}
        with self.tracer.start_as_current_span(f"process {topic}", kind=SpanKind.CONSUMER, attributes=attributes,
                                               record_exception=False, set_status_on_exception=False) as span:
            try:
                yield span
            except BaseException as exc:
                _ended_with(span, exc)
                raise

    @contextlib.contextmanager
    def record(self, delivery: Any, group_id: str, consumer: str, *, trusted: bool,
               batch: Span | None = None) -> Iterator[Span | None]:
        """The span of one record's handling: a child of the context its headers carry (else of the current
        span: its batch's), linked to its batch's span. `delivery`: messaging.consumer.Delivery."""
        if not self.enabled:
            yield None
            return
        parent = context_from_headers(delivery.headers, trusted=trusted)
        links = [Link(batch.get_span_context())] if batch is not None and parent is not None else None
        attributes = {"messaging.system": "kafka", "messaging.operation.type": "process",
                      "messaging.destination.name": delivery.topic,
                      "messaging.destination.partition.id": str(delivery.partition),
                      "messaging.kafka.offset": delivery.offset, "messaging.consumer.group.name": group_id,
                      "messaging.message.id": delivery.message_id, "cme.consumer": consumer}
        with self.tracer.start_as_current_span(f"process {delivery.topic}", context=parent, kind=SpanKind.CONSUMER,
                                               attributes=attributes, links=links, record_exception=False,
                                               set_status_on_exception=False) as span:
            try:
                yield span
            except BaseException as exc:
                _ended_with(span, exc)
                raise

    # ---- Kafka: the relay's sends --------------------------------------------------------------------------
    def sending(self, topic: str, headers: Sequence[tuple[str, bytes | None]]) -> Span | None:
        """A producer span for one outbox row, child of the context stored with it; None when the row has
        none (written with tracing off, or a dead letter of a record that had none). The caller ends it."""
        if not self.enabled:
            return None
        parent = context_from_headers(headers, trusted=True)
        if parent is None:
            return None
        return self.tracer.start_span(f"send {topic}", context=parent, kind=SpanKind.PRODUCER, attributes={
            "messaging.system": "kafka", "messaging.operation.type": "send", "messaging.destination.name": topic})

    @staticmethod
    def sent(span: Span | None, outcome: Any) -> None:
        """End a send's span with the broker's answer: its RecordMetadata, an exception, or a reason code."""
        if span is None:
            return
        if isinstance(outcome, BaseException):
            _ended_with(span, outcome)
        elif isinstance(outcome, str):
            span.set_attribute("error.type", outcome)
            span.set_status(Status(StatusCode.ERROR))
        elif outcome is not None:
            span.set_attributes({"messaging.destination.partition.id": str(outcome.partition),
                                 "messaging.kafka.offset": outcome.offset})
        span.end()


OFF = Tracing.off()
