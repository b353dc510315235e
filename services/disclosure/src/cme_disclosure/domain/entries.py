"""What a log leaf says, and the personal-data payload it commits to. Pure.

A leaf is canonical JSON (sorted keys, no whitespace) of facts that are not personal data (kind,
record id, time, recipient type, purpose, categories, outcome) plus `payload_sha256`, the digest of
the payload: canonical JSON of the full record (subjects, names, reasons, references) with a random
`nonce`, so the digest cannot be confirmed by guessing a subject id. The payload lives in a
purgeable table; after a purge the leaf and the tree still verify, and nothing personal remains.
"""

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

LEAF_VERSION = 1


class LeafKind(StrEnum):
    REQUESTED = "disclosure_requested"
    DECIDED = "disclosure_decided"  # approve or refuse, by a person or by the policy
    SHARED = "disclosure_shared"
    SHARE_MADE = "share_made"  # a share another service made and reported (ShareMade)
    WITHHELD_FROM_SAR = "withheld_from_sar"
    PURGED = "payloads_purged"  # retention: which leaves' payloads were purged (verify-log needs one per purge)
    DISPOSED = "records_disposed"  # another service disposed of records (RecordsDisposed): ids, codes, dates


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


@dataclass(frozen=True)
class Entry:
    """One leaf and its payload, ready to append."""

    leaf: bytes
    payload: bytes
    kind: LeafKind


def entry(kind: LeafKind, record_id: str, recorded_at: datetime, facts: dict[str, Any],
          personal: dict[str, Any]) -> Entry:
    payload = canonical_json({"nonce": secrets.token_hex(16), "record_id": record_id, **personal})
    leaf = canonical_json({
        "v": LEAF_VERSION,
        "kind": kind.value,
        "record_id": record_id,
        "recorded_at": recorded_at.isoformat(),
        "facts": facts,
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
    })
    return Entry(leaf, payload, kind)


def parse_leaf(leaf: bytes) -> dict[str, Any] | None:
    """A leaf's JSON, or None when the leaf is not one of ours."""
    try:
        value = json.loads(leaf)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def payload_digest(leaf: bytes) -> str | None:
    """The payload digest a leaf commits to, or None when the leaf is not one of ours."""
    try:
        value = json.loads(leaf)
    except (ValueError, UnicodeDecodeError):
        return None
    digest = value.get("payload_sha256") if isinstance(value, dict) else None
    return digest if isinstance(digest, str) else None
