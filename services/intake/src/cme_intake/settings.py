import os
from pathlib import Path

from pydantic import Field, IPvAnyNetwork, SecretStr, model_validator

from cme_shared.contracts.referrals import Borough
from cme_shared.settings import ServiceSettings

from .adapters.sealing import seal_keys
from .domain.referrals import DEFAULT_POSTCODE_DISTRICTS

# A Fernet key shipped so that `make up` works out of the box; a production start refuses it.
DEVELOPMENT_SEAL_KEY = "Y21lLWRldmVsb3BtZW50LXNlYWwta2V5LTAxMjM0NTY="
# The key of disposal tombstones' subject digests, shipped for `make up`; a production start refuses it.
DEVELOPMENT_RETENTION_DIGEST_KEY = "cme-development-retention-digest-key-0123456789"
# Where `make kafka-user ... ORG_ID=` records the local runtime's partner bindings (`.local/` is git-ignored).
DEVELOPMENT_BINDINGS_FILE = Path(".local/secrets/partners/bindings.json")


class IntakeSettings(ServiceSettings):
    service_name: str = "intake"
    http_port: int = 8001
    database_url: SecretStr = SecretStr("postgresql+asyncpg://cme_intake:cme_intake@127.0.0.1:5432/cme_intake")
    # Postcode district -> borough, for referrals that name none (CME_POSTCODE_DISTRICTS, JSON object).
    # A district not listed puts the referral on the triage list.
    postcode_districts: dict[str, Borough] = Field(default_factory=lambda: dict(DEFAULT_POSTCODE_DISTRICTS))
    # Fernet key sealing third-party details (a public referrer's contact). CME_SEAL_KEY; several,
    # comma-separated, to rotate: the first seals, any unseals (adapters/sealing.py).
    seal_key: SecretStr = SecretStr(DEVELOPMENT_SEAL_KEY)
    # HMAC key of the digests a disposed child's or carer's tombstone keeps of their identifiers, so that a later
    # subject access request still finds what was disposed of (CME_RETENTION_DIGEST_KEY; domain/retention.py).
    # The running service and the disposal job must share it; changing it orphans the digests made before.
    retention_digest_key: SecretStr = SecretStr(DEVELOPMENT_RETENTION_DIGEST_KEY)
    # POST /public/referrals (entrypoints/throttle.py): a token bucket per client (an IPv4 address or an
    # IPv6 /64), and one for all clients together (CME_PUBLIC_GLOBAL_PER_MINUTE), in this process.
    public_rate_per_minute: float = 6.0
    public_burst: int = 5
    public_rate_max_clients: int = 10_000
    public_global_per_minute: float = 60.0
    # The proxies in front of intake (CME_TRUSTED_PROXIES, a JSON list of CIDRs, e.g. ["10.0.0.0/8"]): only a
    # request whose TCP peer is one of them has its X-Forwarded-For read. Empty: the peer is the client.
    trusted_proxies: list[IPvAnyNetwork] = Field(default_factory=list)
    # Kafka partners bound to an org, with their MAC keys (adapters/partner_bindings.py):
    # CME_PARTNER_BINDINGS_FILE. Unset, development reads the local runtime's file and the other
    # environments bind nobody.
    partner_bindings_file: Path | None = None

    @model_validator(mode="after")
    def _production_names_its_partner_bindings(self) -> "IntakeSettings":
        if self.env == "production" and self.partner_bindings_file is None:
            raise ValueError("production names its partner bindings: CME_PARTNER_BINDINGS_FILE (a file with "
                             '{"partners": {}} binds nobody, on purpose)')
        return self

    def partner_bindings_path(self) -> Path | None:
        if self.partner_bindings_file is not None:
            return self.partner_bindings_file
        return DEVELOPMENT_BINDINGS_FILE if self.env == "development" else None

    @model_validator(mode="after")
    def _refuse_development_seal_key_in_production(self) -> "IntakeSettings":
        keys = seal_keys(self.seal_key.get_secret_value())
        if not keys:
            raise ValueError("CME_SEAL_KEY holds no key")
        if self.env == "production" and DEVELOPMENT_SEAL_KEY in keys:
            raise ValueError("production refuses the development seal key: set CME_SEAL_KEY")
        return self

    @model_validator(mode="after")
    def _refuse_development_digest_key_in_production(self) -> "IntakeSettings":
        key = self.retention_digest_key.get_secret_value()
        if len(key) < 32:
            raise ValueError("CME_RETENTION_DIGEST_KEY must be at least 32 characters")
        if self.env == "production" and key == DEVELOPMENT_RETENTION_DIGEST_KEY:
            raise ValueError("production refuses the development retention digest key: set CME_RETENTION_DIGEST_KEY")
        return self

    def digest_key(self) -> bytes:
        return self.retention_digest_key.get_secret_value().encode()

    @model_validator(mode="after")
    def _refuse_the_replaced_forwarded_for_switch(self) -> "IntakeSettings":
        # It trusted X-Forwarded-For from any peer; ignoring it silently would put every member of the public
        # behind the proxy into one bucket, so a start that still sets it is refused.
        if "CME_TRUST_FORWARDED_FOR" in os.environ:
            raise ValueError("CME_TRUST_FORWARDED_FOR is replaced by CME_TRUSTED_PROXIES (a JSON list of CIDRs)")
        if self.public_global_per_minute <= 0:
            raise ValueError("CME_PUBLIC_GLOBAL_PER_MINUTE must be positive")
        return self
