"""Where the tests' Kafka and PostgreSQL come from.

In order: environment variables (`CME_TEST_KAFKA_BOOTSTRAP`, `CME_TEST_PG_ADMIN_DSN`, as `make test`
sets them); else testcontainers when a Docker engine answers; else the project's own local runtime
(`make infra`), which installs and starts both without Docker.

The local broker takes SCRAM logins only (CONTRACT section 7). The suite logs in as the `operator`
principal, for its tooling and for the apps it runs, unless a test is about ACLs:
`CME_TEST_KAFKA_USERNAME` and `CME_TEST_KAFKA_PASSWORD` (and `CME_TEST_KAFKA_SECURITY_PROTOCOL`), else the
operator's password the local runtime generated in .local/secrets/kafka/operator.password.
"""

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import SecretStr

from ..kafka_security import KafkaConnection, SecurityProtocol

REPO_ROOT = Path(__file__).resolve().parents[4]
INIT_SQL = REPO_ROOT / "deploy" / "postgres" / "init.sql"
DEV_TEST_SQL = REPO_ROOT / "deploy" / "postgres" / "dev-test.sql"  # the test role, on top of init.sql
# Partners' sample messages, each named after the status intake must give it (samples/referrals/README.md).
SAMPLE_REFERRALS = REPO_ROOT / "samples" / "referrals"
LOCAL_KAFKA = "127.0.0.1:9092"
LOCAL_KAFKA_SECRETS = REPO_ROOT / ".local" / "secrets" / "kafka"
LOCAL_PG_ADMIN = "postgresql://cme_test:cme_test@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class Infra:
    kafka_bootstrap: str
    pg_admin_dsn: str  # a role that may create databases owned by the services' owner roles
    kafka_username: str | None = None
    kafka_password: str | None = field(default=None, repr=False)
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"

    @property
    def kafka(self) -> KafkaConnection:
        """The suite's Kafka login (the operator's on the local runtime)."""
        password = None if self.kafka_password is None else SecretStr(self.kafka_password)
        return KafkaConnection(self.kafka_bootstrap, self.kafka_username, password, self.kafka_security_protocol)

    def kafka_settings(self) -> dict[str, object]:
        """ServiceSettings fields for an app the suite runs in-process."""
        return {"kafka_bootstrap": self.kafka_bootstrap, "kafka_security_protocol": self.kafka_security_protocol,
                "kafka_username": self.kafka_username, "kafka_password": self.kafka_password}

    def kafka_env(self) -> dict[str, str]:
        """The same as CME_* environment variables, for a service the suite runs as a process."""
        env = {"CME_KAFKA_BOOTSTRAP": self.kafka_bootstrap, "CME_KAFKA_SECURITY_PROTOCOL": self.kafka_security_protocol}
        if self.kafka_username is not None and self.kafka_password is not None:
            env |= {"CME_KAFKA_USERNAME": self.kafka_username, "CME_KAFKA_PASSWORD": self.kafka_password}
        return env

    def service_url(self, service: str, database: str) -> str:
        """asyncpg URL for `database` as the service's runtime login role (its development password)."""
        return self._url(f"cme_{service}", database)

    def disposal_url(self, service: str, database: str) -> str:
        """asyncpg URL for `database` as the service's disposal role (the retention job's login)."""
        return self._url(f"cme_{service}_disposal", database)

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
        yield Infra(kafka, pg, *kafka_login())
    elif _docker_answers():
        with _containers() as infra:
            yield infra
    else:
        subprocess.run(["make", "--no-print-directory", "infra"], cwd=REPO_ROOT, check=True)
        yield Infra(LOCAL_KAFKA, LOCAL_PG_ADMIN, *kafka_login())


def kafka_login() -> tuple[str | None, str | None, SecurityProtocol]:
    """The suite's Kafka (username, password, protocol): CME_TEST_KAFKA_*, else the local operator's."""
    username = os.environ.get("CME_TEST_KAFKA_USERNAME")
    password = os.environ.get("CME_TEST_KAFKA_PASSWORD")
    protocol = os.environ.get("CME_TEST_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    if protocol not in ("PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"):
        raise ValueError(f"CME_TEST_KAFKA_SECURITY_PROTOCOL={protocol!r}")
    if protocol != "PLAINTEXT" and username is None:
        stored = LOCAL_KAFKA_SECRETS / "operator.password"
        if not stored.exists():
            raise RuntimeError(f"no Kafka login for the tests: set CME_TEST_KAFKA_USERNAME and "
                               f"CME_TEST_KAFKA_PASSWORD, or run 'make infra' (it writes {stored})")
        username, password = "operator", stored.read_text().strip()
    return username, password, protocol  # type: ignore[return-value]
