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
  the triggers disabled, by a superuser or an owner) still differs from what was published;
  the topic must exist and not lag the database (beyond a grace for the relay);
- every key is pinned by configuration, never taken from the database being checked: a head signed by
  a key someone added to `signing_keys` is a fault, and so is the key's row;
- every C2SP checkpoint names this log's origin, is signed by a pinned key and matches the root at its
  size; with a witness key pinned, each carries the witness's valid cosignature;
- every payload found NULL is named by a purge leaf (retention appends one);
- what subject access packs read is what the log says: each share's subjects
  (`disclosure_subjects`) equal those in its first leaf's payload (none once purged), and every
  `sar_withholdings` row is the one its withholding leaf records (id, review date, time, and the
  words while the payload is kept), with no row missing or added.
The first bad leaf is named; a problem that can only be placed in a range names the range's start.
Memory is O(log n) for the tree plus a digest per disclosure and a row per purge and withholding.
"""

import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.ext.asyncio import AsyncConnection

from cme_shared.clock import SYSTEM_CLOCK, Clock

from ..adapters.log_reader import LogReader
from ..domain import merkle
from ..domain.checkpoint import (
    ALG_ED25519,
    Checkpoint,
    NoteKey,
    SignedNote,
    cosignature_time,
    log_signature_ok,
)
from ..domain.entries import LeafKind, parse_leaf, payload_digest
from ..domain.tree_head import SignedTreeHead, key_id, verify

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
    disposal_leaves: int = 0
    published_heads_checked: int = 0
    problems: list[LogProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad_leaf(self) -> int | None:
        """The first leaf at fault, in log order (some faults, such as an erased payload, are only
        known once the walk is over)."""
        return min((p.leaf_index for p in self.problems if p.leaf_index is not None), default=None)

    def add(self, leaf_index: int | None, message: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(LogProblem(leaf_index, message))


@dataclass
class _Bindings:
    """What the walk learns from the leaves about the tables subject access packs read."""

    purged: list[int] = field(default_factory=list)  # leaves whose payload is NULL
    purge_leaves: set[int] = field(default_factory=set)  # leaves some purge leaf names
    subjects: dict[str, tuple[int, bytes]] = field(default_factory=dict)  # disclosure -> (leaf, digest)
    withholdings: list[dict[str, Any]] = field(default_factory=list)
    purged_records: set[str] = field(default_factory=set)  # disclosures a purge leaf names
    disposals: list[dict[str, Any]] = field(default_factory=list)  # records_disposed leaves


def _subjects_digest(subject_ids: Sequence[Any]) -> bytes:
    return hashlib.sha256("\n".join(sorted(str(s) for s in subject_ids)).encode()).digest()


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
        return True
    except ValueError:
        return False


async def verify_log(conn: AsyncConnection, batch: int = BATCH,
                     published: list[SignedTreeHead] | None = None, *,
                     keys: Sequence[Ed25519PublicKey], origin: str | None = None,
                     witness: NoteKey | None = None, witness_key: str | None = None,
                     publish_grace_ms: int = 30_000, clock: Clock = SYSTEM_CLOCK) -> LogReport:
    """`published`: the heads read from the tree-heads topic, read *before* this call, so that each
    was committed before the walk starts and none may lie beyond the log. `keys`: the pinned public
    keys (configuration); `origin`: the checkpoints' origin; `witness` and `witness_key` (its verifier
    key string): the pinned witness, whose cosignature every checkpoint then needs."""
    report = LogReport()
    db = LogReader(conn)
    pinned = {key_id(k): k for k in keys}
    for listed in await db.signing_key_ids():
        if listed not in pinned:
            report.add(None, f"the database lists signing key {listed[:16]}, which is not a pinned key "
                             "(a key added to the database is never trusted)")
    outside: dict[int, list[SignedTreeHead]] = {}
    for copy in published or []:
        if copy not in outside.setdefault(copy.head.tree_size, []):  # the outbox may publish twice
            outside[copy.head.tree_size].append(copy)
    latest_published = max(outside, default=0)
    cosigned = await db.cosignatures(witness_key or "") if witness is not None else {}
    heads = db.heads(batch)
    head = await anext(heads, None)
    notes = db.checkpoints(batch)
    note = await anext(notes, None)
    bindings = _Bindings()
    last_head_size = last_published = 0
    last_head: SignedTreeHead | None = None
    head_sizes: list[int] = []
    checkpoint_sizes: set[int] = set()
    not_cosigned: list[int] = []
    frontier = merkle.Frontier()
    expected = 0
    while True:
        rows = await db.leaves_from(expected, batch)
        if not rows:
            break
        start = expected
        end = start + len(rows)
        stored = await db.nodes_completed_by(start, end)
        payloads = await db.payloads(start, end)
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
            payload = _check_payload(report, index, leaf, payloads.get(index))
            _bind(bindings, index, leaf, payload, payloads.get(index))
            expected += 1
            stored_head = None
            while head is not None and head.head.tree_size == frontier.size:
                _check_head(report, head, frontier.root(), pinned, last_head_size)
                report.heads_checked += 1
                head_sizes.append(head.head.tree_size)
                last_head_size = head.head.tree_size
                stored_head = last_head = head
                head = await anext(heads, None)
            while note is not None and note[0] <= frontier.size:
                size, text = note
                if size == frontier.size:
                    checkpoint_sizes.add(size)
                    if not _check_checkpoint(report, size, text, frontier.root(), pinned, origin, witness,
                                             cosigned.get(size)):
                        not_cosigned.append(size)
                note = await anext(notes, None)
            for copy in outside.pop(frontier.size, []):
                _check_published(report, copy, stored_head, frontier.root(), pinned, last_published)
                report.published_heads_checked += 1
                last_published = frontier.size
    report.tree_size = frontier.size
    for size in sorted(outside):
        report.add(None, f"a tree head published at size {size} is beyond the log ({frontier.size} leaves): "
                         "leaves were removed, or the database restored to an earlier state")
    while head is not None:
        report.add(None, f"signed tree head at size {head.head.tree_size} is beyond the log ({frontier.size} leaves)")
        head = await anext(heads, None)
    while note is not None:
        report.add(None, f"checkpoint at size {note[0]} is beyond the log ({frontier.size} leaves)")
        note = await anext(notes, None)
    if last_head_size < frontier.size:
        report.add(last_head_size, f"leaves [{last_head_size}, {frontier.size}) are not covered by any signed "
                                   "tree head (written outside the service?)")
    if published is not None and last_head is not None and latest_published < last_head.head.tree_size \
            and last_head.head.timestamp < clock.now().timestamp() * 1000 - publish_grace_ms:
        report.add(latest_published or None, f"the tree-heads topic is behind the database: its latest head is at "
                                             f"size {latest_published}, the database's at {last_head.head.tree_size}")
    if checkpoint_sizes:  # heads from before checkpoints began (migration 0005) have none
        first = min(checkpoint_sizes)
        missing = [size for size in head_sizes if size >= first and size not in checkpoint_sizes]
        if missing:
            report.add(None, f"{len(missing)} signed tree head(s) have no checkpoint (first at size {missing[0]})")
    if witness is not None:
        if frontier.size and not checkpoint_sizes:
            report.add(None, "no checkpoint of the log exists, so none was cosigned by the witness")
        if not_cosigned:
            report.add(None, f"{len(not_cosigned)} checkpoint(s) carry no valid cosignature by the pinned witness "
                             f"(first at size {not_cosigned[0]}, last at {not_cosigned[-1]})")
    await _check_bindings(db, report, bindings)
    return report


def _check_head(report: LogReport, head: SignedTreeHead, root: bytes, keys: dict, last_head_size: int) -> None:
    size = head.head.tree_size
    key = keys.get(head.head.key_id)
    if key is None:
        report.add(None, f"tree head at size {size} is signed by key {head.head.key_id[:16]}, which is not a "
                         "pinned key (re-signed with a key from outside the configuration?)")
    elif not verify(key, head):
        report.add(None, f"tree head at size {size}: the signature does not verify")
    if head.head.root_hash != root:
        report.add(last_head_size, f"the signed tree head at size {size} does not match the leaves: a leaf in "
                                   f"[{last_head_size}, {size}) was changed")


def _check_checkpoint(report: LogReport, size: int, text: str, root: bytes, keys: dict, origin: str | None,
                      witness: NoteKey | None, cosignature: str | None) -> bool:
    """Checks one stored checkpoint; returns False when a pinned witness has not validly cosigned it."""
    try:
        note = SignedNote.parse(text)
        checkpoint = Checkpoint.parse(note.text)
    except ValueError:
        report.add(None, f"the checkpoint at size {size} is not a signed C2SP checkpoint")
        return witness is None
    if origin is not None and checkpoint.origin != origin:
        report.add(None, f"the checkpoint at size {size} names another origin than this log's")
    if checkpoint.tree_size != size or checkpoint.root_hash != root:
        report.add(None, f"the checkpoint at size {size} does not match the leaves")
    if not any(log_signature_ok(note, NoteKey(checkpoint.origin, ALG_ED25519, k)) for k in keys.values()):
        report.add(None, f"the checkpoint at size {size} is not signed by a pinned key")
    if witness is None:
        return True
    if cosignature is None:
        return False
    try:
        return cosignature_time(note.with_signatures(cosignature), witness) is not None
    except ValueError:
        return False


def _check_published(report: LogReport, copy: SignedTreeHead, stored: SignedTreeHead | None, root: bytes,
                     keys: dict, last_published: int) -> None:
    size = copy.head.tree_size
    key = keys.get(copy.head.key_id)
    if key is None:
        report.add(None, f"the tree head published at size {size} names key {copy.head.key_id[:16]}, which "
                         "is not a pinned key")
    elif not verify(key, copy):
        report.add(None, f"the tree head published at size {size}: the signature does not verify")
    if copy.head.root_hash != root:
        report.add(last_published, f"the tree head published at size {size} does not match the leaves: the log "
                                   f"was rewritten in [{last_published}, {size}) after it was published")
    elif stored is not None and stored != copy:
        report.add(None, f"the database's tree head at size {size} is not the one published (re-signed)")


def _check_payload(report: LogReport, index: int, leaf: bytes, payload_row: object | None) -> bytes | None:
    """The payload when it is there and matches its leaf's digest."""
    digest = payload_digest(leaf)
    if digest is None:
        return None
    if payload_row is None:
        report.add(index, "its payload row is gone without a purge record")
        return None
    if payload_row.payload is None:  # type: ignore[attr-defined]
        report.payloads_purged += 1
        return None
    report.payloads_checked += 1
    if hashlib.sha256(payload_row.payload).hexdigest() != digest:  # type: ignore[attr-defined]
        report.add(index, "its payload does not match the digest the leaf commits to")
        return None
    return payload_row.payload  # type: ignore[attr-defined]


