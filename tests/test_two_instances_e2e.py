"""Several instances per service (issue 17 item 5): two intake and two casework processes, each pair one
consumer group on one database, on the real broker; one of each is SIGKILLed mid-burst.

What the kit promises, and so what is asserted (consumer.py, outbox.py, inbox.py):
- effects are exactly once: one referral row per referral, one inbox claim per record, one
  ReferralAccepted per referral in intake's outbox; one child subject per child; one case per child,
  and in its history one arrival entry per referral, no entry doubled;
- outcome records on Kafka are at least once: a crash between the relay's send and its marking the row
  published republishes that row, so a repeat is the same outbox row (same event_id, same bytes);
- nothing is lost: every referral has its outcome and its case entry, whichever instance read it, also
  those in flight in the killed instances and those that arrived while the group rebalanced;
- one key's events keep their order through both instances' relays on the one outbox (outbox.py's
  relay lock), a dead relay included.

The same child is named by many referrals spread over every partition, so both intake instances handle
referrals about that child at the same moment: the identity-index lock makes them one subject, and the
child's one case holds every referral.

The figures in docs/scaling.md come from these runs: the rebalance pause after the kill is printed
(`-s`), and `CME_MEASURE_SCALING=1` adds the throughput runs with one and with two instances per service.
"""

import asyncio
import json
import os
import time
from collections import Counter, defaultdict
from itertools import pairwise
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from cme_shared.contracts import topics
from cme_shared.ops import PARTITIONS
from cme_shared.testing.infra import SAMPLE_REFERRALS
from cme_shared.testing.kafka import TopicReader, eventually
from cme_shared.testing.processes import ServiceProcess

pytestmark = pytest.mark.e2e

CHILDREN = 300  # one referral each
SAME_CHILD = 60  # referrals about one child, every sixth record of the burst, over every partition
RATE = 60.0  # referrals a second, as a partner's burst arrives: the kill lands mid-burst, and records
# keep arriving while the group rebalances
KILL_AFTER = 40  # outcomes seen before one instance of each service is killed
# Samples each of which opens a case (a deletion without destination, a new arrival, a police concern
# with a child protection plan, a move without forwarding address), about new children.
SAMPLES = ("accepted-school-deletion-no-destination.json", "accepted-nhs-new-arrival.json",
           "accepted-police-high-risk.json", "accepted-other-la-moved-in.json")
ARRIVALS = ("case_opened", "case_reopened", "referral_joined", "referral_recorded")
INTAKE_ID = "detail->'referral'->>'intake_id'"  # the referral an arrival entry records (referral_entries.py)
PERSONAL = ("Twoinstance", "Samechild", "Specimen Street", "Example Mews", "2013-06-07")


def letters(i: int) -> str:
    """A distinct name part per number (aa, ab, ...): children told apart by name, not by digits alone."""
    word = ""
    for _ in range(3):
        i, r = divmod(i, 26)
        word = chr(ord("a") + r) + word
    return word.capitalize()


def child_referral(i: int) -> dict[str, Any]:
    """A sample referral about a child nobody else names: its own id, name, carer and contact details."""
    document = json.loads((SAMPLE_REFERRALS / SAMPLES[i % len(SAMPLES)]).read_bytes())
    document["referral_id"] = f"TWO-{i:04d}"
    child = document["child"]
    child.update(first_name=f"Kid{letters(i)}", last_name=f"Twoinstance{letters(i)}", upn=None, nhs_number=None,
                 middle_names=None, preferred_name=None, aliases=[])
    for carer in document["carers"]:
        carer.update(first_name=f"Carer{letters(i)}", last_name=f"Twoinstance{letters(i)}",
                     phones=[f"07700 9{i:05d}"], email=None)
    return document


