"""`make bench`: the platform against the raw limits of its own broker and database, in one run.

Runs on the local stack that `make up` started (the four services on 8001-8004, Kafka on 9092,
PostgreSQL on 5432) and prints one table:

- the floor: aiokafka producing and consuming N referral-sized messages, and asyncpg inserting the
  equivalent rows in batches — the most this hardware does for this work;
- the platform: N referrals published as a partner would, until every outcome is received and every
  case is visible through casework's API: throughput, p50/p95/p99 referral-to-case latency, and the
  ratio platform / floor;
- latency under load: p99 referral-to-case latency at half the sustainable rate;
- subject access: time to a ready pack for subjects with 10, 100 and 1,000 records;
- disclosure log: append rate, and proof time at 10k, 100k (and optionally 1M) leaves;
- memory: peak resident memory of each service.

Figures come from this run; nothing here is asserted. Sizes are options (`--help`).
"""

import asyncio
import json
import os
import secrets
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import asyncpg
import httpx
import typer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from rich.console import Console
from stdnum.gb import upn as upn_module
from rich.table import Table

from cme_shared.auth import issue_development_token
from cme_shared.contracts import topics
from cme_shared.ops import ensure_topics
from cme_shared.settings import ServiceSettings
from cme_shared.testing.infra import SAMPLE_REFERRALS

ROOT = Path(__file__).resolve().parents[1]
# The operator's login (`make bench` sets CME_KAFKA_*): the bench creates topics and reads consumer lag.
KAFKA = ServiceSettings().kafka_connection()
PG_ADMIN = os.environ.get("CME_BENCH_PG_ADMIN_DSN", "postgresql://cme_test:cme_test@127.0.0.1:5432/postgres")
URLS = {"intake": "http://127.0.0.1:8001", "casework": "http://127.0.0.1:8002",
        "disclosure": "http://127.0.0.1:8003", "rights": "http://127.0.0.1:8004"}
console = Console()


@dataclass
class Row:
    measure: str
    value: str
    note: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)

    def add(self, measure: str, value: str, note: str = "") -> None:
        self.rows.append(Row(measure, value, note))
        console.print(f"  {measure}: [bold]{value}[/bold] {note}")

    def table(self) -> Table:
        table = Table(title="CME platform benchmark")
        for column in ("measure", "value", "note"):
            table.add_column(column)
        for row in self.rows:
            table.add_row(row.measure, row.value, row.note)
        return table


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def secret() -> str:
    value = os.environ.get("CME_JWT_SECRET")
    if value:
        return value
    return (ROOT / ".local" / "secrets" / "jwt-secret").read_text().strip()


def token(**claims: Any) -> dict[str, str]:
    return {"Authorization": "Bearer " + issue_development_token(secret(), **claims)}


def referral_bytes(run: str, i: int, *, upn: str | None = None) -> bytes:
    """A referral-sized message (the NHS sample), made unique: its own id and its own child."""
    document = json.loads((SAMPLE_REFERRALS / "accepted-nhs-new-arrival.json").read_bytes())
    document["referral_id"] = f"BENCH-{run}-{i}"
    document["source"]["org_id"] = f"BENCH{run}"
    document["submitted_at"] = datetime.now(UTC).isoformat()
    child = document["child"]
    child["first_name"] = f"Bench{i}"
    child["last_name"] = f"Run{run}"
    child.pop("nhs_number", None)
    if upn:
        child["upn"] = upn
        child["first_name"] = "Sam"
    return json.dumps(document).encode()


# ------------------------------------------------------------------------------ what a referral costs

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
DATABASES = ("cme_intake", "cme_casework", "cme_disclosure", "cme_rights")


def _cpu_seconds(pid: int, *, children: bool = False) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime: backends that have exited
    return ticks / CLOCK_TICKS