def _bind(bindings: _Bindings, index: int, leaf: bytes, payload: bytes | None, payload_row: object | None) -> None:
    """Note what this leaf says about purges, a share's subjects and withholdings."""
    value = parse_leaf(leaf)
    if value is None:
        return
    if payload_row is not None and payload_row.payload is None:  # type: ignore[attr-defined]
        bindings.purged.append(index)
    kind, record_id, facts = value.get("kind"), str(value.get("record_id")), value.get("facts") or {}
    personal = json.loads(payload) if payload is not None else None
    if kind == LeafKind.PURGED:
        bindings.purge_leaves |= {int(i) for i in facts.get("purged_leaves", [])}
        bindings.purged_records.add(record_id)
    elif kind == LeafKind.DISPOSED:
        bindings.disposals.append({"leaf_index": index, "event_id": record_id, "facts": facts,
                                   "personal": personal})
    elif kind in (LeafKind.REQUESTED, LeafKind.SHARE_MADE) and _is_uuid(record_id):
        # The first leaf of a disclosure names its subjects in the payload; once purged, none remain.
        subjects = personal.get("subject_ids", []) if personal is not None else []
        bindings.subjects.setdefault(record_id, (index, _subjects_digest(subjects)))
    elif kind == LeafKind.WITHHELD_FROM_SAR:
        bindings.withholdings.append({"leaf_index": index, "disclosure_id": record_id,
                                      "withholding_id": facts.get("withholding_id"),
                                      "review_date": facts.get("review_date"),
                                      "recorded_at": value.get("recorded_at"), "personal": personal})


