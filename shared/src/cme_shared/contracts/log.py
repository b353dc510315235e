"""disclosure -> `cme.disclosure.tree-heads.v1`: every signed tree head of the disclosure log.

Anyone may keep these and later ask the log for a consistency proof between two of them: a log that
rewrote history cannot prove consistency with a head it published before. The signature covers the
canonical encoding `signed_bytes` (see cme_disclosure.domain.tree_head), checked with the public key
named by `key_id` (GET /log/public-key on the disclosure service).
"""

from typing import Literal

from .events import Event


class TreeHeadPublished(Event):
    tree_size: int
    root_hash: str  # hex
    timestamp: int  # ms since the Unix epoch
    key_id: str  # hex SHA-256 of the key's DER SubjectPublicKeyInfo
    signature: str  # hex Ed25519 signature over signed_bytes
    signature_algorithm: Literal["Ed25519"] = "Ed25519"
    signed_bytes: str
