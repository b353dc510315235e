"""Sealing third-party details at rest (Fernet: AES-128-CBC with HMAC-SHA256, from `cryptography`).

A sealed value is unreadable without the service's key, so a copy of the database, of the outbox or of a
topic does not expose a member of the public who referred a child. Nothing unseals into a message: only
the DPO's audited action inside intake opens a sealed detail (`unseal_third_party`, in
service_layer/subject_rights.py).

`CME_SEAL_KEY` may list several keys, comma-separated (MultiFernet): the first seals, any of them unseals,
so a key is rotated by putting the new one first and dropping the old one once nothing sealed with it is
still needed.
"""

import json
from typing import Any

from cryptography.fernet import Fernet, MultiFernet

# Says on a dead letter that its value is the sealed bytes (a Fernet token under intake's seal key).
SEALED_HEADER = "x-cme-sealed"
SEALED_HEADER_VALUE = b"fernet; key=CME_SEAL_KEY"


def seal_keys(configured: str) -> list[str]:
    return [key.strip() for key in configured.split(",") if key.strip()]


class Seal:
    def __init__(self, key: str) -> None:
        self._fernet = MultiFernet([Fernet(k) for k in seal_keys(key)])

    def seal(self, value: dict[str, Any]) -> bytes:
        return self._fernet.encrypt(json.dumps(value, sort_keys=True).encode())

    def unseal(self, sealed: bytes) -> dict[str, Any]:
        return json.loads(self._fernet.decrypt(sealed))

    def seal_bytes(self, raw: bytes) -> bytes:
        return self._fernet.encrypt(raw)

    def unseal_bytes(self, sealed: bytes) -> bytes:
        return self._fernet.decrypt(sealed)