def _when(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text))
    except ValueError:
        return None


WITHHOLDING_WORDS = ("exemption", "reason", "decided_by", "decider_name", "decider_role", "decider_title")


async def _check_bindings(db: LogReader, report: LogReport, bindings: _Bindings) -> None:
    for index in bindings.purged:
        if index not in bindings.purge_leaves:
            report.add(index, "its payload was removed (NULL) but no purge leaf records it")
    # Subjects of each share, as subject access packs and Art 19 notices read them.
    actual = await db.subjects_by_disclosure()
    for disclosure_id, (index, digest) in bindings.subjects.items():
        subjects = actual.pop(disclosure_id, None)
        if subjects is None:
            report.add(index, f"disclosure {disclosure_id} is in the log but not in the database")
        elif _subjects_digest(subjects) != digest:
            report.add(index, f"disclosure {disclosure_id}: its subjects in the database ({len(subjects)}) are not "
                              "the ones its leaf's payload records (a subject added or removed outside the service)")
    for disclosure_id, subjects in actual.items():
        report.add(None, f"disclosure {disclosure_id} ({len(subjects)} subject(s)) is not in the log")
    await _check_disposals(db, report, bindings)
    # Withholdings from access requests, with their review dates.
    rows = await db.withholdings()
    unmatched_legacy: dict[tuple[str, str], list[int]] = defaultdict(list)
    for leaf in bindings.withholdings:
        if leaf["withholding_id"] is None:  # leaves written before the id was logged: by date alone
            unmatched_legacy[(leaf["disclosure_id"], leaf["review_date"])].append(leaf["leaf_index"])
            continue
        row = rows.pop(leaf["withholding_id"], None)
        index = leaf["leaf_index"]
        if row is None:
            report.add(index, f"the withholding it records ({leaf['withholding_id']}) has no row in sar_withholdings")
            continue
        if (str(row["disclosure_id"]) != leaf["disclosure_id"] or row["review_date"].isoformat() != leaf["review_date"]
                or row["recorded_at"] != _when(leaf["recorded_at"])):
            report.add(index, f"withholding {leaf['withholding_id']}: its row's disclosure, review date or time is "
                              "not what the leaf records")
        elif leaf["personal"] is not None and any(row[k] != leaf["personal"].get(k) for k in WITHHOLDING_WORDS):
            report.add(index, f"withholding {leaf['withholding_id']}: its row's exemption, reason or decider is not "
                              "what the leaf's payload records")
    for withholding_id, row in rows.items():
        legacy = unmatched_legacy.get((str(row["disclosure_id"]), row["review_date"].isoformat()))
        if legacy:
            legacy.pop(0)
            continue
        report.add(None, f"withholding {withholding_id} of disclosure {row['disclosure_id']} is in sar_withholdings "
                         "but not in the log")
    for indices in unmatched_legacy.values():
        for index in indices:
            report.add(index, "the withholding it records has no row in sar_withholdings")


