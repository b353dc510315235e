"""What verify-log reads (service_layer/audit.py), straight from the tables, a page at a time.

Plain queries on one connection, outside the service's units of work: verify-log is an offline check
of the whole database, which must not depend on the service's own code paths to read it.
"""

from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..domain import merkle
from ..domain.tree_head import SignedTreeHead, TreeHead
from .tables import checkpoints, disclosure_subjects, disclosures, leaf_payloads, log_leaves, log_nodes
from .tables import disposal_notices, sar_withholdings, signing_keys, tree_heads, witness_cosignatures
from cme_shared.retention import tombstones


def completed_by(start: int, end: int) -> list[tuple[int, int, int]]:
    """Per level, the node indices [lo, hi] whose last leaf lies in [start, end)."""
    spans = []
    level = 0
    while (1 << level) <= end:
        width = 1 << level
        lo, hi = -(-(start + 1) // width) - 1, end // width - 1
        if lo <= hi:
            spans.append((level, lo, hi))
        level += 1
    return spans


class LogReader:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def signing_key_ids(self) -> list[str]:
        return [r.key_id for r in await self.conn.execute(select(signing_keys.c.key_id))]

    async def cosignatures(self, witness_key: str) -> dict[int, str]:
        """The witness's cosignature line per tree size."""
        return {r.tree_size: r.signature_line for r in await self.conn.execute(
            select(witness_cosignatures.c.tree_size, witness_cosignatures.c.signature_line)
            .where(witness_cosignatures.c.witness_key == witness_key))}

    async def heads(self, batch: int) -> AsyncIterator[SignedTreeHead]:
        """Every signed head by size, a page at a time (the leaves are read in between)."""
        after = -1
        while True:
            rows = (await self.conn.execute(
                select(tree_heads).where(tree_heads.c.tree_size > after).order_by(tree_heads.c.tree_size).limit(batch)
            )).all()
            for row in rows:
                yield SignedTreeHead(TreeHead(row.tree_size, row.root_hash, row.timestamp_ms, row.key_id),
                                     row.signature)
            if len(rows) < batch:
                return
            after = rows[-1].tree_size

    async def checkpoints(self, batch: int) -> AsyncIterator[tuple[int, str]]:
        """Every checkpoint by size: (tree size, signed note)."""
        after = -1
        while True:
            rows = (await self.conn.execute(
                select(checkpoints.c.tree_size, checkpoints.c.note).where(checkpoints.c.tree_size > after)
                .order_by(checkpoints.c.tree_size).limit(batch)
            )).all()
            for row in rows:
                yield row.tree_size, row.note
            if len(rows) < batch:
                return
            after = rows[-1].tree_size

    async def leaves_from(self, start: int, batch: int) -> list[tuple[int, bytes]]:
        """Up to `batch` leaves from index `start` on, in index order (a gap shows as a jump)."""
        rows = (await self.conn.execute(
            select(log_leaves.c.leaf_index, log_leaves.c.leaf)
            .where(log_leaves.c.leaf_index >= start).order_by(log_leaves.c.leaf_index).limit(batch)
        )).all()
        return [(r.leaf_index, r.leaf) for r in rows]

    async def nodes_completed_by(self, start: int, end: int) -> dict[merkle.Coord, bytes]:
        """The stored nodes whose last leaf lies in [start, end)."""
        rows = await self.conn.execute(
            select(log_nodes.c.level, log_nodes.c.node_index, log_nodes.c.hash).where(or_(*(
                and_(log_nodes.c.level == level, log_nodes.c.node_index.between(lo, hi))
                for level, lo, hi in completed_by(start, end)
            )))
        )
        return {(r.level, r.node_index): r.hash for r in rows}

    async def payloads(self, start: int, end: int) -> dict[int, Any]:
        """The payload rows of leaves [start, end), by leaf index (`.payload` None once purged)."""
        return {r.leaf_index: r for r in await self.conn.execute(
            select(leaf_payloads).where(leaf_payloads.c.leaf_index >= start, leaf_payloads.c.leaf_index < end))}

    async def subjects_by_disclosure(self) -> dict[str, list[str]]:
        """Every disclosure's subjects as subject access packs read them (none: an empty list)."""
        subjects: dict[str, list[str]] = defaultdict(list)
        for r in await self.conn.execute(select(disclosure_subjects.c.disclosure_id, disclosure_subjects.c.subject_id)):
            subjects[str(r.disclosure_id)].append(str(r.subject_id))
        for r in await self.conn.execute(select(disclosures.c.disclosure_id)):
            subjects.setdefault(str(r.disclosure_id), [])
        return subjects

    async def withholdings(self) -> dict[str, dict[str, Any]]:
        """Every withholding from access requests, by its id."""
        return {str(r["withholding_id"]): dict(r)
                for r in (await self.conn.execute(select(sar_withholdings))).mappings()}

    async def disposal_notices(self) -> dict[str, dict[str, Any]]:
        """Every disposal notice read from the disposals topic, by its event id."""
        return {str(r["event_id"]): dict(r)
                for r in (await self.conn.execute(select(disposal_notices))).mappings()}

    async def tombstoned(self, record_type: str) -> set[str]:
        """The ids of the records of this type that have a tombstone."""
        return {r.record_id for r in await self.conn.execute(
            select(tombstones.c.record_id).where(tombstones.c.record_type == record_type))}
