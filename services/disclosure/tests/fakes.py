"""In-memory stand-ins for disclosure's repositories, for handler tests without PostgreSQL.

`FakeDisclosureUnitOfWork` carries the same attributes as `DisclosureUnitOfWork` (disclosures, log,
access_log, retention, tombstones, holds, rules, schedule, outbox, clock); the handlers run unchanged
against it.
"""

import uuid
from collections.abc import Iterable, Sequence
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
from cme_shared.clock import london_date
from cme_shared.contracts.categories import DataCategory
from cme_shared.retention import DEFAULT_SCHEDULE, Candidate, Hold, LegalHolds, Tombstone
from cme_shared.testing.fakes import FakeUnitOfWork
from cme_disclosure.domain.retention import FALLS_DUE_WITH, Disclosure

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
                   restriction_exception=None, decider_title=None, purged_at=at, requested_by=None,
                   decided_by=None, decider_name=None, sign_off=None,
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

    def _full(self, did: uuid.UUID) -> dict[str, Any]:
        withholding = next((w for w in reversed(self.withholdings) if w["disclosure_id"] == did), None)
        return full_record(self.rows[did], self.subjects[did], self.leaves.get(did, []), withholding)

    async def shares_with(self, subject_id: uuid.UUID) -> list[dict[str, Any]]:
        return [self._full(did) for did, row in self.rows.items()
                if row["status"] == "shared" and subject_id in self.subjects[did]]

    async def records(self, ids: list[uuid.UUID]) -> list[dict[str, Any]]:
        return [self._full(did) for did in ids if did in self.rows]


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


class FakeRetention:
    """Disposal notices and the disclosures they make due, over the fake records."""

    def __init__(self, disclosures: FakeDisclosures) -> None:
        self.records = disclosures
        self.notices: dict[uuid.UUID, dict[str, Any]] = {}
        self.copies_forgotten: list[uuid.UUID] = []

    async def notice_recorded(self, event_id: uuid.UUID) -> bool:
        return event_id in self.notices

    async def add_notice(self, row: dict[str, Any]) -> None:
        assert row["event_id"] not in self.notices, "a notice is recorded once"
        self.notices[row["event_id"]] = dict(row)

    async def signed_notices(self) -> list[dict[str, Any]]:
        return [dict(n) for n in self.notices.values() if n["record_type"] in {t.value for t in FALLS_DUE_WITH}]

    async def restrictions_in_force(self, subject_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
        found: dict[uuid.UUID, list[uuid.UUID]] = {}
        for (s, request_id), r in self.records.restrictions.items():
            if s in subject_ids and r["lifted_at"] is None:
                found.setdefault(s, []).append(request_id)
        return found

    async def kept_disclosures(self, subject_ids: list[uuid.UUID], ids: list[uuid.UUID] | None = None) -> list[Disclosure]:
        ids = ids or []
        return [Disclosure(did, london_date(row["requested_at"]), tuple(sorted(self.records.subjects[did], key=str)),
                           tuple(DataCategory(c) for c in row["categories_released"] or row["categories_requested"]))
                for did, row in self.records.rows.items() if row["purged_at"] is None
                and (did in ids or set(self.records.subjects[did]) & set(subject_ids))]

    async def disclosure(self, disclosure_id: uuid.UUID) -> Disclosure | None:
        found = await self.kept_disclosures([], [disclosure_id])
        return found[0] if found else None

    async def blank_withholdings(self, disclosure_id: uuid.UUID) -> None:
        for w in self.records.withholdings:
            if w["disclosure_id"] == disclosure_id:
                w.update(reason=None, decided_by=None, decider_name=None, decider_title=None)

    async def forget_copies(self, disclosure_id: uuid.UUID) -> int:
        self.copies_forgotten.append(disclosure_id)
        return 0


class FakeTombstones:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], Tombstone] = {}

    async def add(self, candidate: Candidate, *, schedule_id: str, run_id: uuid.UUID, now: datetime,
                  reason: str = "schedule", subject_digests: Sequence[str] = ()) -> bool:
        key = (candidate.record_type.value, candidate.record_id)
        if key in self.rows:
            return False
        self.rows[key] = Tombstone(
            record_type=key[0], record_id=key[1], subject_ids=list(candidate.subject_ids),
            case_ids=list(candidate.case_ids), categories=[c.value for c in candidate.categories],
            schedule_id=schedule_id, rule_id=candidate.rule.rule_id, clock_started_on=candidate.clock_started_on,
            due_on=candidate.due_on, reason=reason, disposed_at=now, run_id=run_id)
        return True

    async def about(self, subject_ids: Sequence[uuid.UUID] = (), digests: Sequence[str] = ()) -> list[Tombstone]:
        return [t for t in self.rows.values() if set(t.subject_ids) & set(subject_ids)]


class FakeHolds(LegalHolds):
    """The kit's holds (its `apply`), kept in a dict."""

    def __init__(self) -> None:
        self.holds: dict[uuid.UUID, Hold] = {}
        self.locked = 0

    async def lock(self) -> None:
        self.locked += 1

    async def place(self, scope: str, target_id: str, reason: str, placed_by: str, now: datetime,
                    hold_id: uuid.UUID | None = None) -> Hold:
        hold = Hold(hold_id=hold_id or uuid.uuid4(), scope=scope, target_id=target_id, reason=reason,
                    placed_by=placed_by, placed_at=now)
        self.holds[hold.hold_id] = hold
        return hold

    async def lift(self, hold_id: uuid.UUID, lifted_by: str, reason: str, now: datetime) -> Hold | None:
        hold = self.holds.get(hold_id)
        if hold is None or hold.lifted_at is not None:
            return None
        self.holds[hold_id] = hold.model_copy(update={"lifted_by": lifted_by, "lifted_at": now, "lift_reason": reason})
        return self.holds[hold_id]

    async def get(self, hold_id: uuid.UUID) -> Hold | None:
        return self.holds.get(hold_id)

    async def listed(self, in_force_only: bool = True) -> list[Hold]:
        return [h for h in self.holds.values() if not in_force_only or h.lifted_at is None]

    async def in_force(self, targets: Iterable[tuple[str, str]]) -> dict[tuple[str, str], list[uuid.UUID]]:
        wanted = set(targets)
        found: dict[tuple[str, str], list[uuid.UUID]] = {}
        for h in self.holds.values():
            if h.lifted_at is None and (h.scope, h.target_id) in wanted:
                found.setdefault((h.scope, h.target_id), []).append(h.hold_id)
        return found


class FakeDisclosureUnitOfWork(FakeUnitOfWork[None]):
    def __init__(self, clock: FixedClock | None = None, rules: DisclosureRules | None = None,
                 disclosures: FakeDisclosures | None = None) -> None:
        super().__init__(clock)
        self.rules = rules or DisclosureRules(load_policy())
        self.disclosures = disclosures or FakeDisclosures()
        self.log = FakeLog(self.clock)
        self.access_log = FakeAccessLog()
        self.retention = FakeRetention(self.disclosures)
        self.tombstones = FakeTombstones()
        self.holds = FakeHolds()
        self.schedule = DEFAULT_SCHEDULE
