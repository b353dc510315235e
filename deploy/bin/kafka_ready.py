"""Readiness probe for the local Kafka broker.

Proves the broker works with a real client call (cluster metadata through
aiokafka's admin client) rather than trusting a log line or an open port. The
broker takes SCRAM-SHA-512 logins only: --username and --password-file (read
from a file, so that the password is never on a command line).
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


def _login(username: str | None, password_file: str | None, mechanism: str = "SCRAM-SHA-512") -> dict[str, str]:
    if username is None:
        return {}
    if password_file is None:
        raise SystemExit("kafka_ready: --username needs --password-file")
    with open(password_file) as f:
        password = f.read().strip()
    return {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": mechanism,
            "sasl_plain_username": username, "sasl_plain_password": password}


async def _probe(bootstrap: str, login: dict[str, str]) -> str:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000, **login)
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
        topics = await admin.list_topics()
    finally:
        await admin.close()
    brokers = len(cluster.get("brokers", []))
    return f"cluster {cluster.get('cluster_id')}, {brokers} broker(s), {len(topics)} topic(s)"


async def _wait(bootstrap: str, login: dict[str, str], timeout: float, pid: int | None, quiet: bool) -> bool:
    deadline = time.monotonic() + timeout
    last_error = "no attempt made"
    while time.monotonic() < deadline:
        if not _alive(pid):
            print(f"kafka_ready: broker process {pid} exited", file=sys.stderr)
            return False
        try:
            summary = await asyncio.wait_for(_probe(bootstrap, login), timeout=15)
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
    parser.add_argument("--username", default=None)
    parser.add_argument("--password-file", default=None)
    parser.add_argument("--mechanism", default="SCRAM-SHA-512", choices=["SCRAM-SHA-512", "PLAIN"])
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
    login = _login(args.username, args.password_file, args.mechanism)
    ok = asyncio.run(_wait(args.bootstrap, login, args.timeout, args.pid, args.quiet))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
