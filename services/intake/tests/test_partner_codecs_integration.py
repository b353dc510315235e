"""Partners' compressed records on intake's referral topic, on the real broker and database (issue 11): every
codec a partner's librdkafka client may use gets its outcome, and a consumer that cannot go on says so in
/readyz, /metrics and the log, with the partition and offset where it waits."""

import asyncio
import json

import aiokafka.codec
import pytest
from cme_shared.contracts import topics
from cme_shared.testing.kafka import eventually
from cme_shared.testing.raw_batches import codecs_on_log, librdkafka_send
from structlog.testing import capture_logs

pytestmark = pytest.mark.integration

CODECS = ("gzip", "snappy", "lz4", "zstd")
SAMPLES = ("accepted-police-high-risk.json", "accepted-nhs-new-arrival.json", "accepted-other-la-moved-in.json",
           "accepted-school-deletion-no-destination.json")


async def send(intake, document: dict, codec: str, **options) -> tuple[int, int]:
    [placed] = await asyncio.to_thread(librdkafka_send, intake.infra.kafka, intake.names(topics.REFERRALS),
                                       [{"value": json.dumps(document).encode(), **options}], codec)
    return placed


def outcomes_by_referral(records) -> dict[str, str]:
    return {json.loads(r.value)["referral_id"]: json.loads(r.value)["status"] for r in records}


async def test_referrals_in_every_codec_are_accepted_and_so_is_an_ordinary_one_after_them(intake, sample):
    documents = [sample(name) for name in SAMPLES]
    ordinary = sample("accepted-school-deletion-ground-a-with-destination.json")
    async with intake.reader(topics.REFERRAL_OUTCOMES) as outcomes:
        for codec, document in zip(CODECS, documents, strict=True):
            await send(intake, document, codec)
        await outcomes.wait_for(lambda rs: len(rs) >= len(CODECS))
        await intake.produce(ordinary)
        await outcomes.wait_for(lambda rs: len(rs) >= len(CODECS) + 1)
    assert outcomes_by_referral(outcomes.records) == {
        d["referral_id"]: "accepted" for d in [*documents, ordinary]}
    assert await codecs_on_log(intake.infra.kafka, intake.names(topics.REFERRALS), 3) == {*CODECS, "none"}
    ready = await intake.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["consumers"] is True


async def test_a_consumer_that_cannot_decode_a_batch_is_not_ready_says_where_and_goes_on_once_it_can(
        intake, sample, monkeypatch):
    monkeypatch.setattr(aiokafka.codec, "cramjam", None)  # issue 11's deployment: the codec library missing
    compressed = sample("accepted-police-high-risk.json")
    with capture_logs() as logs:
        async with intake.reader(topics.REFERRAL_OUTCOMES) as outcomes:
            partition, offset = await send(intake, compressed, "zstd", partition=1)
            runtime = intake.client._transport.app.state.runtime  # type: ignore[attr-defined]
            blocked = {"consumer": "referrals", "topic": intake.names(topics.REFERRALS), "partition": partition,
                       "offset": offset, "reason": "blocked", "error_type": "UnsupportedCodecError"}
            await eventually(lambda: blocked in runtime.consumer_problems())
            ready = await intake.client.get("/readyz")
            assert ready.status_code == 503 and ready.json()["checks"]["consumers"] is False
            labels = (f'consumer="referrals",group="{intake.settings.group_id("referrals")}",'
                      f'partition="{partition}",topic="{intake.names(topics.REFERRALS)}"')

            async def scraped() -> str:
                text = (await intake.client.get("/metrics")).text
                return text if f"cme_consumer_lag_records{{{labels}}} 1.0" in text else ""

            text = await eventually(scraped)
            assert f"cme_consumer_stalled{{{labels}}} 1.0" in text
            assert f"cme_consumer_position_offset{{{labels}}} {float(offset)}" in text
            assert "cme_consumer_fetch_errors_total{" in text and 'error_type="UnsupportedCodecError"' in text
            await outcomes.settle(0.5)
            assert outcomes.records == []  # nothing dead-lettered, nothing lost: the record waits

            monkeypatch.undo()
            await outcomes.wait_for(lambda rs: len(rs) >= 1)
            await intake.produce(sample("accepted-nhs-new-arrival.json"))
            await outcomes.wait_for(lambda rs: len(rs) >= 2)

            async def ready_again() -> bool:
                return (await intake.client.get("/readyz")).status_code == 200

            await eventually(ready_again)
    assert sorted(outcomes_by_referral(outcomes.records).values()) == ["accepted", "accepted"]
    [blocked, *_] = [e for e in logs if e["event"] == "consumer_blocked"]
    assert (blocked["topic"], blocked["partition"], blocked["offset"], blocked["error_type"]) == (
        intake.names(topics.REFERRALS), partition, offset, "UnsupportedCodecError")
