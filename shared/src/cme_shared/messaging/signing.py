"""Signed events between services: who wrote a record, checked against keys pinned in configuration.

Kafka's ACLs let only a topic's owning service write it, but an operator principal has every right and
a leaked service credential writes as that service (SEC-03). So every event on an internal topic is
signed by the service that wrote it, with its own Ed25519 key, when it enters the outbox; a consumer
acts on it only if the signature verifies against the public key pinned for a service allowed to write
that topic (`contracts.topics.SIGNERS`). Anything else is dead-lettered with the reason and changes
nothing: `unsigned`, `bad_signature` or `unexpected_signer`.

What is signed: the logical topic name (without a test namespace, so one key set serves every stack),
the record's key, its `event_id` header and the payload bytes, each length-prefixed after a fixed
domain tag. The topic binds the event to where it was meant to go (a rights event copied to another
topic does not verify); the key to its partition's order; the event id to the inbox, so that a genuine
event replayed under a new id does not verify, and under its own id is a duplicate. Other headers are
not signed: the kit's consumers do not act on them.

Keys: `<service>.pem` (PKCS#8 PEM, private, mode 0600) and `<service>.pub` (SubjectPublicKeyInfo PEM)
in one directory, made by `python -m cme_shared.messaging.signing generate DIR SERVICE...` at set-up.
"""

import base64
import binascii
import os
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SIGNER_HEADER = "x-cme-signer"
SIGNATURE_HEADER = "x-cme-signature"
DOMAIN = b"cme-event-signature-v1"

# Why a record's signature was refused: the reason codes of its dead letter.
UNSIGNED = "unsigned"
BAD_SIGNATURE = "bad_signature"
UNEXPECTED_SIGNER = "unexpected_signer"


class SignatureRefused(Exception):
    """A record whose writer cannot be trusted; `code` is one of the reason codes above."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def signed_message(topic: str, key: bytes | None, event_id: bytes | None, payload: bytes) -> bytes:
    """The bytes a signature covers. Every part is length-prefixed (and a missing key or event id told
    apart from an empty one), so no two different records sign the same bytes."""
    out = [DOMAIN]
    for part in (topic.encode(), key, event_id, payload):
        if part is None:
            out.append(b"\xff" * 8)
        else:
            out.append(len(part).to_bytes(8, "big") + part)
    return b"".join(out)


def load_private_key(text: str | bytes) -> Ed25519PrivateKey:
    """A PKCS#8 PEM private key, or its 32-byte seed as 64 hex characters."""
    raw = text.encode() if isinstance(text, str) else text
    if raw.lstrip().startswith(b"-----BEGIN"):
        key = serialization.load_pem_private_key(raw, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the signing key is not an Ed25519 key")
        return key
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(raw.decode().strip()))


def load_public_key(text: str | bytes) -> Ed25519PublicKey:
    """A SubjectPublicKeyInfo PEM public key, or the raw 32 bytes in base64 (for an environment variable)."""
    raw = text.encode() if isinstance(text, str) else text
    if raw.lstrip().startswith(b"-----BEGIN"):
        key = serialization.load_pem_public_key(raw)
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("a trusted signer's key is not an Ed25519 key")
        return key
    try:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(raw.strip(), validate=True))
    except (binascii.Error, ValueError):
        raise ValueError("a trusted signer's key is neither PEM nor 32 bytes of base64") from None


