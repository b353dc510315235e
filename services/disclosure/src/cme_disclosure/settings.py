from pathlib import Path

from pydantic import SecretStr, model_validator

from cme_shared.settings import ServiceSettings


class DisclosureSettings(ServiceSettings):
    service_name: str = "disclosure"
    http_port: int = 8003
    database_url: SecretStr = SecretStr("postgresql+asyncpg://cme_disclosure:cme_disclosure@127.0.0.1:5432/cme_disclosure")
    # Ed25519 key that signs tree heads: PKCS#8 PEM or 64 hex characters (CME_LOG_SIGNING_KEY), or a
    # file holding either (CME_LOG_SIGNING_KEY_FILE). Unset outside production: a development key is
    # generated once and kept in the service's own database.
    log_signing_key: SecretStr | None = None
    log_signing_key_file: Path | None = None
    # The disclosure policy table (recipient type x purpose); unset: the shipped default.
    disclosure_policy_file: Path | None = None

    @model_validator(mode="after")
    def _production_needs_a_signing_key(self) -> "DisclosureSettings":
        if self.env == "production" and self.log_signing_key is None and self.log_signing_key_file is None:
            raise ValueError("production needs CME_LOG_SIGNING_KEY or CME_LOG_SIGNING_KEY_FILE to sign tree heads")
        return self

    def configured_signing_key(self) -> str | None:
        if self.log_signing_key is not None:
            return self.log_signing_key.get_secret_value()
        if self.log_signing_key_file is not None:
            return self.log_signing_key_file.read_text()
        return None
