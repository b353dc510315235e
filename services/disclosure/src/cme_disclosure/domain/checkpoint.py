"""Tree heads as C2SP signed notes, so that off-the-shelf verifiers and witnesses can check them. Pure.

- c2sp.org/tlog-checkpoint: the note text is the origin line, the tree size in decimal and the
  base64 root hash, each ending in a newline (no extension lines here).
- c2sp.org/signed-note: the text, a blank line, then one line per signature,
  "— <key name> <base64(key id || signature)>". An Ed25519 key's id is the first 4 bytes of
  SHA-256(name || 0x0A || 0x01 || public key); the verifier key string is
  "<name>+<key id hex>+<base64(0x01 || public key)>". The log signs with its key name = the origin.
- c2sp.org/tlog-cosignature: a witness signs "cosignature/v1\\ntime <unix seconds>\\n" + the note
  text; its signature is base64(key id || 8-byte big-endian time || Ed25519 signature), the key id
  taken over 0x04 || public key.

Written from the specifications; tests check it against litewitness and golang.org/x/mod/sumdb/note.
"""

import base64
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALG_ED25519 = 0x01
ALG_COSIGNATURE_V1 = 0x04
DASH = "\u2014"  # the em dash that starts every signature line


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def note_key_id(name: str, alg: int, public_key: Ed25519PublicKey) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + _raw(public_key)).digest()[:4]


def _check_name(name: str) -> None:
    if not name or "+" in name or any(c.isspace() for c in name):
        raise ValueError("a note key name is non-empty, without spaces or '+'")


def verifier_key(name: str, public_key: Ed25519PublicKey, alg: int = ALG_ED25519) -> str:
    """The signed-note verifier key string (what a witness is configured with)."""
    _check_name(name)
    key = bytes([alg]) + _raw(public_key)
    return f"{name}+{note_key_id(name, alg, public_key).hex()}+{base64.b64encode(key).decode()}"


@dataclass(frozen=True)
class NoteKey:
    name: str
    alg: int
    public_key: Ed25519PublicKey

    @property
    def key_id(self) -> bytes:
        return note_key_id(self.name, self.alg, self.public_key)


def parse_verifier_key(text: str) -> NoteKey:
    """A verifier key string: an Ed25519 note key (0x01) or a tlog-cosignature/v1 key (0x04)."""
    try:
        name, id_hex, key_b64 = text.strip().split("+", 2)
        key = base64.b64decode(key_b64, validate=True)
        alg, raw = key[0], key[1:]
        public_key = Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, IndexError):
        raise ValueError("not a signed-note verifier key (name+keyid+base64)") from None
    _check_name(name)
    if alg not in (ALG_ED25519, ALG_COSIGNATURE_V1):
        raise ValueError("only Ed25519 note keys and tlog-cosignature/v1 keys are supported")
    parsed = NoteKey(name, alg, public_key)
    if parsed.key_id.hex() != id_hex.lower():
        raise ValueError("the verifier key's id does not match its name and key")
    return parsed


def checkpoint_text(origin: str, tree_size: int, root_hash: bytes) -> str:
    if "\n" in origin or not origin:
        raise ValueError("an origin is one non-empty line")
    return f"{origin}\n{tree_size}\n{base64.b64encode(root_hash).decode()}\n"


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    tree_size: int
    root_hash: bytes

    @classmethod
    def parse(cls, text: str) -> "Checkpoint":
        lines = text.split("\n")
        if len(lines) != 4 or lines[3] != "" or not lines[1].isdigit() or str(int(lines[1])) != lines[1]:
            raise ValueError("not a checkpoint: origin, size and root hash lines")
        root = base64.b64decode(lines[2], validate=True)
        if len(root) != 32:
            raise ValueError("a checkpoint's root hash is 32 bytes")
        return cls(lines[0], int(lines[1]), root)

    def text(self) -> str:
        return checkpoint_text(self.origin, self.tree_size, self.root_hash)


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: bytes
    signature: bytes  # after the key id: Ed25519 (64 bytes), or time (8) + Ed25519 for a cosignature

    def line(self) -> str:
        return f"{DASH} {self.name} {base64.b64encode(self.key_id + self.signature).decode()}\n"


def signature_line(line: str) -> NoteSignature:
    body = line.rstrip("\n")
    prefix, _, rest = body.partition(" ")
    name, _, encoded = rest.partition(" ")
    if prefix != DASH or not name or not encoded:
        raise ValueError("not a signature line")
    raw = base64.b64decode(encoded, validate=True)
    if len(raw) < 5:
        raise ValueError("a signature line carries a key id and a signature")
    return NoteSignature(name, raw[:4], raw[4:])


@dataclass(frozen=True)
class SignedNote:
    text: str
    signatures: tuple[NoteSignature, ...]

    @classmethod
    def parse(cls, note: str) -> "SignedNote":
        text, sep, sigs = note.rpartition("\n\n")
        if not sep or not sigs.endswith("\n"):
            raise ValueError("a signed note is text, a blank line and signature lines")
        return cls(text + "\n", tuple(signature_line(line) for line in sigs[:-1].split("\n")))

    def render(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)

    def with_signatures(self, lines: str) -> "SignedNote":
        """Add signature lines (e.g. a witness's reply), keeping one per key id."""
        added = [signature_line(line) for line in lines.splitlines() if line]
        known = {(s.name, s.key_id) for s in self.signatures}
        return SignedNote(self.text, self.signatures + tuple(s for s in added if (s.name, s.key_id) not in known))


def sign_checkpoint(key: Ed25519PrivateKey, origin: str, tree_size: int, root_hash: bytes) -> SignedNote:
    text = checkpoint_text(origin, tree_size, root_hash)
    kid = note_key_id(origin, ALG_ED25519, key.public_key())
    return SignedNote(text, (NoteSignature(origin, kid, key.sign(text.encode())),))


def _verify(public_key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        public_key.verify(signature, message)
        return True
    except InvalidSignature:
        return False


def log_signature_ok(note: SignedNote, key: NoteKey) -> bool:
    """The note carries a valid Ed25519 signature by `key` (an ALG_ED25519 note key)."""
    return any(s.name == key.name and s.key_id == key.key_id and len(s.signature) == 64
               and _verify(key.public_key, s.signature, note.text.encode()) for s in note.signatures)


def cosignature_time(note: SignedNote, witness: NoteKey) -> int | None:
    """The time (Unix seconds) of a valid tlog-cosignature/v1 by `witness` on the note, or None."""
    for s in note.signatures:
        if s.name != witness.name or s.key_id != witness.key_id or len(s.signature) != 72:
            continue
        timestamp = int.from_bytes(s.signature[:8], "big")
        message = f"cosignature/v1\ntime {timestamp}\n".encode() + note.text.encode()
        if _verify(witness.public_key, s.signature[8:], message):
            return timestamp
    return None