def cpu_snapshot() -> dict[str, float]:
    """CPU seconds used so far by each part of the stack on this machine."""
    used: dict[str, float] = {}
    for name in (*URLS, "kafka"):
        try:
            used[name] = _cpu_seconds(int((ROOT / ".local" / "run" / f"{name}.pid").read_text().strip()))
        except (OSError, ValueError):
            pass
    postgres = 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip() != "postgres":
                continue
            parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            is_postmaster = (Path(f"/proc/{parent}/comm").read_text().strip() != "postgres")
            postgres += _cpu_seconds(int(proc.name), children=is_postmaster)
        except (OSError, ValueError):
            continue
    used["postgres"] = postgres
    times = os.times()
    used["benchmark"] = times.user + times.system
    return used


async def work_snapshot() -> tuple[int, int]:
    """Rows written (inserted + updated) in the four service databases, and records on the platform's
    topics, so far. PostgreSQL's counters lag by up to a second: wait before the second snapshot."""
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        rows = await admin.fetchval(
            "SELECT sum(tup_inserted + tup_updated) FROM pg_stat_database WHERE datname = ANY($1::text[])",
            list(DATABASES))
    finally:
        await admin.close()
    admin = AIOKafkaAdminClient(**KAFKA.aiokafka())
    consumer = AIOKafkaConsumer(**KAFKA.aiokafka(), enable_auto_commit=False, group_id=None)
    await admin.start()
    await consumer.start()
    try:
        platform_topics = [t for t in await consumer.topics() if t.startswith("cme.")]
        partitions = [TopicPartition(d["topic"], p["partition"])
                      for d in await admin.describe_topics(platform_topics) for p in d["partitions"]]
        ends = await consumer.end_offsets(partitions) if partitions else {}
    finally:
        await consumer.stop()
        await admin.close()
    return int(rows or 0), sum(ends.values())


async def caught_up(group: str, topic: str, timeout: float) -> None:
    """Wait until a consumer group has committed every record of `topic` (cheaper to ask than the API)."""
    admin = AIOKafkaAdminClient(**KAFKA.aiokafka())
    consumer = AIOKafkaConsumer(**KAFKA.aiokafka(), enable_auto_commit=False, group_id=None)
    await admin.start()
    await consumer.start()
    try:
        [described] = await admin.describe_topics([topic])
        partitions = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
        ends = await consumer.end_offsets(partitions)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
            if all(committed.get(tp) is not None and committed[tp].offset >= ends[tp] for tp in partitions):
                return
            await asyncio.sleep(0.2)
    finally:
        await consumer.stop()
        await admin.close()


@dataclass
class Floor:
    hop: float  # the floor as the issue defines it: one message produced, consumed and inserted (msgs/s)
    produce: float
    consume: float
    insert: float

    def for_work(self, messages: float, rows: float) -> float:
        """Referrals/s if each did `messages` produce+consume and `rows` batched row writes at floor speed."""
        return 1 / (messages / self.produce + messages / self.consume + rows / self.insert)


# ------------------------------------------------------------------------------------------ floor

