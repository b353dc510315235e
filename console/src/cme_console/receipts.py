"""A share's receipt, checked in the console: its leaf is in the disclosure log the log signed. Pure: no I/O.

- The checkpoint (c2sp.org/tlog-checkpoint, a c2sp.org/signed-note) is verified with the log's published
  Ed25519 verifier key (`GET /log/public-key` -> `note_verifier_key`, or the one the console pins).
- The leaf's inclusion proof (RFC 9162 section 2.1.3.2, the verifier's bit-walking algorithm) must lead
  from SHA-256(0x00 || leaf bytes) to the checkpoint's root hash at the checkpoint's size.

Written from the specifications, not from the disclosure service's code: a second implementation is what
makes the check worth having.
"""

import base64
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ED25519 = 0x01
DASH = "\u2014"


class ReceiptInvalid(ValueError):
    """What did not check out, in words for the page (no personal data: hashes, sizes and key names)."""


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion(leaf: bytes, leaf_index: int, tree_size: int, proof: list[bytes]) -> bytes:
    """RFC 9162 2.1.3.2: the root the proof leads to from this leaf; raises when the proof cannot be one."""
    if not 0 <= leaf_index < tree_size:
        raise ReceiptInvalid("the leaf index is not inside the tree")
    fn, sn, r = leaf_index, tree_size - 1, leaf_hash(leaf)
    for p in proof:
        if sn == 0:
            raise ReceiptInvalid("the inclusion proof is longer than the tree allows")
        if fn & 1 or fn == sn:
            r = _node(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ReceiptInvalid("the inclusion proof is shorter than the tree needs")
    return r


@dataclass(frozen=True)
class VerifierKey:
    name: str
    key_id: bytes
    public_key: Ed25519PublicKey

    @classmethod
    def parse(cls, text: str) -> "VerifierKey":
        """`<name>+<key id hex>+<base64(0x01 || public key)>` (c2sp.org/signed-note)."""
        try:
            name, key_id_hex, encoded = text.strip().split("+", 2)  # base64 may hold "+"
            raw = base64.b64decode(encoded, validate=True)
            key_id = bytes.fromhex(key_id_hex)
        except ValueError:
            raise ReceiptInvalid("the log's verifier key is not a signed-note key") from None
        if len(raw) != 33 or raw[0] != ED25519 or len(key_id) != 4:
            raise ReceiptInvalid("the log's verifier key is not an Ed25519 signed-note key")
        if hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4] != key_id:
            raise ReceiptInvalid("the log's verifier key id does not match its key")
        return cls(name, key_id, Ed25519PublicKey.from_public_bytes(raw[1:]))


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    tree_size: int
    root_hash: bytes
    cosigned_by: tuple[str, ...]  # the other signers' key names (the outside witness), not verified here


def verified_checkpoint(note: str, key: VerifierKey) -> Checkpoint:
    """The checkpoint's origin, size and root once the log's signature over its text verifies."""
    text, sep, signatures = note.partition("\n\n")
    if not sep:
        raise ReceiptInvalid("the checkpoint is not a signed note")
    text += "\n"
    lines = text.splitlines()
    if len(lines) < 3:
        raise ReceiptInvalid("the checkpoint has no origin, size and root hash")
    ours, others = False, []
    for line in signatures.splitlines():
        dash, _, rest = line.partition(" ")
        name, _, encoded = rest.partition(" ")
        if dash != DASH or not encoded:
            raise ReceiptInvalid("a checkpoint signature line is malformed")
        blob = base64.b64decode(encoded)
        if name == key.name and blob[:4] == key.key_id:
            try:
                key.public_key.verify(blob[4:], text.encode())
            except InvalidSignature:
                raise ReceiptInvalid("the log's signature on the checkpoint does not verify") from None
            ours = True
        else:
            others.append(name)
    if not ours:
        raise ReceiptInvalid("the checkpoint carries no signature by the log's published key")
    try:
        return Checkpoint(lines[0], int(lines[1]), base64.b64decode(lines[2], validate=True), tuple(others))
    except ValueError:
        raise ReceiptInvalid("the checkpoint's size or root hash is malformed") from None


@dataclass(frozen=True)
class Receipt:
    leaf_index: int
    kind: str
    leaf_hash: str
    checkpoint: Checkpoint


def verify_receipt(*, leaf: bytes, leaf_index: int, kind: str, proof: list[str], checkpoint: Checkpoint) -> Receipt:
    """The leaf is in the signed tree: its proof leads to the checkpoint's root."""
    root = root_from_inclusion(leaf, leaf_index, checkpoint.tree_size, [bytes.fromhex(p) for p in proof])
    if root != checkpoint.root_hash:
        raise ReceiptInvalid("the inclusion proof does not lead to the signed root hash")
    return Receipt(leaf_index, kind, leaf_hash(leaf).hex(), checkpoint)
