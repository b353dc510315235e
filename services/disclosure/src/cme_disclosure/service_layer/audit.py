"""verify-log: recompute the whole disclosure log from its leaf bytes and check everything stored.

Checks, streaming the leaves in index order (memory stays O(log n) plus one batch):
- leaf indices run 0, 1, 2, ... with no gap;
- every leaf's hash and every perfect subtree rebuilt from the leaves equals the stored node (a leaf
  edited in place, even with the triggers disabled, differs from the node stored when it came);
- every signed tree head names a known key, its signature verifies, and its root equals the root
  recomputed at its size (catches leaves and nodes rewritten together);
- no leaf lies beyond the last signed head (every append signs a head in its own transaction);
- every payload not purged still has the SHA-256 its leaf commits to;
- given the heads published on `cme.disclosure.tree-heads.v1` (copies outside this database), each
  one's signature verifies and its root equals the root recomputed at its size, and the database's
  head at that size is the one published: a rewrite that re-signs the heads in the database (with
  the triggers disabled, by a superuser or an owner) still differs from what was published.
The first bad leaf is named; a problem that can only be placed in a range names the range's start.
"""

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..adapters.tables import leaf_payloads, log_leaves, log_nodes, signing_keys, tree_heads
from ..domain import merkle
from ..domain.entries import payload_digest
from ..domain.tree_head import SignedTreeHead, TreeHead, load_public_key, verify

BATCH = 5000
MAX_PROBLEMS = 20


@dataclass(frozen=True)
class LogProblem:
    leaf_index: int | None
    message: str

    def __str__(self) -> str:
        where = f"leaf {self.leaf_index}" if self.leaf_index is not None else "log"
        return f"{where}: {self.message}"