async def floor(n: int, report: Report) -> Floor:
    """The floor's rates: one Kafka hop plus one batched database write, and each part alone."""
    console.rule("floor")
    payload = (SAMPLE_REFERRALS / "accepted-nhs-new-arrival.json").read_bytes()
    topic = f"bench.floor.{secrets.token_hex(3)}"
    await ensure_topics(KAFKA, [topic])
    producer = AIOKafkaProducer(**KAFKA.aiokafka(), acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    started = time.perf_counter()
    futures = [await producer.send(topic, payload, key=str(i).encode()) for i in range(n)]
    await asyncio.gather(*futures)
    produce_s = time.perf_counter() - started
    await producer.stop()

    consumer = AIOKafkaConsumer(topic, **KAFKA.aiokafka(), auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    started, seen = time.perf_counter(), 0
    while seen < n:
        batch = await consumer.getmany(timeout_ms=1000)
        seen += sum(len(records) for records in batch.values())
    consume_s = time.perf_counter() - started
    await consumer.stop()

    database = f"bench_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{database}"')
    try:
        conn = await asyncpg.connect(PG_ADMIN.rsplit("/", 1)[0] + f"/{database}")
        await conn.execute("CREATE TABLE referrals (id uuid primary key, payload jsonb not null, raw bytea not null)")
        rows = [(uuid.uuid4(), payload.decode(), payload) for _ in range(n)]
        started = time.perf_counter()
        for start in range(0, n, 500):
            async with conn.transaction():
                await conn.executemany("INSERT INTO referrals VALUES ($1, $2::jsonb, $3)", rows[start:start + 500])
        insert_s = time.perf_counter() - started
        await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()

    report.add("floor: kafka produce (acks=all)", f"{n / produce_s:,.0f} msg/s", f"{n} x {len(payload)} B")
    report.add("floor: kafka consume", f"{n / consume_s:,.0f} msg/s")
    report.add("floor: postgres insert (batches of 500)", f"{n / insert_s:,.0f} rows/s")
    hop = n / (produce_s + consume_s + insert_s)
    report.add("floor: one hop (produce + consume + insert)", f"{hop:,.0f} msg/s", "serial sum of the three")
    return Floor(hop, n / produce_s, n / consume_s, n / insert_s)


# --------------------------------------------------------------------------------------- platform

async def publish_referrals(messages: list[tuple[str, bytes]], rate: float | None) -> dict[str, float]:
    """Publish as a partner would; returns each referral id's send time (epoch seconds)."""
    producer = AIOKafkaProducer(**KAFKA.aiokafka(), acks="all", enable_idempotence=True, linger_ms=2)
    await producer.start()
    sent: dict[str, float] = {}
    try:
        started = time.perf_counter()
        futures = []
        for i, (referral_id, value) in enumerate(messages):
            if rate:
                delay = started + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            sent[referral_id] = time.time()
            futures.append(await producer.send(topics.REFERRALS, value, key=referral_id.encode()))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return sent


async def outcome_reader() -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(topics.REFERRAL_OUTCOMES, **KAFKA.aiokafka(), enable_auto_commit=False,
                                group_id=None, auto_offset_reset="latest")
    await consumer.start()
    await consumer.seek_to_end()
    for partition in consumer.assignment():
        await consumer.position(partition)  # pin "latest" before anything is published
    return consumer


async def collect_outcomes(consumer: AIOKafkaConsumer, wanted: set[str], timeout: float) -> dict[str, dict]:
    outcomes: dict[str, dict] = {}
    deadline = time.monotonic() + timeout
    while wanted - outcomes.keys() and time.monotonic() < deadline:
        batch = await consumer.getmany(timeout_ms=500)
        for records in batch.values():
            for record in records:
                outcome = json.loads(record.value)
                if outcome.get("referral_id") in wanted:
                    outcome["received_at"] = time.time()
                    outcome["published_at"] = record.timestamp / 1000  # CreateTime: set by intake's relay
                    outcomes[outcome["referral_id"]] = outcome
    return outcomes


async def case_opened_at(client: httpx.AsyncClient, child_ids: dict[str, str], timeout: float) -> dict[str, float]:
    """When casework opened each child's case, polled through its API until all are visible."""
    headers = token(sub="bench-manager", roles=["manager"])
    opened: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    semaphore = asyncio.Semaphore(16)

    async def one(referral_id: str, child: str) -> None:
        async with semaphore:
            response = await client.get(f"{URLS['casework']}/cases", params={"child_subject_id": child},
                                        headers=headers)
        if response.status_code == 200 and response.json():
            opened[referral_id] = datetime.fromisoformat(response.json()[0]["opened_at"]).timestamp()

    while len(opened) < len(child_ids) and time.monotonic() < deadline:
        await asyncio.gather(*(one(r, c) for r, c in child_ids.items() if r not in opened))
        if len(opened) < len(child_ids):
            await asyncio.sleep(0.5)
    return opened


LAST_SPLIT: list[list[float]] = []  # the last run's latency split (see platform_run)
DUMP: list[Path] = []  # `--dump`: where each referral's times go (JSON lines)


def split_note() -> str:
    if not LAST_SPLIT or not LAST_SPLIT[0]:
        return ""
    to_intake, intake_to_case, relay, casework = LAST_SPLIT
    def p50_p99(values: list[float]) -> str:
        return f"{percentile(values, 50) * 1000:,.0f} / {percentile(values, 99) * 1000:,.0f} ms"

    return (f"p50 / p99: to intake {p50_p99(to_intake)}, intake to case {p50_p99(intake_to_case)} "
            f"(of which to outcome published {p50_p99(relay)}, published to case {p50_p99(casework)})")


async def platform_run(run: str, n: int, rate: float | None,
                       timeout: float) -> tuple[float, list[float], int, dict[str, float]]:
    """One run: throughput, each referral's latency, outcomes received, and CPU used when casework was done."""
    messages = [(f"BENCH-{run}-{i}", referral_bytes(run, i)) for i in range(n)]
    consumer = await outcome_reader()
    try:
        started = time.time()
        sent = await publish_referrals(messages, rate)
        outcomes = await collect_outcomes(consumer, set(sent), timeout)
    finally:
        await consumer.stop()
    children = {r: o["child_subject_id"] for r, o in outcomes.items() if o.get("child_subject_id")}
    # Asking the API about every child while casework is still working would take casework's CPU: wait
    # until it has read every accepted referral, then check each case is visible (latency is measured to
    # the case's own opened_at, so when the check runs does not change it).
    await caught_up("casework.referral-accepted", topics.REFERRAL_ACCEPTED, timeout)
    cpu_done = cpu_snapshot()
    async with httpx.AsyncClient(timeout=30) as client:
        opened = await case_opened_at(client, children, timeout)
    latencies = [opened[r] - sent[r] for r in opened]
    # Where the time goes: publish -> intake handled it (its outcome's processed_at), -> case opened.
    to_intake = [datetime.fromisoformat(outcomes[r]["processed_at"]).timestamp() - sent[r] for r in opened]
    intake_to_case = [opened[r] - datetime.fromisoformat(outcomes[r]["processed_at"]).timestamp() for r in opened]
    # Intake's part split again at its outcome's Kafka timestamp (the relay's send; ReferralAccepted goes
    # in the same pass): batch commit + relay wake-up + send, then casework's fetch, batch and case.
    relay = [outcomes[r]["published_at"] - datetime.fromisoformat(outcomes[r]["processed_at"]).timestamp()
             for r in opened]
    casework = [opened[r] - outcomes[r]["published_at"] for r in opened]
    LAST_SPLIT[:] = [to_intake, intake_to_case, relay, casework]
    if DUMP:  # each referral's times, for a look at where the tail lies (`--dump`)
        with DUMP[0].open("a") as out:
            for r in opened:
                out.write(json.dumps({"run": run, "rate": rate, "sent": sent[r], "opened": opened[r],
                                      "processed": datetime.fromisoformat(outcomes[r]["processed_at"]).timestamp(),
                                      "published": outcomes[r]["published_at"]}) + "\n")
    elapsed = (max(opened.values()) - started) if opened else float("inf")
    return len(opened) / elapsed if opened else 0.0, latencies, len(outcomes), cpu_done


async def platform(n: int, floor_rates: Floor | None, report: Report, timeout: float) -> float:
    console.rule("platform")
    run = secrets.token_hex(3)
    rows_before, records_before = await work_snapshot()
    cpu_before = cpu_snapshot()
    throughput, latencies, outcomes, cpu_after = await platform_run(run, n, None, timeout)
    await asyncio.sleep(2)  # PostgreSQL's statistics counters lag the commits
    rows_after, records_after = await work_snapshot()
    report.add("platform: referrals -> outcomes received", f"{outcomes}/{n}")
    report.add("platform: referrals -> cases visible", f"{len(latencies)}/{n}")
    report.add("platform: throughput", f"{throughput:,.0f} referrals/s", "publish to last case visible")
    if latencies:
        report.add("platform: referral-to-case p50 / p95 / p99",
                   " / ".join(f"{percentile(latencies, p) * 1000:,.0f} ms" for p in (50, 95, 99)), "burst of N")
    rows, records = (rows_after - rows_before) / n, (records_after - records_before) / n
    report.add("platform: work per referral", f"{records:.1f} Kafka records, {rows:.1f} rows written",
               "all cme.* topics; inserts + updates in the four databases")
    spent = {name: (cpu_after[name] - cpu_before.get(name, 0.0)) / n * 1000 for name in cpu_after}
    total = sum(spent.values())
    report.add("platform: CPU per referral", f"{total:.1f} ms",
               ", ".join(f"{name} {ms:.1f}" for name, ms in sorted(spent.items(), key=lambda kv: -kv[1])))
    report.add("platform: CPU-bound ceiling", f"{(os.cpu_count() or 1) / total * 1000:,.0f} referrals/s",
               f"{os.cpu_count()} cores / CPU per referral")
    if floor_rates is not None:
        report.add("platform / floor", f"{throughput / floor_rates.hop:.2f}", "target >= 0.5 (floor: one hop)")
        same_work = floor_rates.for_work(records, rows)
        report.add("floor: the same work per referral", f"{same_work:,.0f} referrals/s",
                   f"{records:.1f} records produced + consumed, {rows:.1f} rows, at floor rates")
        report.add("platform / floor for the same work", f"{throughput / same_work:.2f}")
    return throughput


async def latency_under_load(n: int, sustainable: float, report: Report, timeout: float,
                             rate: float | None = None) -> None:
    """p99 at half the sustainable rate, or at `rate` (for a curve of latency against load)."""
    label = "half rate" if rate is None else f"{rate:,.0f}/s"
    console.rule(f"latency at {label}")
    rate = rate or max(sustainable / 2, 1.0)
    _, latencies, _, _ = await platform_run(secrets.token_hex(3), n, rate, timeout)
    if latencies:
        report.add(f"platform: p50 / p99 referral-to-case at {label}",
                   f"{percentile(latencies, 50) * 1000:,.0f} / {percentile(latencies, 99) * 1000:,.0f} ms",
                   f"{rate:,.0f}/s for {n}; target p99 <= 200 ms at half rate; {split_note()}")


# ---------------------------------------------------------------------------------- subject access

async def subject_access(sizes: list[int], report: Report, timeout: float) -> None:
    console.rule("subject access")
    async with httpx.AsyncClient(timeout=60) as client:
        for size in sizes:
            run = secrets.token_hex(3)
            # One child referred `size` times: the same UPN makes every referral the same subject.
            body = f"213200119{int(run, 16) % 1000:03d}"
            upn = upn_module.calc_check_digit(body) + body
            messages = [(f"BENCH-{run}-{i}", referral_bytes(run, i, upn=upn)) for i in range(size)]
            consumer = await outcome_reader()
            try:
                sent = await publish_referrals(messages, None)
                await collect_outcomes(consumer, set(sent), timeout)
            finally:
                await consumer.stop()
            body = {
                "type": "access", "received_on": datetime.now(UTC).date().isoformat(), "channel": "email",
                "requester": {"first_name": "Pat", "last_name": f"Run{run}", "acting_as": "parent"},
                "subject": {"first_name": "Sam", "last_name": f"Run{run}", "upn": upn},
                "identity_verified": True,
            }
            headers = token(sub="bench-dpo", roles=["dpo"])
            started = time.perf_counter()
            created = await client.post(f"{URLS['rights']}/requests", json=body, headers=headers)
            created.raise_for_status()
            request_id = created.json()["request_id"]
            status = ""
            while time.perf_counter() - started < timeout:
                status = (await client.get(f"{URLS['rights']}/requests/{request_id}", headers=headers)).json()["status"]
                if status in ("ready_for_review", "responded"):
                    break
                await asyncio.sleep(0.1)
            elapsed = time.perf_counter() - started
            report.add(f"subject access: {size} referrals about one child", f"{elapsed:.2f} s",
                       f"to {status}; target <= 5 s at 1,000")


# ---------------------------------------------------------------------------------- disclosure log

def disclosure_log(sizes: list[int], report: Report) -> None:
    console.rule("disclosure log")
    script = ROOT / "services" / "disclosure" / "bench" / "bench_log.py"
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), str(script), "--sizes", *(str(s) for s in sizes)],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, "CME_TEST_PG_ADMIN_DSN": PG_ADMIN},
    )
    for line in result.stdout.splitlines():
        console.print("  " + line)
    report.add("disclosure log", "see the lines above" if result.returncode == 0 else f"failed ({result.returncode})",
               "bench_log.py: append rate and proof times")


