"""Intake as a real process (`python -m cme_intake`), SIGKILLed while a burst of referrals is in flight,
then restarted.

What is guaranteed, and asserted:
- the database effects are exactly once: one referral row, one child subject, one ReferralAccepted in the
  outbox and one inbox claim per referral, no rejects;
- every referral gets an `accepted` outcome at least once. A crash between the relay's Kafka send and its
  marking the outbox row published republishes that row after the restart: then the copies are the same
  outbox row, so they carry the same event_id and identical bytes (consumers deduplicate on event_id).
"""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text

from cme_shared.contracts import topics
from cme_shared.testing.infra import SAMPLE_REFERRALS
from cme_shared.testing.kafka import TopicReader
from cme_shared.testing.signing import TEST_KEYS

pytestmark = pytest.mark.integration

BURST = 150


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def burst_referral(i: int) -> dict:
    document = json.loads((SAMPLE_REFERRALS / "accepted-police-high-risk.json").read_bytes())
    document["referral_id"] = f"BURST-{i:04d}"
    document["child"].update(first_name=f"Burstchild{i:04d}", last_name="Crashtest", upn=None)
    return document


class IntakeProcess:
    def __init__(self, env: dict[str, str], log_path) -> None:
        self.env, self.log_path = env, log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child process owns it
        self.process = subprocess.Popen([sys.executable, "-m", "cme_intake"], env=self.env, stdout=log,
                                        stderr=subprocess.STDOUT)
        log.close()

    async def ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                assert self.process and self.process.poll() is None, self.log_path.read_text()[-2000:]
                try:
                    if (await client.get(f"http://127.0.0.1:{self.env['CME_HTTP_PORT']}/readyz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError("intake did not become ready")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


async def test_a_killed_intake_restarts_with_every_referral_accepted_once(infra, namespace, intake_url, engine,
                                                                         tmp_path):
    env = {**os.environ, "CME_DATABASE_URL": intake_url, **infra.kafka_env(),
           "CME_TOPIC_NAMESPACE": namespace.namespace, "CME_HTTP_PORT": str(free_port()), "CME_ENV": "test",
           "CME_OUTBOX_POLL_SECONDS": "0.05", "CME_HANDLER_BACKOFF_SECONDS": "0.05", **TEST_KEYS.env_for("intake")}
    intake = IntakeProcess(env, tmp_path / "intake.log")
    documents = [burst_referral(i) for i in range(BURST)]
    async with TopicReader(infra.kafka, namespace(topics.REFERRAL_OUTCOMES)) as outcomes, \
            TopicReader(infra.kafka, namespace(topics.REFERRAL_ACCEPTED)) as accepted:
        try:
            intake.start()
            await intake.ready()
            producer = AIOKafkaProducer(**infra.kafka.aiokafka(), acks="all", enable_idempotence=True)
            await producer.start()
            try:
                for document in documents:
                    await producer.send(namespace(topics.REFERRALS), json.dumps(document).encode(),
                                        key=document["referral_id"].encode())
                await producer.flush()
            finally:
                await producer.stop()
            await outcomes.wait_for(lambda rs: len(rs) >= 10)
            intake.kill()  # mid-burst: some referrals done, some in a transaction, most not yet read
            killed_after = len(outcomes.records)
            assert killed_after < BURST, "the burst finished before the kill; make it bigger"

            intake.start()
            await intake.ready()
            await outcomes.wait_for(lambda rs: len({r.key for r in rs}) >= BURST, timeout=120)
            await accepted.wait_for(lambda rs: len(rs) >= BURST, timeout=60)
            await outcomes.settle(1.0)
            await accepted.settle(0.2)
        finally:
            intake.stop()

    # Exactly once in the database.
    async with engine.connect() as conn:
        counts = (await conn.execute(text(
            """SELECT (SELECT count(*) FROM referrals), (SELECT count(DISTINCT referral_id) FROM referrals),
                      (SELECT count(*) FROM subjects WHERE subject_type = 'child'),
                      (SELECT count(*) FROM outbox WHERE event_type = 'ReferralAccepted'),
                      (SELECT count(*) FROM outbox WHERE event_type = 'ReferralOutcome'),
                      (SELECT count(*) FROM inbox WHERE consumer = 'referrals'),
                      (SELECT count(*) FROM rejected_messages),
                      (SELECT count(*) FROM outbox WHERE published_at IS NULL)"""
        ))).one()
    assert tuple(counts) == (BURST, BURST, BURST, BURST, BURST, BURST, 0, 0)

    # At least once on Kafka; any repeat is the same outbox row republished (same event_id, same bytes).
    by_referral: dict[bytes, list] = defaultdict(list)
    for record in outcomes.records:
        by_referral[record.key].append(record)
    assert set(by_referral) == {d["referral_id"].encode() for d in documents}
    for copies in by_referral.values():
        assert {json.loads(r.value)["status"] for r in copies} == {"accepted"}
        assert len({r.value for r in copies}) == 1
        assert len({dict(r.headers)["event_id"] for r in copies}) == 1
    events: dict[str, set] = defaultdict(set)
    for record in accepted.records:
        events[json.loads(record.value)["intake_id"]].add((dict(record.headers)["event_id"], record.value))
    assert len(events) == BURST and all(len(copies) == 1 for copies in events.values())

    # Nothing personal in the process's own log, across the crash.
    log = (tmp_path / "intake.log").read_text()
    assert "service_started" in log
    for personal in ("Burstchild", "Crashtest", "W8 4QQ", "2011-11-11", "Mock Lane", "DC Example"):
        assert personal not in log
