from pathlib import Path

from pydantic import Field, SecretStr, model_validator

from cme_shared.contracts.referrals import Borough
from cme_shared.settings import ServiceSettings

from .domain.referrals import DEFAULT_POSTCODE_DISTRICTS

# A Fernet key shipped so that `make up` works out of the box; a production start refuses it.
DEVELOPMENT_SEAL_KEY = "Y21lLWRldmVsb3BtZW50LXNlYWwta2V5LTAxMjM0NTY="
# Where `make kafka-user ... ORG_ID=` records the local runtime's partner bindings (`.local/` is git-ignored).
DEVELOPMENT_BINDINGS_FILE = Path(".local/secrets/partners/bindings.json")


class IntakeSettings(ServiceSettings):
    service_name: str = "intake"
    http_port: int = 8001
    database_url: SecretStr = SecretStr("postgresql+asyncpg://cme_intake:cme_intake@127.0.0.1:5432/cme_intake")
    # Postcode district -> borough, for referrals that name none (CME_POSTCODE_DISTRICTS, JSON object).
    # A district not listed puts the referral on the triage list.
    postcode_districts: dict[str, Borough] = Field(default_factory=lambda: dict(DEFAULT_POSTCODE_DISTRICTS))
    # Fernet key sealing third-party details (a public referrer's contact). CME_SEAL_KEY.
    seal_key: SecretStr = SecretStr(DEVELOPMENT_SEAL_KEY)
    # POST /public/referrals: a token bucket per client IP, in this process.
    public_rate_per_minute: float = 6.0
    public_burst: int = 5
    public_rate_max_clients: int = 10_000
    # Take the client IP from X-Forwarded-For (only behind a proxy that sets it).
    trust_forwarded_for: bool = False
    # Kafka partners bound to an org, with their MAC keys (adapters/partner_bindings.py):
    # CME_PARTNER_BINDINGS_FILE. Unset, development reads the local runtime's file and the other
    # environments bind nobody.
    partner_bindings_file: Path | None = None

    def partner_bindings_path(self) -> Path | None:
        if self.partner_bindings_file is not None:
            return self.partner_bindings_file
        return DEVELOPMENT_BINDINGS_FILE if self.env == "development" else None

    @model_validator(mode="after")
    def _refuse_development_seal_key_in_production(self) -> "IntakeSettings":
        if self.env == "production" and self.seal_key.get_secret_value() == DEVELOPMENT_SEAL_KEY:
            raise ValueError("production refuses the development seal key: set CME_SEAL_KEY")
        return self