# ------------------------------------------------------------------------------------------ memory

def memory(report: Report) -> None:
    for service in URLS:
        pidfile = ROOT / ".local" / "run" / f"{service}.pid"
        try:
            pid = int(pidfile.read_text().strip())
            status = Path(f"/proc/{pid}/status").read_text()
        except (OSError, ValueError):
            report.add(f"memory: {service}", "not running")
            continue
        peak_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))
        report.add(f"memory: {service} peak RSS", f"{peak_kb / 1024:,.0f} MB", "target <= 200 MB")


app = typer.Typer(add_completion=False)


@app.command()
def main(
    n: Annotated[int, typer.Option(help="referrals per platform run and messages for the floor")] = 2000,
    half_rate_n: Annotated[int, typer.Option(help="referrals for the half-rate latency run")] = 500,
    sar_sizes: Annotated[str, typer.Option(help="records per subject for subject access")] = "10,100,1000",
    log_sizes: Annotated[str, typer.Option(help="leaves for disclosure log proofs")] = "10000,100000",
    timeout: Annotated[float, typer.Option(help="seconds to wait for any one stage")] = 300,
    skip: Annotated[str, typer.Option(help="comma list of stages to skip: floor,platform,load,sar,log")] = "",
    load_rates: Annotated[str, typer.Option(help="also measure latency at these rates (comma list, per second)")] = "",
    burst_rate: Annotated[float, typer.Option(help="with platform skipped: the burst rate the load stage halves")] = 10.0,
    dump: Annotated[Path | None, typer.Option(help="append each referral's times (JSON lines) to this file")] = None,
) -> None:
    skipped = set(filter(None, skip.split(",")))
    DUMP[:] = [dump] if dump else []
    report = Report()

    async def run() -> None:
        floor_rates = await floor(n, report) if "floor" not in skipped else None
        sustainable = await platform(n, floor_rates, report, timeout) if "platform" not in skipped else burst_rate
        if "load" not in skipped:
            await latency_under_load(half_rate_n, sustainable, report, timeout)
        for rate in filter(None, load_rates.split(",")):
            await latency_under_load(half_rate_n, sustainable, report, timeout, rate=float(rate))
        if "sar" not in skipped:
            await subject_access([int(s) for s in sar_sizes.split(",")], report, timeout)

    asyncio.run(run())
    if "log" not in skipped:
        disclosure_log([int(s) for s in log_sizes.split(",")], report)
    memory(report)
    console.print(report.table())
    console.print(f"machine: {os.cpu_count()} cores, {os.uname().machine}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")


if __name__ == "__main__":
    app()
