"""Event-signing keys for tests: one key pair per service, made once per test process.

In-process apps get them through `service_settings`, service processes through files (`write`); a test
that plays another service signs what it sends with `signed_headers`, and one that forges an event signs
with `FORGER`, whose key nobody pins.
"""

import json
import uuid
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..contracts.topics import SIGNERS
from ..messaging.signing import Signer, generate_keys, private_key_pem, public_key_base64

SERVICES = sorted({service for signers in SIGNERS.values() for service in signers})


class TestKeys:
    """The platform's signing keys in a test: every service's, generated in memory."""

    def __init__(self) -> None:
        self.private = {service: Ed25519PrivateKey.generate() for service in SERVICES}

    def signer(self, service: str) -> Signer:
        return Signer(service, self.private[service])

    def settings_for(self, service: str) -> dict[str, object]:
        """ServiceSettings fields: the service's own private key and every service's public key."""
        return {"signing_key": private_key_pem(self.private[service]),
                "trusted_signers": {name: public_key_base64(key.public_key()) for name, key in self.private.items()}}

    def env_for(self, service: str) -> dict[str, str]:
        """The same as CME_* environment variables, for a service a test runs as a process."""
        fields = self.settings_for(service)
        return {"CME_SIGNING_KEY": str(fields["signing_key"]), "CME_TRUSTED_SIGNERS": json.dumps(fields["trusted_signers"])}

    def write(self, directory: Path) -> Path:
        """`<service>.pem` and `<service>.pub` for every service, as the local runtime keeps them."""
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        for service, key in self.private.items():
            path = directory / f"{service}.pem"
            if not path.exists():
                path.write_text(private_key_pem(key))
                path.chmod(0o600)
        generate_keys(directory, SERVICES)  # the public halves
        return directory


TEST_KEYS = TestKeys()
# A well-formed key that no service pins: what a forger with broker access but no service's key signs with.
FORGER = Signer("rights", Ed25519PrivateKey.generate())


def writer_of(topic: str) -> str:
    """The service that writes contract `topic` (the first, for share events, which two services write)."""
    return sorted(SIGNERS[topic])[0]


def signed_headers(topic: str, value: bytes, key: bytes | None, headers: list[tuple[str, bytes | None]] | None = None,
                   signer: str | Signer | None = None) -> list[tuple[str, bytes | None]]:
    """`headers` plus a signature for a record on contract `topic` (no namespace), as `signer` (by default
    the topic's writer) would write it."""
    signer = signer or writer_of(topic)
    chosen = TEST_KEYS.signer(signer) if isinstance(signer, str) else signer
    base = list(headers or [])
    return [*base, *chosen.headers(topic, key, base, value)]


def forgeries(topic: str, value: bytes, key: bytes | None,
              event_id: bytes | None = None) -> list[tuple[list[tuple[str, bytes | None]], str]]:
    """What someone with broker access but no rightful key can write on contract `topic`, each with the reason
    code its dead letter must carry: no signature, a key nobody pinned claiming the rightful writer, a real
    key of a service that may not write the topic, and the rightful writer's signature of other bytes."""
    def base() -> list[tuple[str, bytes | None]]:
        return [("event_id", event_id or str(uuid.uuid4()).encode())]

    rightful = sorted(SIGNERS[topic])
    impostor = next(service for service in ("casework", "intake", "disclosure", "rights") if service not in rightful)
    forger = Signer(rightful[0], FORGER.private_key)
    lifted = signed_headers(topic, value + b" ", key, base())  # signed over other bytes
    return [
        (base(), "unsigned"),
        (signed_headers(topic, value, key, base(), signer=forger), "bad_signature"),
        (signed_headers(topic, value, key, base(), signer=impostor), "unexpected_signer"),
        (lifted, "bad_signature"),
    ]