# What a records_disposed leaf must say, and the notice row's columns each is compared with.
DISPOSAL_FACTS = {"service": "service", "record_type": "record_type", "schedule_id": "schedule_id",
                  "rule_id": "rule_id", "run_id": "run_id", "record_ids": "record_ids", "case_ids": "case_ids",
                  "clock_started_on": "clock_started_on", "disposed_at": "disposed_at"}


def _notice_as_facts(row: dict[str, Any]) -> dict[str, Any]:
    """A disposal notice's row in the words of its leaf's facts."""
    return {"service": row["service"], "record_type": row["record_type"], "schedule_id": row["schedule_id"],
            "rule_id": row["rule_id"], "run_id": str(row["run_id"]), "record_ids": list(row["record_ids"]),
            "case_ids": [str(c) for c in row["case_ids"]],
            "clock_started_on": row["clock_started_on"].isoformat() if row["clock_started_on"] else None,
            "disposed_at": row["disposed_at"]}


async def _check_disposals(db: LogReader, report: LogReport, bindings: _Bindings) -> None:
    """Disposals: each records_disposed leaf is well formed and is the notice the disposal job reads (so a
    notice added, removed or changed outside the service, e.g. an earlier closure date to make records
    fall due early, is found), with the subjects its payload names; each disposed disclosure (tombstone)
    has its purge leaf."""
    notices = await db.disposal_notices()
    for leaf in bindings.disposals:
        index, facts = leaf["leaf_index"], leaf["facts"]
        report.disposal_leaves += 1
        missing = [k for k in DISPOSAL_FACTS if k not in facts]
        if missing or not _is_uuid(leaf["event_id"]) or facts.get("event_id") != leaf["event_id"]:
            report.add(index, "a records_disposed leaf that does not say what was disposed of "
                              f"(missing: {', '.join(missing) or 'its event id'})")
            continue
        row = notices.pop(leaf["event_id"], None)
        if row is None:
            report.add(index, f"the disposal notice it records ({leaf['event_id']}) has no row in disposal_notices")
            continue
        expected = _notice_as_facts(row)
        differs = [k for k, v in expected.items()
                   if (_when(facts[k]) != v if k == "disposed_at" else facts[k] != v)]
        if row["leaf_index"] != index:
            differs.append("leaf_index")
        if leaf["personal"] is not None and sorted(leaf["personal"].get("subject_ids", [])) != sorted(
                str(s) for s in row["subject_ids"]):
            differs.append("subject_ids")
        if differs:
            report.add(index, f"disposal notice {leaf['event_id']}: its row's {', '.join(differs)} is not what "
                              "the leaf records")
    for event_id, row in notices.items():
        if row["leaf_index"] is not None and row["leaf_index"] >= report.tree_size:
            continue  # committed with its leaf after the walk read the leaves (the service kept running)
        report.add(None, f"disposal notice {event_id} is in disposal_notices but not in the log")
    for record_id in sorted(await db.tombstoned("disclosure") - bindings.purged_records):
        report.add(None, f"disclosure {record_id} has a tombstone but no purge leaf (disposed of outside the "
                         "disposal job?)")
