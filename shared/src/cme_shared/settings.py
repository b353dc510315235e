"""Configuration common to every service, read from `CME_*` environment variables."""

from typing import Literal

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Shipped so that `make up` works out of the box; a production start refuses it.
DEVELOPMENT_JWT_SECRET = "cme-development-secret-do-not-use-in-production-0123456789"


class ServiceSettings(BaseSettings):
    """Each service subclasses this and sets its own name, port and database defaults."""

    model_config = SettingsConfigDict(env_prefix="CME_", extra="ignore")

    service_name: str = "cme"
    env: Literal["development", "test", "production"] = "development"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    database_url: SecretStr = SecretStr("postgresql+asyncpg://cme:cme@127.0.0.1:5432/cme")
    kafka_bootstrap: str = "127.0.0.1:9092"
    # Tests run several stacks on one broker: a namespace prefixes every topic and group id.
    topic_namespace: str = ""
    create_topics: bool = False
    jwt_secret: SecretStr = SecretStr(DEVELOPMENT_JWT_SECRET)
    jwks_url: str | None = None
    jwt_audience: str | None = None
    log_level: str = "INFO"
    outbox_poll_seconds: float = 0.2
    outbox_batch_size: int = 500
    # The largest record the relay sends (key, value, headers and batch overhead, as the producer counts
    # it; also the producer's max_request_size). Keep it at or under the broker's message.max.bytes and
    # the topics' max.message.bytes: Kafka's default 1,048,588, which deploy/bin/kafka.sh and
    # docker-compose.yml leave as it is. A larger row is quarantined, never sent.
    outbox_max_record_bytes: int = 1_048_576
    # The same for dead letters, whose DLQ topics are created to take twice that (a dead letter is a record
    # that was itself up to Kafka's limit, plus the reasons): contracts.topics.DLQ_MAX_MESSAGE_BYTES.
    outbox_max_dead_letter_bytes: int = 2 * 1024 * 1024 + 65_536
    # Sends of one row the broker may refuse (the row's own fault) before it is quarantined.
    outbox_send_attempts: int = 3
    # /readyz fails when the oldest row waiting to be sent is older than this, or sends have failed as long.
    outbox_stuck_seconds: float = 60.0
    handler_max_attempts: int = 4
    handler_backoff_seconds: float = 0.2
    # A consumer with records waiting on a partition whose settled offset has not moved this long is
    # reported unhealthy (/readyz, log, metric). It must outlast one record's bounded retries (checked).
    consumer_stall_seconds: float = 60.0
    # The HTTP edge (SEC-10). A body over the limit is answered 413 before it is read: 128 KiB takes the
    # longest ordinary body (two 10,000-character texts, even written as \uXXXX escapes). A service sets
    # larger limits by path prefix (intake's referrals); CME_HTTP_BODY_LIMITS, a JSON object of path
    # prefix -> bytes, overrides those.
    http_max_body_bytes: int = 128 * 1024
    http_body_limits: dict[str, int] = {}
    # uvicorn: beyond this many connections and requests at once it answers 503 instead of queueing.
    http_limit_concurrency: int = 200
    # uvicorn (h11): the most a request line and its headers may take.
    http_max_header_bytes: int = 16 * 1024

    @model_validator(mode="after")
    def _stall_outlasts_retries(self) -> "ServiceSettings":
        # One record's worst case: the pause after a batch that could not be settled, then the backoff
        # before each of its later attempts (ReliableConsumer).
        attempts = self.handler_max_attempts
        retries = self.handler_backoff_seconds * (2 ** attempts + 2 ** (attempts - 1) - 1)
        if self.consumer_stall_seconds <= retries:
            raise ValueError(f"CME_CONSUMER_STALL_SECONDS must exceed a record's retries ({retries:g} s)")
        return self

    @model_validator(mode="after")
    def _refuse_development_secret_in_production(self) -> "ServiceSettings":
        if self.env == "production":
            if self.jwks_url is None:
                raise ValueError("production needs CME_JWKS_URL: RS256 keys come from a JWKS endpoint")
            if self.jwt_secret.get_secret_value() == DEVELOPMENT_JWT_SECRET:
                raise ValueError("production refuses the development JWT secret")
        return self

    def group_id(self, consumer: str) -> str:
        return f"{self.topic_namespace}{self.service_name}.{consumer}"