def same_child_referral(j: int) -> dict[str, Any]:
    """One child, named alike by every one of these referrals (each with its own id)."""
    document = json.loads((SAMPLE_REFERRALS / SAMPLES[0]).read_bytes())
    document["referral_id"] = f"SAME-{j:04d}"
    document["child"].update(first_name="Noor", last_name="Samechild", date_of_birth="2013-06-07", upn=None,
                             nhs_number=None)
    for carer in document["carers"]:
        carer.update(first_name="Hana", last_name="Samechild")
    return document


def burst() -> list[tuple[int, dict[str, Any]]]:
    """(partition, referral) in sending order: the distinct children with a same-child referral after
    every fifth, each round-robin over the partitions (the same child reaches every partition, so both
    instances of intake)."""
    documents: list[dict[str, Any]] = []
    same = 0
    for i in range(CHILDREN):
        documents.append(child_referral(i))
        if i % 5 == 4 and same < SAME_CHILD:
            documents.append(same_child_referral(same))
            same += 1
    documents += [same_child_referral(j) for j in range(same, SAME_CHILD)]
    return [(n % PARTITIONS, document) for n, document in enumerate(documents)]


async def send(kafka: Any, topic: str, records: list[tuple[int, dict[str, Any]]], rate: float | None) -> None:
    """As a partner's producer: keyed by referral id, acks=all, idempotent; paced at `rate` a second
    (None: as fast as it goes)."""
    producer = AIOKafkaProducer(**kafka.aiokafka(), acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        started = time.monotonic()
        for n, (partition, document) in enumerate(records):
            if rate is not None and (ahead := started + n / rate - time.monotonic()) > 0:
                await asyncio.sleep(ahead)
            await producer.send(topic, json.dumps(document).encode(), key=document["referral_id"].encode(),
                                partition=partition)
        await producer.flush()
    finally:
        await producer.stop()


async def group_state(kafka: Any, group: str) -> tuple[str, int]:
    admin = AIOKafkaAdminClient(**kafka.aiokafka())
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    _error, _group, state, _protocol_type, _protocol, members, *_ = response.groups[0]
    return state, len(members)


async def groups_settled(kafka: Any, namespace: Any, members: int) -> None:
    """Both groups the burst goes through are Stable with `members` members each (every instance has
    its partitions), so the kill, not a late join, is what rebalances them."""
    for group in (f"{namespace.namespace}intake.referrals", f"{namespace.namespace}casework.referral-accepted"):
        await eventually(lambda g=group: _is(kafka, g, members), timeout=60, interval=0.5)


async def _is(kafka: Any, group: str, members: int) -> bool:
    return await group_state(kafka, group) == ("Stable", members)


def dsn(process: ServiceProcess) -> str:
    return process.database_url.replace("+asyncpg", "")  # type: ignore[attr-defined]


async def query(process: ServiceProcess, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn(process))
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def cases_count(casework: ServiceProcess) -> int:
    [row] = await query(casework, "SELECT count(*) AS n FROM cases")
    return int(row["n"])


async def arrivals_count(casework: ServiceProcess) -> int:
    [row] = await query(casework, "SELECT count(*) AS n FROM case_history WHERE kind = ANY($1::text[])",
                        list(ARRIVALS))
    return int(row["n"])


class Second:
    """Second instances of the stack's services: the same environment (database, namespace, keys,
    consumer groups) but their own HTTP port and log; stopped at the end."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[ServiceProcess] = []

    def of(self, first: ServiceProcess) -> ServiceProcess:
        self.log_dir.mkdir(exist_ok=True)
        env = {name: value for name, value in first.env.items() if name != "CME_HTTP_PORT"}
        process = ServiceProcess(first.service, env, self.log_dir)
        process.database_url = first.database_url  # type: ignore[attr-defined]
        self.started.append(process.start())
        return process

    def stop(self) -> None:
        for process in self.started:
            process.stop()


@pytest.fixture
def second(tmp_path):
    instances = Second(tmp_path / "second")
    yield instances
    instances.stop()


async def test_two_instances_each_lose_one_to_sigkill_mid_burst_and_every_referral_is_handled_once(
    stack, second, infra, namespace
):
    services = await stack("intake", "casework")
    intake, casework = services["intake"], services["casework"]
    intake_2, casework_2 = second.of(intake), second.of(casework)
    await groups_settled(infra.kafka, namespace, members=2)
    records = burst()
    partition_of = {document["referral_id"].encode(): partition for partition, document in records}
    total = len(records)
    assert total == CHILDREN + SAME_CHILD

    async with TopicReader(infra.kafka, namespace(topics.REFERRAL_OUTCOMES)) as outcomes, \
            TopicReader(infra.kafka, namespace(topics.REFERRAL_ACCEPTED)) as accepted:
        started = time.time()
        sending = asyncio.create_task(send(infra.kafka, namespace(topics.REFERRALS), records, RATE))
        await outcomes.wait_for(lambda rs: len(rs) >= KILL_AFTER, timeout=60)
        intake_2.kill()
        casework_2.kill()
        killed_at = time.time()
        outcomes_before_kill, cases_before_kill = len(outcomes.records), await cases_count(casework)
        await sending
        sent_at = time.time()
        assert outcomes_before_kill < total and cases_before_kill < CHILDREN + 1, "the kill was not mid-burst"

        await outcomes.wait_for(lambda rs: len({r.key for r in rs}) >= total, timeout=120)
        await eventually(lambda: _arrived(casework, total), timeout=120, interval=0.5)
        done_at = time.time()
        await accepted.wait_for(lambda rs: len(rs) >= total, timeout=30)
        await outcomes.settle(1.0)
        await accepted.settle(0.2)

    # Every referral has its outcome, accepted; a repeat is the same outbox row sent again.
    by_referral: dict[bytes, list] = defaultdict(list)
    for record in outcomes.records:
        by_referral[record.key].append(record)
    assert set(by_referral) == set(partition_of)
    for copies in by_referral.values():
        assert {json.loads(r.value)["status"] for r in copies} == {"accepted"}, json.loads(copies[0].value)
        assert len({r.value for r in copies}) == 1 and len({dict(r.headers)["event_id"] for r in copies}) == 1
    repeats = sum(len(copies) - 1 for copies in by_referral.values())

    # Intake: exactly once in the database; the same child is one subject whichever instance read it.
    [counts] = await query(intake, """
        SELECT (SELECT count(*) FROM referrals) AS referrals,
               (SELECT count(DISTINCT referral_id) FROM referrals) AS referral_ids,
               (SELECT count(*) FROM inbox WHERE consumer = 'referrals') AS claims,
               (SELECT count(*) FROM outbox WHERE event_type = 'ReferralAccepted') AS accepted,
               (SELECT count(*) FROM outbox WHERE event_type = 'ReferralOutcome') AS outcomes,
               (SELECT count(*) FROM rejected_messages) AS rejected,
               (SELECT count(*) FROM outbox WHERE published_at IS NULL) AS unsent,
               (SELECT count(*) FROM subjects WHERE subject_type = 'child') AS children,
               (SELECT count(DISTINCT child_subject_id) FROM referrals WHERE referral_id LIKE 'SAME-%') AS same""")
    assert dict(counts) == {"referrals": total, "referral_ids": total, "claims": total, "accepted": total,
                            "outcomes": total, "rejected": 0, "unsent": 0, "children": CHILDREN + 1, "same": 1}
    same_child = {json.loads(r.value)["child_subject_id"] for r in outcomes.records if r.key.startswith(b"SAME-")}
    assert len(same_child) == 1
    [[same_child_id]] = await query(intake, "SELECT DISTINCT child_subject_id FROM referrals "
                                            "WHERE referral_id LIKE 'SAME-%'")
    assert same_child == {str(same_child_id)}
    # Only ever reported as one child: no possible match (a second subject the index is unsure about).
    assert await query(intake, "SELECT 1 FROM possible_matches WHERE subject_id = $1 OR candidate_subject_id = $1",
                       same_child_id) == []

    # One ReferralAccepted event per referral on the topic (repeats are the same event).
    events: dict[str, set] = defaultdict(set)
    for record in accepted.records:
        events[json.loads(record.value)["intake_id"]].add(dict(record.headers)["event_id"])
    assert len(events) == total and all(len(ids) == 1 for ids in events.values())
    # Both relays took turns on the one outbox, and one died mid-pass: the child's events are still in the
    # order intake recorded them (first copies; a repeat comes after).
    same_events = list(dict.fromkeys(json.loads(r.value)["referral_id"] for r in accepted.records
                                     if json.loads(r.value)["child_subject_id"] == str(same_child_id)))
    [[recorded]] = await query(intake, "SELECT array_agg(convert_from(payload, 'UTF8')::jsonb->>'referral_id' "
                                       "ORDER BY id) FROM outbox WHERE event_type = 'ReferralAccepted' AND key = $1",
                               str(same_child_id).encode())
    assert same_events == list(recorded)

    # Casework: one case per child, one arrival entry per referral, nothing doubled.
    [case_counts] = await query(casework, """
        SELECT count(*) AS cases, count(DISTINCT child_subject_id) AS children,
               (SELECT count(*) FROM inbox WHERE consumer = 'referral-accepted') AS claims FROM cases""")
    assert dict(case_counts) == {"cases": CHILDREN + 1, "children": CHILDREN + 1, "claims": total}
    arrivals = await query(casework, f"SELECT {INTAKE_ID} AS intake_id, case_id, kind FROM case_history "
                                     "WHERE kind = ANY($1::text[])", list(ARRIVALS))
    assert Counter(row["intake_id"] for row in arrivals) == Counter(set(events)), "an arrival lost or doubled"
    # A doubled effect would be a second copy of an entry: the same kind with the same detail, in one case.
    assert await query(casework, """SELECT case_id, kind FROM case_history
                                    GROUP BY case_id, child_subject_id, kind, detail HAVING count(*) > 1""") == []
    [same_case] = await query(casework, "SELECT case_id, status FROM cases WHERE child_subject_id = $1",
                              same_child_id)
    same_arrivals = Counter(row["kind"] for row in arrivals if row["case_id"] == same_case["case_id"])
    assert same_arrivals == {"case_opened": 1, "referral_joined": SAME_CHILD - 1}
    assert same_case["status"] == "open"

    # The survivors and the killed ones logged nothing personal.
    for process in (intake, casework, intake_2, casework_2):
        log = process.log_text()
        assert "service_started" in log
        assert not [word for word in PERSONAL if word in log], process.log_path

    # The figures docs/scaling.md quotes: how long each partition went unhandled around the kill.
    handled: dict[int, list[float]] = defaultdict(list)
    for row in await query(intake, "SELECT referral_id, extract(epoch FROM received_at)::float8 AS at FROM referrals"):
        handled[partition_of[row["referral_id"].encode()]].append(row["at"])
    partition_of_event = {json.loads(r.value)["intake_id"]: r.partition for r in accepted.records}
    opened: dict[int, list[float]] = defaultdict(list)
    for row in await query(casework, f"SELECT {INTAKE_ID} AS intake_id, extract(epoch FROM recorded_at)::float8 AS at "
                                     "FROM case_history WHERE kind = ANY($1::text[])", list(ARRIVALS)):
        opened[partition_of_event[row["intake_id"]]].append(row["at"])
    print(f"\n[two-instances] {total} referrals at {RATE:.0f}/s; killed {killed_at - started:.1f} s in, after "
          f"{outcomes_before_kill} outcomes and {cases_before_kill} cases; all sent {sent_at - started:.1f} s in; "
          f"every outcome and case entry {done_at - started:.1f} s in ({done_at - killed_at:.1f} s after the kill); "
          f"{repeats} outcome record(s) sent twice; load average {os.getloadavg()[0]:.2f}")
    print(f"[two-instances] longest wait between two handled records, per partition: intake (referrals) "
          f"{longest_gaps(handled)}, casework (referral-accepted) {longest_gaps(opened)}")



def longest_gaps(times: dict[int, list[float]]) -> dict[int, float]:
    gaps = {}
    for partition, moments in sorted(times.items()):
        ordered = sorted(moments)
        gaps[partition] = round(max((b - a for a, b in pairwise(ordered)), default=0.0), 2)
    return gaps


async def _arrived(casework: ServiceProcess, expected: int) -> bool:
    return await arrivals_count(casework) >= expected


MEASURE = os.environ.get("CME_MEASURE_SCALING") == "1"
MEASURED_BURST = int(os.environ.get("CME_MEASURE_BURST", "1000"))


def cpu_seconds(processes: list[ServiceProcess]) -> float:
    """User and system CPU the processes have used so far (/proc)."""
    total = 0
    for process in processes:
        pid = process._process.pid  # type: ignore[union-attr]
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime, in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


async def index_lock_waits(intake: ServiceProcess, until: asyncio.Event) -> tuple[int, int]:
    """(samples, samples with a session of intake waiting for an advisory lock), every 20 ms until `until`."""
    conn = await asyncpg.connect(dsn(intake))
    samples = waiting = 0
    try:
        while not until.is_set():
            samples += 1
            waiting += bool(await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND wait_event = 'advisory'"))
            await asyncio.sleep(0.02)
    finally:
        await conn.close()
    return samples, waiting


@pytest.mark.skipif(not MEASURE, reason="a measurement for docs/scaling.md: CME_MEASURE_SCALING=1")
@pytest.mark.parametrize("instances", [1, 2])
async def test_burst_throughput_with_one_or_two_instances_per_service(stack, second, infra, namespace, instances):
    services = await stack("intake", "casework")
    processes = list(services.values())
    if instances == 2:
        processes += [second.of(services["intake"]), second.of(services["casework"])]
    await groups_settled(infra.kafka, namespace, members=instances)
    records = [(n % PARTITIONS, child_referral(n)) for n in range(MEASURED_BURST)]
    load_before = os.getloadavg()
    done = asyncio.Event()
    sampling = asyncio.create_task(index_lock_waits(services["intake"], done))
    async with TopicReader(infra.kafka, namespace(topics.REFERRAL_OUTCOMES)) as outcomes:
        cpu_before, started = cpu_seconds(processes), time.monotonic()
        await send(infra.kafka, namespace(topics.REFERRALS), records, rate=None)
        sent = time.monotonic() - started
        await outcomes.wait_for(lambda rs: len({r.key for r in rs}) >= MEASURED_BURST, timeout=300)
        answered = time.monotonic() - started
    done.set()
    samples, waiting = await sampling
    await eventually(lambda: _arrived(services["casework"], MEASURED_BURST), timeout=300, interval=0.1)
    elapsed, cpu = time.monotonic() - started, cpu_seconds(processes) - cpu_before
    assert await cases_count(services["casework"]) == MEASURED_BURST
    print(f"\n[scaling] {instances} instance(s) per service: {MEASURED_BURST} referrals sent in {sent:.2f} s; "
          f"every outcome in {answered:.2f} s ({MEASURED_BURST / answered:.0f}/s), every case entry in "
          f"{elapsed:.2f} s ({MEASURED_BURST / elapsed:.0f}/s); service CPU {1000 * cpu / MEASURED_BURST:.1f} ms "
          f"a referral; an intake session waiting on the index lock in {waiting} of {samples} samples; "
          f"load average before {load_before[0]:.2f} (1 min) {load_before[1]:.2f} (5 min), "
          f"after {os.getloadavg()[0]:.2f}")
