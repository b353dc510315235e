"""Traces across services (issue 17, item 1): one referral's trace runs from intake's consumer through the
outcome it publishes to casework's handler, read from the file exporter of intake and casework running
as real processes on the real broker and their own databases."""

import json
import time
from pathlib import Path

import pytest

from cme_shared.contracts import topics
from cme_shared.testing.infra import SAMPLE_REFERRALS
from cme_shared.testing.kafka import TopicReader, eventually, produce

pytestmark = pytest.mark.e2e

PARTNER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARTNER_PARENT = f"00-{PARTNER_TRACE}-00f067aa0ba902b7-01"


def spans_in(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def hex_id(value: str) -> str:
    return value.removeprefix("0x")


@pytest.fixture
async def traced(stack, tmp_path, monkeypatch):
    monkeypatch.setenv("CME_TRACES_FILE", str(tmp_path / "traces" / "{service}.jsonl"))
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")  # export within a tenth of a second
    processes = await stack("intake", "casework")
    return processes, tmp_path / "traces"


async def test_a_referrals_trace_spans_intake_and_casework_and_its_outcome_carries_it(traced, infra, namespace):
    processes, folder = traced
    raw = (SAMPLE_REFERRALS / "accepted-school-deletion-no-destination.json").read_bytes()
    referrals = namespace(topics.REFERRALS)
    accepted_topic = namespace(topics.REFERRAL_ACCEPTED)
    async with TopicReader(infra.kafka, namespace(topics.REFERRAL_OUTCOMES)) as outcomes:
        # A partner that traces sends its context; its tracestate is free text and is not taken in.
        await produce(infra.kafka, referrals, raw, key=b"partner-key-1",
                      headers=[("traceparent", PARTNER_PARENT.encode()), ("tracestate", b"partner=Amira-Haddad")])
        [outcome] = await outcomes.wait_for(lambda rs: len(rs) >= 1, timeout=60)
    headers = dict(outcome.headers)
    assert json.loads(outcome.value)["status"] == "accepted"
    assert "traceparent" in headers and "tracestate" not in headers
    trace_id = headers["traceparent"].decode().split("-")[1]
    assert trace_id == PARTNER_TRACE  # the partner's trace goes on through the platform

    def record_spans(spans: list[dict], topic: str) -> list[dict]:
        return [s for s in spans if s["kind"] == "SpanKind.CONSUMER"
                and s["attributes"].get("messaging.destination.name") == topic
                and "messaging.kafka.offset" in s["attributes"]]

    async def both_sides() -> tuple[dict, dict, list[dict]] | None:
        intake_spans = spans_in(folder / "intake.jsonl")
        casework_spans = spans_in(folder / "casework.jsonl")
        intake, casework = record_spans(intake_spans, referrals), record_spans(casework_spans, accepted_topic)
        if not (intake and casework):
            return None  # not exported yet
        assert len(intake) == 1 and len(casework) == 1
        return intake[0], casework[0], intake_spans + casework_spans

    intake_span, casework_span, every_span = await eventually(both_sides, timeout=60)
    assert hex_id(intake_span["context"]["trace_id"]) == trace_id
    assert hex_id(casework_span["context"]["trace_id"]) == trace_id
    assert intake_span["resource"]["attributes"]["service.name"] == "intake"
    assert casework_span["resource"]["attributes"]["service.name"] == "casework"
    assert casework_span["attributes"]["cme.outcome"] == "handled"
    # The same trace holds intake's SQL and its relay's sends, and casework's SQL under its handler.
    in_trace = [s for s in every_span if hex_id(s["context"]["trace_id"]) == trace_id]
    kinds = {(s["resource"]["attributes"]["service.name"], s["kind"]) for s in in_trace}
    assert {("intake", "SpanKind.CLIENT"), ("intake", "SpanKind.PRODUCER"), ("casework", "SpanKind.CLIENT")} <= kinds
    # The correlation id stays, and is on the spans.
    assert intake_span["attributes"]["cme.correlation_id"] == headers["correlation_id"].decode()

    # Nothing personal in any span of either service.
    time.sleep(0.3)
    text = (folder / "intake.jsonl").read_text() + (folder / "casework.jsonl").read_text()
    for personal in ("Amira", "Haddad", "W2 1AA", "2016-03-14", "07700"):
        assert personal not in text
