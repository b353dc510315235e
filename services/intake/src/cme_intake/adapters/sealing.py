"""Sealing third-party details at rest (Fernet: AES-128-CBC with HMAC-SHA256, from `cryptography`).

A sealed value is unreadable without the service's key, so a copy of the database or a careless query
does not expose a member of the public who referred a child.
"""

import json
from typing import Any

from cryptography.fernet import Fernet


class Seal:
    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key)

    def seal(self, value: dict[str, Any]) -> bytes:
        return self._fernet.encrypt(json.dumps(value, sort_keys=True).encode())

    def unseal(self, sealed: bytes) -> dict[str, Any]:
        return json.loads(self._fernet.decrypt(sealed))