def private_key_pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def public_key_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def public_key_base64(key: Ed25519PublicKey) -> str:
    return base64.b64encode(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()


def logical_topic(topic: str, namespace: str) -> str:
    """A topic's contract name: tests prefix every name with a namespace, which is not signed."""
    return topic[len(namespace):] if namespace and topic.startswith(namespace) else topic


def _header(headers: Sequence[tuple[str, bytes | None]], name: str) -> tuple[int, bytes | None]:
    """How many times `name` occurs, and its value when it occurs once."""
    values = [value for header, value in headers if header == name]
    return len(values), values[0] if len(values) == 1 else None


@dataclass(frozen=True)
class Signer:
    """This service's name and private key: signs what it writes to internal topics."""

    service: str
    private_key: Ed25519PrivateKey

    def headers(self, topic: str, key: bytes | None, headers: Sequence[tuple[str, bytes | None]],
                payload: bytes) -> list[tuple[str, bytes | None]]:
        """The signature headers of a record for logical `topic` (its `event_id` header is signed too)."""
        _, event_id = _header(headers, "event_id")
        signature = self.private_key.sign(signed_message(topic, key, event_id, payload))
        return [(SIGNER_HEADER, self.service.encode()), (SIGNATURE_HEADER, base64.b64encode(signature))]


class TrustedSigners:
    """The public keys pinned for each service, from configuration (never from a database or a record)."""

    def __init__(self, keys: Mapping[str, Ed25519PublicKey]) -> None:
        self._keys = dict(keys)

    def __contains__(self, service: object) -> bool:
        return service in self._keys

    @property
    def services(self) -> list[str]:
        return sorted(self._keys)

    def verify(self, topic: str, allowed: Iterable[str], key: bytes | None,
               headers: Sequence[tuple[str, bytes | None]], payload: bytes) -> str:
        """The service that signed this record for logical `topic`, or SignatureRefused. The signer must be
        one of `allowed` and its signature must verify against the key pinned for it."""
        signers, signer = _header(headers, SIGNER_HEADER)
        signatures, signature = _header(headers, SIGNATURE_HEADER)
        if signers == 0 and signatures == 0:
            raise SignatureRefused(UNSIGNED, "the record carries no signature")
        if signers != 1 or signatures != 1 or signer is None or signature is None:
            raise SignatureRefused(BAD_SIGNATURE, "the record must carry one signer and one signature header")
        name = signer.decode("utf-8", errors="replace")
        if name not in set(allowed):
            # The name only, cut short: it is the sender's text, but never personal data of ours.
            raise SignatureRefused(UNEXPECTED_SIGNER, f"signer {name[:40]!r} may not write this topic")
        public_key = self._keys.get(name)
        if public_key is None:
            raise SignatureRefused(UNEXPECTED_SIGNER, f"no key is pinned for signer {name[:40]!r}")
        _, event_id = _header(headers, "event_id")
        try:
            public_key.verify(base64.b64decode(signature, validate=True),
                              signed_message(topic, key, event_id, payload))
        except (InvalidSignature, binascii.Error, ValueError):
            raise SignatureRefused(BAD_SIGNATURE, f"the signature does not verify with {name[:40]!r}'s key") from None
        return name

    @classmethod
    def load(cls, inline: Mapping[str, str], directory: Path | None) -> "TrustedSigners":
        """Keys from `<service>.pub` files in `directory`, then from `inline` (service -> key text), which
        wins for a service named in both."""
        keys: dict[str, Ed25519PublicKey] = {}
        if directory is not None:
            if not directory.is_dir():
                raise FileNotFoundError(f"the trusted signers directory {directory} does not exist")
            for path in sorted(directory.glob("*.pub")):
                keys[path.stem] = load_public_key(path.read_bytes())
        keys.update({service: load_public_key(text) for service, text in inline.items()})
        return cls(keys)


def generate_keys(directory: Path, services: Iterable[str]) -> list[str]:
    """`<service>.pem` and `<service>.pub` for each service that has no key yet; returns those made.
    A key that exists is kept: rotating one is a deliberate act (delete it, generate, restart all)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    made = []
    for service in services:
        private_path = directory / f"{service}.pem"
        if not private_path.exists():
            _write_new(private_path, private_key_pem(Ed25519PrivateKey.generate()))
            made.append(service)
        public = public_key_pem(load_private_key(private_path.read_bytes()).public_key())
        public_path = directory / f"{service}.pub"
        if not public_path.exists() or public_path.read_text() != public:
            _write_new(public_path, public, replace=True)
    return made


def _write_new(path: Path, text: str, *, replace: bool = False) -> None:
    """Written in full under a temporary name (mkstemp: mode 0600), then moved into place: a reader never
    sees half a key, and two set-ups racing keep one private key (link refuses to replace)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".key-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.chmod(tmp, 0o644)  # a public key
            os.replace(tmp, path)
            return
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main(argv: Sequence[str]) -> int:
    if len(argv) < 3 or argv[0] != "generate":
        print("usage: python -m cme_shared.messaging.signing generate DIR SERVICE...", file=sys.stderr)
        return 2
    made = generate_keys(Path(argv[1]), argv[2:])
    print(f"signing keys made for: {', '.join(made)}" if made else "signing keys: all present")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
