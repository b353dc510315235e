"""In-memory stand-ins for disclosure's repositories, for handler tests without PostgreSQL.

`FakeDisclosureUnitOfWork` carries the same attributes as `DisclosureUnitOfWork` (disclosures, log,
access_log, rules, outbox, clock); the handlers run unchanged against it.
"""

import uuid
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cme_disclosure.adapters.disclosure_records import full_record
from cme_disclosure.adapters.merkle_store import Appended
from cme_disclosure.domain import merkle
from cme_disclosure.domain.entries import Entry
from cme_disclosure.domain.policy import DisclosureRules, load_policy
from cme_disclosure.domain.tree_head import TreeHead, key_id, sign
from cme_shared.clock import FixedClock
from cme_shared.contracts.rights import DataItem
from cme_shared.testing.fakes import FakeUnitOfWork

# The columns a row has that a handler may leave out (they default to NULL in the table).
NULLABLE = ("share_ref", "reference", "authorised_officer", "reason", "restriction_exception", "requested_by_role",
            "borough", "received_on", "decision", "decided_by", "decider_name", "decider_role", "decider_title",
            "sign_off", "decision_reason", "decided_at", "shared_at", "purged_at")


class FakeDisclosures:
    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, dict[str, Any]] = {}
        self.subjects: dict[uuid.UUID, list[uuid.UUID]] = {}
        self.leaves: dict[uuid.UUID, list[dict[str, Any]]] = {}
        self.withholdings: list[dict[str, Any]] = []
        self.restrictions: dict[tuple[uuid.UUID, uuid.UUID], dict[str, Any]] = {}
        self.locked: list[uuid.UUID] = []

    async def requests_since(self, sub: str, since: datetime) -> int:
        return sum(1 for r in self.rows.values() if r["requested_by"] == sub and r["requested_at"] > since)

    async def add(self, row: dict[str, Any], subject_ids: list[uuid.UUID]) -> None:
        self.rows[row["disclosure_id"]] = {**dict.fromkeys(NULLABLE), **row}
        self.subjects[row["disclosure_id"]] = list(subject_ids)

    async def get(self, disclosure_id: uuid.UUID, *, for_update: bool = False) -> dict[str, Any] | None:
        if for_update:
            self.locked.append(disclosure_id)
        row = self.rows.get(disclosure_id)
        return None if row is None else dict(row)

    async def subjects_of(self, disclosure_id: uuid.UUID) -> list[uuid.UUID]:
        return list(self.subjects.get(disclosure_id, []))

    async def record_decision(self, disclosure_id: uuid.UUID, decided: dict[str, Any]) -> None:
        self.rows[disclosure_id].update(decided)

    async def share_recorded(self, origin: str, share_ref: str) -> bool:
        return any(r["origin"] == origin and r["share_ref"] == share_ref for r in self.rows.values())

    async def add_withholding(self, record: dict[str, Any]) -> None:
        self.withholdings.append(dict(record))

    async def bind_leaves(self, disclosure_id: uuid.UUID, leaves: list[tuple[int, str]]) -> None:
        self.leaves.setdefault(disclosure_id, []).extend({"leaf_index": i, "kind": k} for i, k in leaves)

    async def leaf_indices(self, disclosure_id: uuid.UUID) -> list[int]:
        return [leaf["leaf_index"] for leaf in self.leaves.get(disclosure_id, [])]

    async def forget_people(self, disclosure_id: uuid.UUID, at: datetime) -> None:
        self.subjects[disclosure_id] = []
        row = self.rows[disclosure_id]
        row.update(reason=None, reference=None, authorised_officer=None, decision_reason=None,
                   restriction_exception=None, decider_title=None, purged_at=at,
                   recipient={k: row["recipient"].get(k) for k in ("type", "org_id", "org_name")})

    async def active_restrictions(self, subject_ids: list[uuid.UUID]) -> set[uuid.UUID]:
        return {s for (s, _), r in self.restrictions.items() if s in subject_ids and r["lifted_at"] is None}

    async def restrict(self, subject_ids: list[uuid.UUID], rights_request_id: uuid.UUID, at: datetime) -> None:
        for s in subject_ids:
            known = self.restrictions.get((s, rights_request_id))
            if known is None or (known["lifted_at"] is not None and known["lifted_at"] <= at):
                self.restrictions[(s, rights_request_id)] = {"restricted_at": at, "lifted_at": None}

    async def lift_restriction(self, subject_ids: list[uuid.UUID], rights_request_id: uuid.UUID,
                               at: datetime) -> None:
        for s in subject_ids:
            known = self.restrictions.get((s, rights_request_id))
            if known is not None and known["lifted_at"] is None:
                known["lifted_at"] = at

    async def shares_with(self, subject_id: uuid.UUID) -> list[dict[str, Any]]:
        def latest_withholding(disclosure_id: uuid.UUID) -> dict[str, Any] | None:
            return next((w for w in reversed(self.withholdings) if w["disclosure_id"] == disclosure_id), None)

        return [full_record(row, self.subjects[did], self.leaves.get(did, []), latest_withholding(did))
                for did, row in self.rows.items() if row["status"] == "shared" and subject_id in self.subjects[did]]


class FakeLog:
    """The log's leaves in a list, with real Merkle roots and real signed heads."""

    def __init__(self, clock: FixedClock) -> None:
        self.key = Ed25519PrivateKey.generate()
        self.clock = clock
        self.entries: list[Entry] = []
        self.payloads: dict[int, bytes | None] = {}
        self.frontier = merkle.Frontier()

    async def append(self, entries: list[Entry]) -> Appended:
        if not entries:
            raise ValueError("nothing to append")
        first = len(self.entries)
        for e in entries:
            self.frontier.append(e.leaf)
            self.payloads[len(self.entries)] = e.payload
            self.entries.append(e)
        head = sign(self.key, TreeHead(self.frontier.size, self.frontier.root(),
                                       int(self.clock.now().timestamp() * 1000), key_id(self.key.public_key())))
        return Appended(first, head)

    async def purge_payloads(self, indices: list[int], reason: str, at: datetime) -> list[int]:
        purged = sorted(i for i in indices if self.payloads.get(i) is not None)
        for i in purged:
            self.payloads[i] = None
        return purged

    def kinds(self) -> list[str]:
        return [e.kind.value for e in self.entries]


class FakeAccessLog:
    def __init__(self) -> None:
        self.rows: list[DataItem] = []

    async def items(self, subject_ids: list[uuid.UUID]) -> list[DataItem]:
        return [item for item in self.rows if item.subject_id in subject_ids]


class FakeDisclosureUnitOfWork(FakeUnitOfWork[None]):
    def __init__(self, clock: FixedClock | None = None, rules: DisclosureRules | None = None,
                 disclosures: FakeDisclosures | None = None) -> None:
        super().__init__(clock)
        self.rules = rules or DisclosureRules(load_policy())
        self.disclosures = disclosures or FakeDisclosures()
        self.log = FakeLog(self.clock)
        self.access_log = FakeAccessLog()
