"""Signed tree heads: the canonical encoding, Ed25519 signing and verification. Pure: no I/O.

Canonical encoding (what the signature covers), version 1:

    UTF-8 JSON of exactly {"key_id", "root_hash", "timestamp", "tree_size"}, keys sorted, no
    whitespace (separators "," and ":"), `root_hash` lower-case hex, `timestamp` integer
    milliseconds since the Unix epoch (UTC), `tree_size` integer, `key_id` lower-case hex.

    e.g. {"key_id":"9f2c...","root_hash":"5dc9...","timestamp":1767225600000,"tree_size":8}

`key_id` is the SHA-256 (hex) of the signing key's DER SubjectPublicKeyInfo, as RFC 6962 section 3.2
names a log by its key: a verifier picks the public key by it, which makes key rotation explicit.
"""

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ENCODING = 'json-sorted-compact-v1: {"key_id","root_hash","timestamp","tree_size"}'
SIGNATURE_ALGORITHM = "Ed25519"


def key_id(public_key: Ed25519PublicKey) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def public_key_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public_key(pem: str | bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def load_private_key(text: str) -> Ed25519PrivateKey:
    """A PKCS#8 PEM, or the 32-byte raw private key as 64 hex characters."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the configured log signing key is not an Ed25519 key")
        return key
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise ValueError("the log signing key must be PKCS#8 PEM or 64 hex characters") from None
    if len(raw) != 32:
        raise ValueError("a raw Ed25519 private key is 32 bytes (64 hex characters)")
    return Ed25519PrivateKey.from_private_bytes(raw)


def private_key_pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@dataclass(frozen=True)
class TreeHead:
    tree_size: int
    root_hash: bytes
    timestamp: int  # ms since the epoch
    key_id: str

    def canonical(self) -> bytes:
        body = {"key_id": self.key_id, "root_hash": self.root_hash.hex(), "timestamp": self.timestamp,
                "tree_size": self.tree_size}
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class SignedTreeHead:
    head: TreeHead
    signature: bytes

    def as_json(self) -> dict[str, Any]:
        return {
            "tree_size": self.head.tree_size,
            "root_hash": self.head.root_hash.hex(),
            "timestamp": self.head.timestamp,
            "key_id": self.head.key_id,
            "signature": self.signature.hex(),
            "signature_algorithm": SIGNATURE_ALGORITHM,
            "encoding": ENCODING,
            "signed_bytes": self.head.canonical().decode(),
        }

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> "SignedTreeHead":
        head = TreeHead(int(body["tree_size"]), bytes.fromhex(body["root_hash"]), int(body["timestamp"]),
                        str(body["key_id"]))
        return cls(head, bytes.fromhex(body["signature"]))


def sign(key: Ed25519PrivateKey, head: TreeHead) -> SignedTreeHead:
    if head.key_id != key_id(key.public_key()):
        raise ValueError("tree head names a different key")
    return SignedTreeHead(head, key.sign(head.canonical()))


def verify(public_key: Ed25519PublicKey, sth: SignedTreeHead) -> bool:
    if sth.head.key_id != key_id(public_key):
        return False
    try:
        public_key.verify(sth.signature, sth.head.canonical())
        return True
    except InvalidSignature:
        return False
