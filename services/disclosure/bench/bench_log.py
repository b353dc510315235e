"""Benchmark the disclosure log on real PostgreSQL: append rate and proof time at 10k and 100k leaves.

Not a test: it prints numbers. It creates a throw-away database owned by cme_disclosure (through the
test role, like the test suite), migrates it, and drops it at the end.

    CME_TEST_PG_ADMIN_DSN=postgresql://cme_test:cme_test@127.0.0.1:5432/postgres \
        .venv/bin/python services/disclosure/bench/bench_log.py [--sizes 10000 100000] [--batch 500]

Appends are measured two ways: one leaf per transaction (each with its signed head, as an HTTP
request does) over a short run, and in batches of `--batch` leaves per transaction to fill the log.
"""

import argparse
import asyncio
import os
import secrets
import statistics
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

import cme_disclosure
from cme_disclosure.domain.entries import LeafKind, entry
from cme_disclosure.service_layer.audit import verify_log
from cme_disclosure.adapters.merkle_store import KeyRing, MerkleLog
from cme_shared.db import create_engine, session_factory
from cme_shared.migrations import upgrade

MIGRATIONS = Path(cme_disclosure.__file__).parent / "migrations"


def an_entry(i: int):
    return entry(LeafKind.SHARE_MADE, str(uuid.uuid4()), datetime.now(UTC),
                 {"recipient_type": "school", "purpose": "cme_tracking", "n": i},
                 {"subject_ids": [str(uuid.uuid4())], "reason": "benchmark"})


async def append_until(sessions, keys: KeyRing, target: int, size: int, batch: int) -> float:
    started = time.perf_counter()
    appended = 0
    while size + appended < target:
        n = min(batch, target - size - appended)
        async with sessions.begin() as session:
            await MerkleLog(session, keys).append([an_entry(size + appended + i) for i in range(n)])
        appended += n
    return appended / (time.perf_counter() - started) if appended else 0.0


async def single_appends(sessions, keys: KeyRing, count: int) -> float:
    started = time.perf_counter()
    for i in range(count):
        async with sessions.begin() as session:
            await MerkleLog(session, keys).append([an_entry(i)])
    return count / (time.perf_counter() - started)


async def proof_times(sessions, keys: KeyRing, size: int, samples: int = 200) -> tuple[float, float, int]:
    inclusion, consistency, fetched = [], [], 0
    async with sessions() as session:
        log = MerkleLog(session, keys)
        for _ in range(samples):
            index = secrets.randbelow(size)
            t = time.perf_counter()
            proof = await log.inclusion_proof(index, size)
            inclusion.append(time.perf_counter() - t)
            fetched = max(fetched, len(proof))
            first = 1 + secrets.randbelow(size)
            t = time.perf_counter()
            await log.consistency_proof(first, size)
            consistency.append(time.perf_counter() - t)
    return statistics.median(inclusion) * 1000, statistics.median(consistency) * 1000, fetched


async def main(sizes: list[int], batch: int) -> None:
    admin = os.environ.get("CME_TEST_PG_ADMIN_DSN", "postgresql://cme_test:cme_test@127.0.0.1:5432/postgres")
    name = f"bench_disclosure_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}" OWNER "cme_disclosure_owner"')
    await conn.close()
    parts = urlsplit(admin)
    url = f"postgresql+asyncpg://cme_disclosure:cme_disclosure@{parts.hostname}:{parts.port or 5432}/{name}"
    owner_url = url.replace("cme_disclosure:cme_disclosure@", "cme_disclosure_owner:cme_disclosure_owner@")
    try:
        await asyncio.to_thread(upgrade, MIGRATIONS, owner_url, "head", "cme_disclosure")
        engine = create_engine(url)
        sessions = session_factory(engine)
        keys = KeyRing(None)
        rate_single = await single_appends(sessions, keys, 300)
        print(f"append, 1 leaf + signed head per transaction: {rate_single:8.0f} leaves/s")
        size = 300
        for target in sizes:
            rate = await append_until(sessions, keys, target, size, batch)
            size = target
            inc, con, depth = await proof_times(sessions, keys, size)
            print(f"{size:>7} leaves: append {rate:8.0f} leaves/s (batches of {batch}); "
                  f"inclusion proof {inc:6.2f} ms, consistency proof {con:6.2f} ms (median; {depth} hashes)")
            assert depth <= size.bit_length()
        started = time.perf_counter()
        async with engine.connect() as c:
            report = await verify_log(c, keys=[keys.public_key()])
        print(f"verify-log over {report.tree_size} leaves and {report.heads_checked} heads: "
              f"{time.perf_counter() - started:.1f} s, ok={report.ok}")
        await engine.dispose()
    finally:
        conn = await asyncpg.connect(admin)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    asyncio.run(main(args.sizes, args.batch))
