"""The disclosure log on PostgreSQL: append (serialised, signed) and read (leaves, roots, proofs).

Appends take a transaction-scoped advisory lock, so one writer at a time extends the tree and leaf
indices never skip or collide; the lock is held until the transaction (with its disclosure rows and
outbox events) commits. Each append writes its leaves, their payloads, the perfect subtrees they
complete, a signed tree head and the same head as a C2SP checkpoint, all in that one transaction.
The witness's cosignatures of those checkpoints are kept here too (service_layer/witness.py).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import func, insert, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from cme_shared.clock import SYSTEM_CLOCK, Clock
from cme_shared.refusal import Refusal

from ..domain import merkle
from ..domain.checkpoint import SignedNote, sign_checkpoint
from ..domain.entries import Entry
from ..domain.tree_head import SignedTreeHead, TreeHead, key_id, load_private_key, public_key_pem, sign
from .tables import checkpoints, leaf_payloads, log_leaves, log_nodes, signing_keys, tree_heads, witness_cosignatures

# pg_advisory_xact_lock key of the log's single writer ("cmelog" as a number).
APPEND_LOCK = 0x636D656C6F67
DEFAULT_ORIGIN = "cme.localhost/disclosure-log"

Db = AsyncSession | AsyncConnection


class LogRangeError(Refusal):
    """A size or index outside the log as it stands (400 out_of_range, on the query)."""

    def __init__(self, message: str) -> None:
        super().__init__(400, "out_of_range", message, ["query"])


class KeyRing:
    """The tree-head signing key, held outside the log's database (a configured key or key file).

    Every key that ever signed is recorded in `signing_keys` (public half only), so heads signed
    before a rotation still verify by their `key_id`. `None` gives a key for this process only
    (tests, benchmarks).
    """

    def __init__(self, configured: str | None) -> None:
        self._key = load_private_key(configured) if configured else Ed25519PrivateKey.generate()

    def public_key(self) -> Ed25519PublicKey:
        return self._key.public_key()

    async def signer(self, session: AsyncSession) -> Ed25519PrivateKey:
        # Registered in every signing transaction (a no-op once there), so no committed head can name
        # a key whose public half was lost with a rolled-back transaction.
        await session.execute(
            pg_insert(signing_keys)
            .values(key_id=key_id(self._key.public_key()), public_key_pem=public_key_pem(self._key.public_key()))
            .on_conflict_do_nothing()
        )
        return self._key


@dataclass(frozen=True)
class Appended:
    first_index: int
    head: SignedTreeHead

    def index_of(self, position: int) -> int:
        return self.first_index + position


async def fetch_nodes(db: Db, coords: Iterable[merkle.Coord]) -> dict[merkle.Coord, bytes]:
    wanted = sorted(set(coords))
    if not wanted:
        return {}
    rows = await db.execute(
        select(log_nodes.c.level, log_nodes.c.node_index, log_nodes.c.hash)
        .where(tuple_(log_nodes.c.level, log_nodes.c.node_index).in_(wanted))
    )
    return {(r.level, r.node_index): r.hash for r in rows}


async def tree_size(db: Db) -> int:
    return int((await db.execute(select(func.coalesce(func.max(log_leaves.c.leaf_index) + 1, 0)))).scalar_one())


class MerkleLog:
    """The log within one transaction (`uow.log`): `keys` sign its heads, `clock` dates them."""

    def __init__(self, session: AsyncSession, keys: KeyRing, *, origin: str = DEFAULT_ORIGIN,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.session, self.keys, self.origin, self.clock = session, keys, origin, clock

    def _now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    async def append(self, entries: Sequence[Entry]) -> Appended:
        """Append entries in order inside this transaction; sign and store the new head."""
        if not entries:
            raise ValueError("nothing to append")
        session = self.session
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": APPEND_LOCK})
        size = await tree_size(session)
        frontier = merkle.Frontier.from_nodes(size, await fetch_nodes(session, merkle.Frontier.coords(size)))
        created: list[tuple[int, int, bytes]] = []
        for e in entries:
            created.extend(frontier.append(e.leaf))
        await session.execute(insert(log_leaves), [
            {"leaf_index": size + i, "leaf": e.leaf} for i, e in enumerate(entries)
        ])
        await session.execute(insert(leaf_payloads), [
            {"leaf_index": size + i, "payload": e.payload} for i, e in enumerate(entries)
        ])
        await session.execute(insert(log_nodes), [
            {"level": level, "node_index": index, "hash": h} for level, index, h in created
        ])
        key = await self.keys.signer(session)
        head = sign(key, TreeHead(frontier.size, frontier.root(), self._now_ms(), key_id(key.public_key())))
        await session.execute(insert(tree_heads).values(
            tree_size=head.head.tree_size, root_hash=head.head.root_hash, timestamp_ms=head.head.timestamp,
            key_id=head.head.key_id, signature=head.signature,
        ))
        # The same head as a C2SP checkpoint, signed in the same transaction (the witness cosigns it
        # after commit: a witness must never see a tree the log might still roll back).
        note = sign_checkpoint(key, self.origin, frontier.size, frontier.root())
        await session.execute(insert(checkpoints).values(tree_size=frontier.size, note=note.render()))
        return Appended(size, head)

    async def purge_payloads(self, indices: list[int], reason: str, at: datetime) -> list[int]:
        """Retention: empty these leaves' payloads (their digests stay in the leaves); returns those purged."""
        return sorted((await self.session.execute(
            update(leaf_payloads).where(leaf_payloads.c.leaf_index.in_(indices), leaf_payloads.c.payload.is_not(None))
            .values(payload=None, purged_at=at, purge_reason=reason).returning(leaf_payloads.c.leaf_index)
        )).scalars())

    async def latest_head(self) -> SignedTreeHead:
        row = (await self.session.execute(
            select(tree_heads).order_by(tree_heads.c.tree_size.desc()).limit(1))).first()
        if row is not None:
            return SignedTreeHead(TreeHead(row.tree_size, row.root_hash, row.timestamp_ms, row.key_id), row.signature)
        key = await self.keys.signer(self.session)  # the empty log: a fresh head over nothing
        return sign(key, TreeHead(0, merkle.EMPTY_ROOT, self._now_ms(), key_id(key.public_key())))

    async def known_public_keys(self) -> list[dict[str, Any]]:
        rows = (await self.session.execute(
            select(signing_keys.c.key_id, signing_keys.c.public_key_pem, signing_keys.c.first_used_at)
            .order_by(signing_keys.c.first_used_at)
        )).mappings().all()
        return [dict(r) for r in rows]

    async def checkpoint(self, witness_key: str | None = None) -> SignedNote | None:
        """The latest checkpoint with the witness's cosignature added (`witness_key` given: the latest
        one the witness has cosigned), or None when there is none yet."""
        query = select(checkpoints.c.tree_size, checkpoints.c.note).order_by(checkpoints.c.tree_size.desc()).limit(1)
        if witness_key is not None:
            query = query.where(checkpoints.c.tree_size.in_(
                select(witness_cosignatures.c.tree_size).where(witness_cosignatures.c.witness_key == witness_key)))
        row = (await self.session.execute(query)).first()
        if row is None:
            return None
        note = SignedNote.parse(row.note)
        lines = (await self.session.execute(select(witness_cosignatures.c.signature_line)
                                            .where(witness_cosignatures.c.tree_size == row.tree_size)
                                            .order_by(witness_cosignatures.c.witness_key))).scalars()
        for line in lines:
            note = note.with_signatures(line)
        return note

    async def leaves(self, start: int, end: int) -> list[tuple[int, bytes]]:
        rows = await self.session.execute(
            select(log_leaves.c.leaf_index, log_leaves.c.leaf)
            .where(log_leaves.c.leaf_index >= start, log_leaves.c.leaf_index < end)
            .order_by(log_leaves.c.leaf_index)
        )
        return [(r.leaf_index, r.leaf) for r in rows]

    async def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        if size > await tree_size(self.session):
            raise LogRangeError("tree_size is larger than the log")
        if not 0 <= index < size:
            raise LogRangeError("leaf_index must be below tree_size")
        ranges = merkle.inclusion_ranges(index, size)
        return merkle.hash_ranges(ranges, await fetch_nodes(self.session, merkle.needed_nodes(ranges)))

    async def consistency_proof(self, first: int, second: int) -> list[bytes]:
        if second > await tree_size(self.session):
            raise LogRangeError("second is larger than the log")
        if not 0 < first <= second:
            raise LogRangeError("consistency needs 0 < first <= second")
        ranges = merkle.consistency_ranges(first, second)
        return merkle.hash_ranges(ranges, await fetch_nodes(self.session, merkle.needed_nodes(ranges)))

    # The outside witness (service_layer/witness.py) ------------------------------------------------

    async def last_cosigned(self, witness_key: str) -> int:
        """The largest size the witness has cosigned here (0: none)."""
        return int((await self.session.execute(
            select(func.coalesce(func.max(witness_cosignatures.c.tree_size), 0))
            .where(witness_cosignatures.c.witness_key == witness_key)
        )).scalar_one())

    async def checkpoints_after(self, size: int, limit: int) -> list[tuple[int, str]]:
        """Checkpoints beyond `size`, oldest first: (tree size, signed note)."""
        rows = await self.session.execute(
            select(checkpoints.c.tree_size, checkpoints.c.note).where(checkpoints.c.tree_size > size)
            .order_by(checkpoints.c.tree_size).limit(limit))
        return [(r.tree_size, r.note) for r in rows]

    async def add_cosignature(self, size: int, witness_key: str, signature_line: str,
                              cosigned_at: int | None) -> None:
        await self.session.execute(pg_insert(witness_cosignatures).values(
            tree_size=size, witness_key=witness_key, signature_line=signature_line, cosigned_at=cosigned_at,
        ).on_conflict_do_nothing())