@dataclass
class LogReport:
    tree_size: int = 0
    heads_checked: int = 0
    payloads_checked: int = 0
    payloads_purged: int = 0
    published_heads_checked: int = 0
    problems: list[LogProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad_leaf(self) -> int | None:
        """The first leaf found at fault, in log order (problems are found walking the leaves)."""
        return next((p.leaf_index for p in self.problems if p.leaf_index is not None), None)

    def add(self, leaf_index: int | None, message: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(LogProblem(leaf_index, message))


def _completed_by(start: int, end: int) -> list[tuple[int, int, int]]:
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


async def _heads(conn: AsyncConnection, batch: int) -> AsyncIterator[SignedTreeHead]:
    """Every signed head by size, a page at a time (plain queries: the leaves are read in between)."""
    after = -1
    while True:
        rows = (await conn.execute(
            select(tree_heads).where(tree_heads.c.tree_size > after).order_by(tree_heads.c.tree_size).limit(batch)
        )).all()
        for row in rows:
            yield SignedTreeHead(TreeHead(row.tree_size, row.root_hash, row.timestamp_ms, row.key_id), row.signature)
        if len(rows) < batch:
            return
        after = rows[-1].tree_size


async def verify_log(conn: AsyncConnection, batch: int = BATCH,
                     published: list[SignedTreeHead] | None = None) -> LogReport:
    """`published`: the heads read from the tree-heads topic, read *before* this call, so that each
    was committed before the walk starts and none may lie beyond the log."""
    report = LogReport()
    keys = {r.key_id: load_public_key(r.public_key_pem)
            for r in await conn.execute(select(signing_keys.c.key_id, signing_keys.c.public_key_pem))}
    outside: dict[int, list[SignedTreeHead]] = {}
    for copy in published or []:
        if copy not in outside.setdefault(copy.head.tree_size, []):  # the outbox may publish twice
            outside[copy.head.tree_size].append(copy)
    heads = _heads(conn, batch)
    head = await anext(heads, None)
    last_head_size = last_published = 0
    frontier = merkle.Frontier()
    expected = 0
    while True:
        rows = (await conn.execute(
            select(log_leaves.c.leaf_index, log_leaves.c.leaf)
            .where(log_leaves.c.leaf_index >= expected).order_by(log_leaves.c.leaf_index).limit(batch)
        )).all()
        if not rows:
            break
        start = expected
        end = start + len(rows)
        stored = await _stored_nodes(conn, start, end)
        payloads = {r.leaf_index: r for r in await conn.execute(
            select(leaf_payloads).where(leaf_payloads.c.leaf_index >= start, leaf_payloads.c.leaf_index < end)
        )}
        for index, leaf in rows:
            if index != expected:
                report.add(expected, f"missing: the next stored leaf is {index}")
                return report  # the tree cannot be rebuilt past a gap
            created = frontier.append(leaf)
            for level, node_index, h in created:
                kept = stored.get((level, node_index))
                if kept is None:
                    report.add(index, f"the stored tree has no node ({level}, {node_index}) for it")
                    break
                if kept != h:
                    if level == 0:
                        report.add(index, "its bytes do not hash to the node stored when it was appended "
                                          "(the leaf was changed after it was written)")
                    else:
                        first = node_index << level
                        report.add(first, f"stored node ({level}, {node_index}) over leaves "
                                          f"[{first}, {(node_index + 1) << level}) differs from the recomputed one")
                    break  # the nodes above differ as a consequence: one problem per leaf
            top_level, top_index, _ = created[-1]
            if (top_level, top_index) in stored:
                # Go on from the tree as stored, so each later leaf and head is judged on its own and
                # the first bad leaf is not drowned by the consequences of one edit.
                frontier.by_level[top_level] = stored[(top_level, top_index)]
            _check_payload(report, index, leaf, payloads.get(index))
            expected += 1
            stored_head = None
            while head is not None and head.head.tree_size == frontier.size:
                _check_head(report, head, frontier.root(), keys, last_head_size)
                report.heads_checked += 1
                last_head_size = head.head.tree_size
                stored_head = head
                head = await anext(heads, None)
            for copy in outside.pop(frontier.size, []):
                _check_published(report, copy, stored_head, frontier.root(), keys, last_published)
                report.published_heads_checked += 1
                last_published = frontier.size
    report.tree_size = frontier.size
    for size in sorted(outside):
        report.add(None, f"a tree head published at size {size} is beyond the log ({frontier.size} leaves): "
                         "leaves were removed, or the database restored to an earlier state")
    while head is not None:
        report.add(None, f"signed tree head at size {head.head.tree_size} is beyond the log ({frontier.size} leaves)")
        head = await anext(heads, None)
    if last_head_size < frontier.size:
        report.add(last_head_size, f"leaves [{last_head_size}, {frontier.size}) are not covered by any signed "
                                   "tree head (written outside the service?)")
    return report


async def _stored_nodes(conn: AsyncConnection, start: int, end: int) -> dict[merkle.Coord, bytes]:
    spans = _completed_by(start, end)
    rows = await conn.execute(
        select(log_nodes.c.level, log_nodes.c.node_index, log_nodes.c.hash).where(or_(*(
            and_(log_nodes.c.level == level, log_nodes.c.node_index.between(lo, hi)) for level, lo, hi in spans
        )))
    )
    return {(r.level, r.node_index): r.hash for r in rows}


def _check_head(report: LogReport, head: SignedTreeHead, root: bytes, keys: dict, last_head_size: int) -> None:
    size = head.head.tree_size
    key = keys.get(head.head.key_id)
    if key is None:
        report.add(None, f"tree head at size {size} names an unknown key {head.head.key_id[:16]}")
    elif not verify(key, head):
        report.add(None, f"tree head at size {size}: the signature does not verify")
    if head.head.root_hash != root:
        report.add(last_head_size, f"the signed tree head at size {size} does not match the leaves: a leaf in "
                                   f"[{last_head_size}, {size}) was changed")


def _check_published(report: LogReport, copy: SignedTreeHead, stored: SignedTreeHead | None, root: bytes,
                     keys: dict, last_published: int) -> None:
    size = copy.head.tree_size
    key = keys.get(copy.head.key_id)
    if key is None:
        report.add(None, f"the tree head published at size {size} names key {copy.head.key_id[:16]}, which "
                         "the database no longer lists")
    elif not verify(key, copy):
        report.add(None, f"the tree head published at size {size}: the signature does not verify")
    if copy.head.root_hash != root:
        report.add(last_published, f"the tree head published at size {size} does not match the leaves: the log "
                                   f"was rewritten in [{last_published}, {size}) after it was published")
    elif stored is not None and stored != copy:
        report.add(None, f"the database's tree head at size {size} is not the one published (re-signed)")


def _check_payload(report: LogReport, index: int, leaf: bytes, payload_row: object | None) -> None:
    digest = payload_digest(leaf)
    if digest is None:
        return
    if payload_row is None:
        report.add(index, "its payload row is gone without a purge record")
        return
    if payload_row.payload is None:  # type: ignore[attr-defined]
        report.payloads_purged += 1
        return
    report.payloads_checked += 1
    if hashlib.sha256(payload_row.payload).hexdigest() != digest:  # type: ignore[attr-defined]
        report.add(index, "its payload does not match the digest the leaf commits to")
