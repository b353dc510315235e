"""CPU per record of the two consumers a burst goes through, measured in-process (issue 7).

Builds intake and casework as the services build themselves, each against a throw-away database
migrated to head, and feeds the kit's `process_batch` directly: intake N synthetic referrals (the
benchmark's NHS sample, one new child each), casework the N `ReferralAccepted` events intake wrote to
its outbox. No broker is involved, so the figures are the handlers, the kit and the database round
trips alone. Prints CPU time and wall time per record and the statements each record cost.

    .venv/bin/python bench/profile_consumers.py --n 500            # figures
    .venv/bin/python bench/profile_consumers.py --n 500 --profile  # and a pyinstrument profile, if installed

Nothing here is asserted; it is the tool behind the profiles in docs/performance.md.
"""

import asyncio
import os
import secrets
import time
from collections.abc import Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import event, select

from cme_shared.contracts import topics
from cme_shared.messaging.consumer import Delivery, ReliableConsumer
from cme_shared.messaging.outbox import decode_headers
from cme_shared.testing.fixtures import Databases
from cme_shared.testing.infra import Infra, kafka_login

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get("CME_BENCH_PG_ADMIN_DSN", "postgresql://cme_test:cme_test@127.0.0.1:5432/postgres")
KAFKA = os.environ.get("CME_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
BATCH = {"size": 100}


def referral_deliveries(topic: str, n: int) -> list[Delivery]:
    from platform_bench import referral_bytes  # the benchmark's referral, one new child each

    run = secrets.token_hex(3)
    return [Delivery(topic=topic, partition=0, offset=i, key=f"BENCH-{run}-{i}".encode(),
                     value=referral_bytes(run, i)) for i in range(n)]


def consumer_of(app: Any, name: str) -> ReliableConsumer[Any]:
    return next(c for c in app.state.runtime.consumers if c.name == name)


@asynccontextmanager
async def statements_counted(app: Any) -> Any:
    counter = {"n": 0}

    def count(*_args: Any) -> None:
        counter["n"] += 1

    engine = app.state.runtime.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def feed(app: Any, consumer: ReliableConsumer[Any], deliveries: Sequence[Delivery], label: str,
               profiler: Any) -> None:
    async with statements_counted(app) as statements:
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler is not None:
            profiler.start()
        size = BATCH["size"]
        for start in range(0, len(deliveries), size):
            outcomes = await consumer.process_batch(deliveries[start:start + size])
            assert all(o == "handled" for o in outcomes), outcomes
        if profiler is not None:
            profiler.stop()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    n = len(deliveries)
    print(f"{label}: {n} records, CPU {cpu / n * 1000:.2f} ms/record, wall {wall / n * 1000:.2f} ms/record, "
          f"{statements['n'] / n:.1f} statements/record")


async def outbox_events(app: Any, topic: str) -> list[Delivery]:
    runtime = app.state.runtime
    table = runtime.kit.outbox
    async with runtime.engine.connect() as conn:
        rows = (await conn.execute(select(table).where(table.c.topic == topic).order_by(table.c.id))).all()
    return [Delivery(topic=topic, partition=0, offset=i, key=row.key, value=row.payload,
                     headers=decode_headers(row.headers)) for i, row in enumerate(rows)]


async def run(n: int, profile: bool) -> None:
    from cme_casework.app import create_app as casework_app
    from cme_casework.settings import CaseworkSettings
    from cme_intake.app import create_app as intake_app
    from cme_intake.settings import IntakeSettings

    infra = Infra(KAFKA, PG_ADMIN, *kafka_login())  # the operator (CME_TEST_KAFKA_* or .local/secrets)
    databases = Databases(infra)
    profilers: list[Any] = []
    if profile:
        from pyinstrument import Profiler

        profilers = [Profiler(async_mode="disabled"), Profiler(async_mode="disabled")]
    try:
        intake_url = await databases.create("intake", ROOT / "services" / "intake" / "src" / "cme_intake" / "migrations")
        casework_url = await databases.create(
            "casework", ROOT / "services" / "casework" / "src" / "cme_casework" / "migrations")
        common = {"env": "test", **infra.kafka_settings(), "topic_namespace": ""}
        intake = intake_app(IntakeSettings(database_url=intake_url, **common))
        casework = casework_app(CaseworkSettings(database_url=casework_url, **common))
        await feed(intake, consumer_of(intake, "referrals"), referral_deliveries(topics.REFERRALS, n), "intake",
                   profilers[0] if profilers else None)
        accepted = await outbox_events(intake, topics.REFERRAL_ACCEPTED)
        await feed(casework, consumer_of(casework, "referral-accepted"), accepted, "casework",
                   profilers[1] if profilers else None)
        for name, profiler in zip(("intake", "casework"), profilers, strict=False):
            print(f"\n===== {name} =====")
            print(profiler.output_text(unicode=False, color=False, show_all=False))
        for app in (intake, casework):
            await app.state.runtime.engine.dispose()
    finally:
        await databases.drop_all()


def main(n: Annotated[int, typer.Option(help="referrals to feed")] = 500,
         profile: Annotated[bool, typer.Option(help="print a pyinstrument profile of each")] = False,
         batch: Annotated[int, typer.Option(help="records per process_batch call")] = 100) -> None:
    BATCH["size"] = batch
    asyncio.run(run(n, profile))


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    typer.run(main)
