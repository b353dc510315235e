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
    handler_max_attempts: int = 4
    handler_backoff_seconds: float = 0.2

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
