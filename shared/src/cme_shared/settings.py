"""Configuration common to every service, read from `CME_*` environment variables."""

from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from pydantic import SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .kafka_security import KafkaConnection, SaslMechanism, SecurityProtocol
from .messaging.signing import Signer, TrustedSigners, load_private_key

if TYPE_CHECKING:
    from .contracts.retention import RetentionSchedule

# Shipped so that `make up` works out of the box; a production start refuses it.
DEVELOPMENT_JWT_SECRET = "cme-development-secret-do-not-use-in-production-0123456789"
# Where the local runtime keeps every service's event-signing key pair (`.local/` is git-ignored).
DEVELOPMENT_SIGNING_DIR = Path(".local/secrets/signing")


class ServiceSettings(BaseSettings):
    """Each service subclasses this and sets its own name, port and database defaults."""

    model_config = SettingsConfigDict(env_prefix="CME_", extra="ignore")

    service_name: str = "cme"
    env: Literal["development", "test", "production"] = "development"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    # The service's runtime login (cme_<svc>): it owns nothing and holds only the privileges its migrations
    # grant (history tables: INSERT and SELECT).
    database_url: SecretStr = SecretStr("postgresql+asyncpg://cme:cme@127.0.0.1:5432/cme")
    # `migrate` only: the same database as its owner role (cme_<svc>_owner), which owns every table. Give it
    # to the migration step alone, never to the running service (CONTRACT 1, SEC-08).
    migration_database_url: SecretStr | None = None
    # The disposal job only (`python -m cme_<svc> dispose`, issue 14): the same database as the service's
    # third login, cme_<svc>_disposal, the one role the history tables let remove a record past retention.
    disposal_database_url: SecretStr | None = None
    # The retention schedule in force (JSON, the shape of contracts.retention.RetentionSchedule); unset:
    # the council's default (cme_shared.retention.DEFAULT_SCHEDULE, 7 years after case closure).
    retention_schedule_file: Path | None = None
    kafka_bootstrap: str = "127.0.0.1:9092"
    # The broker takes SCRAM logins only (CONTRACT section 7): each service its own principal, whose
    # credentials the local runtime generates under .local/secrets/kafka/ and production passes in the
    # environment. PLAINTEXT exists for a broker of one's own without authentication; production refuses it.
    kafka_security_protocol: SecurityProtocol = "SASL_PLAINTEXT"
    kafka_sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    kafka_username: str | None = None
    kafka_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None
    # Tests run several stacks on one broker: a namespace prefixes every topic and group id.
    topic_namespace: str = ""
    create_topics: bool = False
    # Bearer tokens (auth.py, CONTRACT section 2). Development and test: HS256 with CME_JWT_SECRET. With a
    # JWKS URL (production: the tenant's own, https only), RS256/ES256 keys from it: cached for
    # CME_JWKS_CACHE_SECONDS, fetched again when a token names a key id the set lacks (how a rotation is
    # picked up), at most once per CME_JWKS_REFRESH_COOLDOWN_SECONDS (a flood of made-up key ids is not a
    # flood of fetches); a fetch gives up after CME_JWKS_TIMEOUT_SECONDS.
    jwt_secret: SecretStr = SecretStr(DEVELOPMENT_JWT_SECRET)
    jwks_url: str | None = None
    jwks_timeout_seconds: float = 5.0
    jwks_cache_seconds: float = 300.0
    jwks_refresh_cooldown_seconds: float = 30.0
    # The identity provider's `iss` and this platform's `aud`: production requires both (a shared key set
    # also signs other tenants' and other apps' tokens, SEC-07); set elsewhere, they are checked there too.
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    # `exp - iat` at most this (a token is refused, not shortened); clocks may differ by the leeway.
    jwt_max_lifetime_seconds: int = 12 * 3600
    jwt_leeway_seconds: int = 30
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
    # uvicorn: beyond this many open connections it answers 503. Off by default: uvicorn counts idle
    # connections too, so 200 that never send a byte made every route (health checks included) answer 503.
    # Connections and slow clients are a reverse proxy's to bound (its header and body timeouts).
    http_limit_concurrency: int | None = None
    # A request body that stops arriving for this long is answered 408, and the request's task freed.
    http_body_read_timeout_seconds: float = 30.0
    # uvicorn (h11): the most a request line and its headers may take.
    http_max_header_bytes: int = 16 * 1024
    # Signed events between services (messaging/signing.py). This service's Ed25519 key: PKCS#8 PEM or 64 hex
    # characters (CME_SIGNING_KEY), or a file holding it (CME_SIGNING_KEY_FILE). The public keys of the
    # services it trusts: a JSON object of service -> PEM or base64 key (CME_TRUSTED_SIGNERS) and/or a
    # directory of `<service>.pub` files (CME_TRUSTED_SIGNERS_DIR). Unset outside production: the keys
    # the local runtime generates in DEVELOPMENT_SIGNING_DIR. Production names them all.
    signing_key: SecretStr | None = None
    signing_key_file: Path | None = None
    trusted_signers: dict[str, str] = {}
    trusted_signers_dir: Path | None = None

    @model_validator(mode="after")
    def _stall_outlasts_retries(self) -> "ServiceSettings":
        # One record's worst case: the pause after a batch that could not be settled, then the backoff
        # before each of its later attempts (ReliableConsumer).
        attempts = self.handler_max_attempts
        retries = self.handler_backoff_seconds * (2 ** attempts + 2 ** (attempts - 1) - 1)
        if self.consumer_stall_seconds <= retries:
            raise ValueError(f"CME_CONSUMER_STALL_SECONDS must exceed a record's retries ({retries:g} s)")
        return self

    @field_validator("jwt_issuer", "jwt_audience", "jwks_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # `CME_JWT_ISSUER=` (as compose files pass an unset variable) means not set, never "the empty issuer".
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _refuse_development_secret_in_production(self) -> "ServiceSettings":
        if self.env == "production":
            if self.jwks_url is None:
                raise ValueError("production needs CME_JWKS_URL: RS256 keys come from a JWKS endpoint")
            if self.jwt_secret.get_secret_value() == DEVELOPMENT_JWT_SECRET:
                raise ValueError("production refuses the development JWT secret")
            if self.kafka_security_protocol == "PLAINTEXT":
                raise ValueError("production needs CME_KAFKA_SECURITY_PROTOCOL=SASL_SSL (or SASL_PLAINTEXT)")
            if "kafka_security_protocol" not in self.model_fields_set:
                raise ValueError("production names its Kafka security explicitly: CME_KAFKA_SECURITY_PROTOCOL")
            self.kafka_connection()  # credentials present
        return self

    @model_validator(mode="after")
    def _tokens_fit_for_production(self) -> "ServiceSettings":
        if not 0 <= self.jwt_leeway_seconds <= 300:
            raise ValueError("CME_JWT_LEEWAY_SECONDS must be between 0 and 300 (a clock skew, not a lifetime)")
        if self.jwt_max_lifetime_seconds <= 0:
            raise ValueError("CME_JWT_MAX_LIFETIME_SECONDS must be positive")
        if self.jwks_timeout_seconds <= 0 or self.jwks_cache_seconds <= 0 or self.jwks_refresh_cooldown_seconds < 0:
            raise ValueError("CME_JWKS_TIMEOUT_SECONDS and CME_JWKS_CACHE_SECONDS must be positive, "
                             "CME_JWKS_REFRESH_COOLDOWN_SECONDS not negative")
        if self.jwks_url is not None and urlsplit(self.jwks_url).scheme.lower() not in ("https", "http"):
            raise ValueError("CME_JWKS_URL must be an https:// URL (http:// only outside production)")
        if self.env == "production":
            if self.jwks_url is not None and urlsplit(self.jwks_url).scheme.lower() != "https":
                raise ValueError("production needs an https:// CME_JWKS_URL (the tenant's own key set)")
            if self.jwt_issuer is None:
                raise ValueError("production needs CME_JWT_ISSUER: the identity provider's issuer (tenant)")
            if self.jwt_audience is None:
                raise ValueError("production needs CME_JWT_AUDIENCE: this platform's audience at the identity provider")
        return self

    def kafka_connection(self) -> KafkaConnection:
        """What every Kafka client of the service is built from (kafka_security.py)."""
        return KafkaConnection(self.kafka_bootstrap, self.kafka_username, self.kafka_password,
                               self.kafka_security_protocol, self.kafka_sasl_mechanism, self.kafka_ssl_cafile)

    @model_validator(mode="after")
    def _production_names_its_signing_keys(self) -> "ServiceSettings":
        if self.env == "production":
            if self.signing_key is None and self.signing_key_file is None:
                raise ValueError("production needs CME_SIGNING_KEY or CME_SIGNING_KEY_FILE to sign its events")
            if not self.trusted_signers and self.trusted_signers_dir is None:
                raise ValueError("production needs CME_TRUSTED_SIGNERS or CME_TRUSTED_SIGNERS_DIR (pinned keys)")
        return self

    def message_signer(self) -> Signer:
        """This service's signing key, read now: a missing or bad key stops the service at start."""
        if self.signing_key is not None:
            return Signer(self.service_name, load_private_key(self.signing_key.get_secret_value()))
        path = self.signing_key_file or self._development_signing_dir() / f"{self.service_name}.pem"
        if not path.exists():
            raise FileNotFoundError(f"no signing key at {path}: the local runtime makes one (make up), "
                                    "production sets CME_SIGNING_KEY_FILE")
        return Signer(self.service_name, load_private_key(path.read_bytes()))

    def pinned_signers(self) -> TrustedSigners:
        """The public keys this service trusts, from configuration only (never from a database or a record)."""
        directory = self.trusted_signers_dir
        if directory is None and not self.trusted_signers:
            directory = self._development_signing_dir()
        return TrustedSigners.load(self.trusted_signers, directory)

    def _development_signing_dir(self) -> Path:
        if self.env == "production":
            raise ValueError("production names its signing keys: CME_SIGNING_KEY_FILE, CME_TRUSTED_SIGNERS_DIR")
        return DEVELOPMENT_SIGNING_DIR.absolute()

    def migration_url(self) -> str:
        """The owner's URL, which migrations run with; there is no fallback to the runtime login, which must
        not own the tables it uses."""
        if self.migration_database_url is None:
            raise ValueError("migrations need CME_MIGRATION_DATABASE_URL: the database as its owner role "
                             "(cme_<service>_owner), not as the service's own login")
        return self.migration_database_url.get_secret_value()

    def disposal_url(self) -> str:
        """The disposal login's URL; no fallback to the runtime login, which may not remove history."""
        if self.disposal_database_url is None:
            raise ValueError("the disposal job needs CME_DISPOSAL_DATABASE_URL: the database as the service's "
                             "disposal role (cme_<service>_disposal)")
        return self.disposal_database_url.get_secret_value()

    def retention_schedule(self) -> "RetentionSchedule":
        from .retention import load_schedule

        return load_schedule(self.retention_schedule_file)

    def runtime_role(self) -> str:
        """The role the service logs in as (the user of CME_DATABASE_URL), granted its privileges by the
        migrations."""
        from sqlalchemy.engine import make_url

        username = make_url(self.database_url.get_secret_value()).username
        if not username:
            raise ValueError("CME_DATABASE_URL names no user: the migrations grant that role its privileges")
        return username

    def group_id(self, consumer: str) -> str:
        return f"{self.topic_namespace}{self.service_name}.{consumer}"

    # ---- Pruning the kit's own copies (messaging/pruning.py, SEC-18) ---------------------------------------
    # Every CME_PRUNE_INTERVAL_SECONDS (0: never), in batches of CME_PRUNE_BATCH_SIZE rows: outbox rows
    # published longer ago than CME_PRUNE_OUTBOX_PUBLISHED_DAYS (rows waiting or quarantined are never
    # pruned), and inbox rows processed longer ago than CME_PRUNE_INBOX_PROCESSED_DAYS, which must outlast
    # every redelivery Kafka can make: longer than the consumed topics' retention, plus a day.
    prune_interval_seconds: float = 3600.0
    prune_batch_size: int = 1000
    prune_outbox_published_days: float = 7.0
    prune_inbox_processed_days: float = 30.0

    @model_validator(mode="after")
    def _inbox_outlives_redelivery(self) -> "ServiceSettings":
        from .messaging.pruning import MIN_INBOX_DAYS, TOPIC_RETENTION_DAYS

        if self.prune_interval_seconds < 0 or self.prune_batch_size < 1 or self.prune_outbox_published_days <= 0:
            raise ValueError("CME_PRUNE_INTERVAL_SECONDS must not be negative, CME_PRUNE_BATCH_SIZE and "
                             "CME_PRUNE_OUTBOX_PUBLISHED_DAYS must be positive")
        if self.prune_inbox_processed_days < MIN_INBOX_DAYS:
            raise ValueError(f"CME_PRUNE_INBOX_PROCESSED_DAYS must be at least {MIN_INBOX_DAYS}: the topics keep "
                             f"records {TOPIC_RETENTION_DAYS} days, and a message Kafka delivers again must "
                             "still be in the inbox")
        return self

    # ---- Traces (tracing.py, issue 17) -----------------------------------------------------------------
    # Off unless one of these is set (or the standard OTEL_EXPORTER_OTLP_ENDPOINT): a collector's OTLP/HTTP
    # base URL (`http://collector:4318`), and/or a file of one JSON span per line for a local run
    # (`.local/traces/{service}.jsonl`, `{service}` replaced by the service's name).
    otel_exporter_otlp_endpoint: str | None = None
    traces_file: str | None = None

    @field_validator("otel_exporter_otlp_endpoint", "traces_file", mode="before")
    @classmethod
    def _blank_trace_setting_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value
