"""Readiness probe for the local Kafka broker.

Proves the broker works with a real client call (cluster metadata through
aiokafka's admin client) rather than trusting a log line or an open port.
Retries until --timeout; exits 0 when ready, 1 otherwise. With --pid it gives up
early when that process (the broker being started) has died.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time


def _alive(pid: int | None) -> bool:
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def _probe(bootstrap: str) -> str:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
        topics = await admin.list_topics()
    finally:
        await admin.close()
    brokers = len(cluster.get("brokers", []))
    return f"cluster {cluster.get('cluster_id')}, {brokers} broker(s), {len(topics)} topic(s)"


async def _wait(bootstrap: str, timeout: float, pid: int | None, quiet: bool) -> bool:
    deadline = time.monotonic() + timeout
    last_error = "no attempt made"
    while time.monotonic() < deadline:
        if not _alive(pid):
            print(f"kafka_ready: broker process {pid} exited", file=sys.stderr)
            return False
        try:
            summary = await asyncio.wait_for(_probe(bootstrap), timeout=15)
        except Exception as exc:  # any failure means "not ready yet"
            last_error = f"{type(exc).__name__}: {exc}"
            await asyncio.sleep(1)
            continue
        if not quiet:
            print(f"kafka_ready: {bootstrap} answers ({summary})")
        return True
    if not quiet:
        print(f"kafka_ready: {bootstrap} not ready after {timeout:.0f}s ({last_error})", file=sys.stderr)
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--pid", type=int, default=None)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    try:
        import aiokafka  # noqa: F401
    except ImportError:
        print(f"kafka_ready: aiokafka is not installed in {sys.executable}; run 'make venv'", file=sys.stderr)
        return 1
    # aiokafka logs every refused connection at ERROR while the broker boots.
    logging.basicConfig(level=logging.CRITICAL)
    ok = asyncio.run(_wait(args.bootstrap, args.timeout, args.pid, args.quiet))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
