"""Where the tests' Kafka and PostgreSQL come from.

In order: environment variables (`CME_TEST_KAFKA_BOOTSTRAP`, `CME_TEST_PG_ADMIN_DSN`, as `make test`
sets them); else testcontainers when a Docker engine answers; else the project's own local runtime
(`make infra`), which installs and starts both without Docker.
"""

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parents[4]
INIT_SQL = REPO_ROOT / "deploy" / "postgres" / "init.sql"
DEV_TEST_SQL = REPO_ROOT / "deploy" / "postgres" / "dev-test.sql"  # the test role, on top of init.sql
# Partners' sample messages, each named after the status intake must give it (samples/referrals/README.md).
SAMPLE_REFERRALS = REPO_ROOT / "samples" / "referrals"
LOCAL_KAFKA = "127.0.0.1:9092"
LOCAL_PG_ADMIN = "postgresql://cme_test:cme_test@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class Infra:
    kafka_bootstrap: str
    pg_admin_dsn: str  # a role that may create databases owned by the services' owner roles

    def service_url(self, service: str, database: str) -> str:
        """asyncpg URL for `database` as the service's runtime login role (its development password)."""
        return self._url(f"cme_{service}", database)

    def owner_url(self, service: str, database: str) -> str:
        """asyncpg URL for `database` as the service's owner role, which migrations run as."""
        return self._url(f"cme_{service}_owner", database)

    def _url(self, role: str, database: str) -> str:
        parts = urlsplit(self.pg_admin_dsn)
        return f"postgresql+asyncpg://{role}:{role}@{parts.hostname}:{parts.port or 5432}/{database}"


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@contextmanager
def _containers() -> Iterator[Infra]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    with KafkaContainer("apache/kafka:4.1.1").with_kraft() as kafka, PostgresContainer("postgres:15") as pg:
        pg_dsn = pg.get_connection_url(driver=None)
        subprocess.run(
            ["psql", pg_dsn, "-v", "ON_ERROR_STOP=1", "-q", "-f", str(INIT_SQL), "-f", str(DEV_TEST_SQL)],
            check=True, capture_output=True,
        )
        parts = urlsplit(pg_dsn)
        admin = f"postgresql://cme_test:cme_test@{parts.hostname}:{parts.port}/postgres"
        yield Infra(kafka.get_bootstrap_server(), admin)


@contextmanager
def provide_infra() -> Iterator[Infra]:
    kafka = os.environ.get("CME_TEST_KAFKA_BOOTSTRAP")
    pg = os.environ.get("CME_TEST_PG_ADMIN_DSN")
    if kafka and pg:
        yield Infra(kafka, pg)
    elif _docker_answers():
        with _containers() as infra:
            yield infra
    else:
        subprocess.run(["make", "--no-print-directory", "infra"], cwd=REPO_ROOT, check=True)
        yield Infra(LOCAL_KAFKA, LOCAL_PG_ADMIN)
