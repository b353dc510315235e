import os
import tempfile
from pathlib import Path

from pydantic import SecretStr, model_validator

from cme_shared.settings import ServiceSettings

# Where a development signing key is kept when none is configured: a file beside the other local
# secrets (`.local/` is git-ignored), never the log's own database, so that whoever can write the
# database cannot also re-sign a rewritten log.
DEVELOPMENT_SIGNING_KEY_FILE = Path(".local/secrets/disclosure-log-ed25519.pem")


class DisclosureSettings(ServiceSettings):
    service_name: str = "disclosure"
    http_port: int = 8003
    database_url: SecretStr = SecretStr("postgresql+asyncpg://cme_disclosure:cme_disclosure@127.0.0.1:5432/cme_disclosure")
    # Ed25519 key that signs tree heads: PKCS#8 PEM or 64 hex characters (CME_LOG_SIGNING_KEY), or a
    # file holding either (CME_LOG_SIGNING_KEY_FILE; unset: DEVELOPMENT_SIGNING_KEY_FILE from the
    # working directory). Outside production a missing file is created (mode 0600) on first start.
    log_signing_key: SecretStr | None = None
    log_signing_key_file: Path | None = None
    # The keys verify-log and `/log/public-key` trust, pinned here and never read from the database
    # being checked: one or more PEM public keys, the current key first, then any earlier keys (for
    # heads signed before a rotation) (CME_LOG_PUBLIC_KEY, or a file of them: CME_LOG_PUBLIC_KEY_FILE).
    # Unset: the public half of the signing key alone.
    log_public_key: str | None = None
    log_public_key_file: Path | None = None
    # The C2SP checkpoint origin (and note key name) of this log: one line, no spaces or '+'.
    log_origin: str = "cme.localhost/disclosure-log"
    # The outside witness (C2SP tlog-witness, e.g. litewitness): where to submit each new checkpoint
    # (CME_LOG_WITNESS_URL), and its verifier key (CME_LOG_WITNESS_KEY, "name+keyid+base64"). With a
    # witness key set, verify-log requires the witness's cosignature on the checkpoints.
    log_witness_url: str | None = None
    log_witness_key: str | None = None
    log_witness_timeout_seconds: float = 5.0
    # The disclosure policy table (recipient type x purpose); unset: the shipped default.
    disclosure_policy_file: Path | None = None
    # The latest review date a withholding from access requests may set, in days from today: a
    # withholding is never blanket (DOMAIN 4), so it must come back for review.
    withholding_max_days: int = 365
    # Disclosure requests one person may record in an hour (SEC-29): each is a permanent leaf of the log.
    disclosure_requests_per_hour: int = 60

    @model_validator(mode="after")
    def _production_needs_a_signing_key(self) -> "DisclosureSettings":
        if self.env == "production" and self.log_signing_key is None and self.log_signing_key_file is None:
            raise ValueError("production needs CME_LOG_SIGNING_KEY or CME_LOG_SIGNING_KEY_FILE to sign tree heads")
        if self.log_witness_url and not self.log_witness_key:
            raise ValueError("CME_LOG_WITNESS_URL needs CME_LOG_WITNESS_KEY, the witness's verifier key")
        if self.withholding_max_days < 1:
            raise ValueError("CME_WITHHOLDING_MAX_DAYS must be at least 1")
        if self.disclosure_requests_per_hour < 1:
            raise ValueError("CME_DISCLOSURE_REQUESTS_PER_HOUR must be at least 1")
        return self

    def signing_key_path(self) -> Path:
        return (self.log_signing_key_file or DEVELOPMENT_SIGNING_KEY_FILE).absolute()

    def log_key(self) -> str:
        """The tree-head signing key (PEM or hex). Outside production, a key file that does not exist
        yet is created with a new key, readable by its owner only."""
        configured = self.log_signing_key.get_secret_value() if self.log_signing_key is not None else None
        if configured is not None:
            return configured
        path = self.signing_key_path()
        if not path.exists():
            if self.env == "production":
                raise FileNotFoundError(f"CME_LOG_SIGNING_KEY_FILE {path} does not exist")
            create_key_file(path)
        return path.read_text()


    def pinned_public_keys(self) -> list[str]:
        """The PEM public keys verification trusts, the current one first (see log_public_key)."""
        from .domain.tree_head import load_private_key, public_key_pem

        if self.log_public_key is not None:
            text = self.log_public_key
        elif self.log_public_key_file is not None:
            text = self.log_public_key_file.read_text()
        else:
            return [public_key_pem(load_private_key(self.log_key()).public_key())]
        pems = [f"-----BEGIN PUBLIC KEY-----{block}" for block in text.split("-----BEGIN PUBLIC KEY-----")[1:]]
        if not pems:
            raise ValueError("CME_LOG_PUBLIC_KEY(_FILE) holds no PEM public key")
        return pems


def create_key_file(path: Path) -> None:
    """Write a new Ed25519 key to `path` (mode 0600), unless another process got there first."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from .domain.tree_head import private_key_pem

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = private_key_pem(Ed25519PrivateKey.generate())
    # Written in full under a temporary name (mkstemp: mode 0600), then linked into place: a reader
    # never sees half a key, and two first starts racing keep one key (link refuses to replace).
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".signing-key-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)
