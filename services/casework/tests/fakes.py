"""In-memory stand-ins for casework's repositories, for handler tests without PostgreSQL.

`FakeCaseRecords` keeps the history, the `cases` projection and the restriction log in lists and dicts and
answers as `adapters.repository.CaseRecords` does, the database's own rules included (one case not closed
per child, a held referral released once). `FakeCaseworkUnitOfWork` is the kit's fake unit of work with
them, casework's clock policy and an empty batch state:

    uow = FakeCaseworkUnitOfWork()
    async with uow:
        await on_referral_accepted(uow, referral)
        await uow.commit()
    assert uow.outbox.topics() == [topics.CASE_EVENTS]
"""

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date
from itertools import count
from typing import Any
from uuid import UUID

from cme_casework.adapters.calendars import load_calendars
from cme_casework.adapters.repository import CaseworkBatch
from cme_casework.domain import census
from cme_casework.domain.clocks import ClockPolicy, Due
from cme_casework.domain.ehe import EheDue, EheEntry, EheKind, EheRules, EheState, EheStatus
from cme_casework.domain.ehe import fold as ehe_fold
from cme_casework.domain.history import Entry, Kind
from cme_casework.domain.lifecycle import CaseState, fold
from cme_casework.domain.permissions import Grant
from cme_shared.clock import Clock, FixedClock
from cme_shared.contracts.rights import DataItem
from cme_shared.retention import DEFAULT_SCHEDULE
from cme_shared.testing.fakes import FakeUnitOfWork

POLICY = ClockPolicy(calendars=load_calendars())


class DuplicateRow(Exception):
    """What a unique index of the real tables would refuse."""


class FakeCaseRecords:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.history: list[tuple[Entry, UUID]] = []  # (entry as stored, its child), in entry_id order
        self.cases: dict[UUID, dict[str, Any]] = {}  # the projection, by case_id
        self.restrictions: list[dict[str, Any]] = []
        self._ids = count(1)

    # --- the projection and its locks (a fake has no other transaction to wait for) -----------------

    async def lock(self, case_id: UUID) -> dict[str, Any] | None:
        return self.cases.get(case_id)

    async def row(self, case_id: UUID) -> dict[str, Any] | None:
        return self.cases.get(case_id)

    async def lock_child_cases(self, child_subject_id: UUID) -> list[dict[str, Any]]:
        rows = [row for row in self.cases.values() if row["child_subject_id"] == child_subject_id]
        return sorted(rows, key=lambda row: row["opened_at"], reverse=True)

    async def lock_children_cases(self, children: Iterable[UUID]) -> list[dict[str, Any]]:
        wanted = set(children)
        return sorted((row for row in self.cases.values() if row["child_subject_id"] in wanted),
                      key=lambda row: row["case_id"])

    async def lock_cases_of_subjects(self, subject_ids: Sequence[UUID]) -> list[dict[str, Any]]:
        return sorted(await self.cases_of_subjects(subject_ids), key=lambda row: row["case_id"])

    async def cases_of_subjects(self, subject_ids: Sequence[UUID]) -> list[dict[str, Any]]:
        wanted = set(subject_ids)
        return sorted((row for row in self.cases.values()
                       if row["child_subject_id"] in wanted or wanted & set(row["carer_subject_ids"])),
                      key=lambda row: row["opened_at"])

    async def project(self, state: CaseState, due: Due | None) -> None:
        if state.status is not None and state.status.value != "closed" and any(
                row["child_subject_id"] == state.child_subject_id and row["status"] != "closed"
                and case_id != state.case_id for case_id, row in self.cases.items()):
            raise DuplicateRow("cases_one_active_per_child")
        self.cases[state.case_id] = {
            "case_id": state.case_id, "child_subject_id": state.child_subject_id,
            "carer_subject_ids": [UUID(c) for c in state.carer_subject_ids], "child_upn": state.upn,
            "child_sex": state.sex, "child_date_of_birth": state.date_of_birth, "borough": state.borough,
            "allocated_to": state.allocated_to, "status": state.status.value if state.status else None,
            "reason": state.reason, "risk": state.risk.value, "opened_at": state.opened_at,
            "period_opened_on": state.clock_anchor, "closed_on": state.period.closed_on,
            "closure_reason": state.period.closure_reason, "next_due_date": due.on if due else None,
            "next_due_kind": due.kind.value if due else None, "last_entry_id": state.last_entry_id,
            "updated_at": self.clock.now(),
        }

    # --- the history --------------------------------------------------------------------------------

    async def entries(self, case_id: UUID) -> list[Entry]:
        return [entry for entry, _ in self.history if entry.case_id == case_id]

    async def state(self, case_id: UUID) -> CaseState:
        return fold(await self.entries(case_id))

    async def append(self, case_id: UUID | None, child_subject_id: UUID, entry: Entry) -> Entry:
        stored = replace(entry, entry_id=next(self._ids), recorded_at=self.clock.now(), case_id=case_id)
        self.history.append((stored, child_subject_id))
        return stored

    async def append_once(self, case_id: UUID | None, child_subject_id: UUID, entry: Entry) -> Entry | None:
        if entry.kind is Kind.REFERRAL_RELEASED and any(
                e.kind is Kind.REFERRAL_RELEASED and e.supersedes == entry.supersedes for e, _ in self.history):
            return None
        return await self.append(case_id, child_subject_id, entry)

    async def history_of_children(self, children: Sequence[UUID]) -> list[tuple[Entry, UUID]]:
        return [(entry, child) for entry, child in self.history if child in set(children)]

    async def case_ids(self) -> list[UUID]:
        return sorted({entry.case_id for entry, _ in self.history if entry.case_id is not None})

    async def states_as_at(self, day: date) -> list[CaseState]:
        opened = {e.case_id for e, _ in self.history if e.kind is Kind.CASE_OPENED and e.effective_on <= day}
        return [census.as_at([e for e, _ in self.history if e.case_id == case_id and e.kind in census.AS_AT_KINDS
                              and e.effective_on <= day], day) for case_id in sorted(opened)]

    def kinds(self, child_subject_id: UUID) -> list[str]:
        """What the child's history says, in order (for assertions)."""
        return [entry.kind.value for entry, child in self.history if child == child_subject_id]

    # --- referrals held while a subject is restricted -------------------------------------------------

    async def held_referral(self, entry_id: int, grant: Grant) -> tuple[Entry, UUID, bool] | None:
        for entry, child in self.history:
            if entry.entry_id == entry_id and entry.kind is Kind.REFERRAL_HELD_RESTRICTED:
                case = self.cases.get(entry.case_id) if entry.case_id else None
                borough = case["borough"] if case else entry.detail["referral"].get("borough")
                if not grant.covers(borough):
                    return None
                return entry, child, any(e.kind is Kind.REFERRAL_RELEASED and e.supersedes == entry_id
                                         for e, _ in self.history)
        return None

    async def unreleased_held_referrals(self, child_subject_id: UUID) -> list[Entry]:
        released = {e.supersedes for e, _ in self.history if e.kind is Kind.REFERRAL_RELEASED}
        return [e for e, child in self.history if child == child_subject_id
                and e.kind is Kind.REFERRAL_HELD_RESTRICTED and e.entry_id not in released]

    # --- UK GDPR Art 18 restrictions ----------------------------------------------------------------

    async def record_restriction(self, subject_ids: Sequence[UUID], rights_request_id: UUID, kind: str, reason: str,
                                 event_id: UUID) -> None:
        for subject in subject_ids:
            self.restrictions.append({"id": len(self.restrictions) + 1, "subject_id": subject, "kind": kind,
                                      "rights_request_id": rights_request_id, "reason": reason})

    async def restricted(self, subject_ids: Iterable[UUID]) -> bool:
        ids = set(subject_ids)
        return any(r["kind"] == "restricted" and r["subject_id"] in ids and not any(
            later["kind"] == "lifted" and later["subject_id"] == r["subject_id"]
            and later["rights_request_id"] == r["rights_request_id"] and later["id"] > r["id"]
            for later in self.restrictions) for r in self.restrictions)

    async def remember_restrictions(self, subject_ids: Iterable[UUID]) -> None:
        """The real one asks once for a batch; the fake answers from memory every time anyway."""


class FakeAccessLog:
    def __init__(self) -> None:
        self.recorded: list[dict[str, Any]] = []
        self.held: list[DataItem] = []

    async def record(self, request: Any, principal: Any, subject_ids: Iterable[UUID], **what: Any) -> int:
        subjects = list(dict.fromkeys(subject_ids))
        self.recorded.extend({"subject_id": s, **what} for s in subjects)
        return len(subjects)

    async def items(self, subject_ids: Sequence[UUID]) -> list[DataItem]:
        return [item for item in self.held if item.subject_id in set(subject_ids)]


class FakeEheRecords:
    """`adapters.ehe_repository.EheRecords` in memory: the EHE history, its projection, the register versions."""

    def __init__(self, clock: Clock, rules: EheRules) -> None:
        self.clock, self.rules = clock, rules
        self.history: list[tuple[EheEntry, UUID]] = []
        self.records: dict[UUID, dict[str, Any]] = {}
        self.register: list[dict[str, Any]] = []
        self._ids = count(1)

    async def lock_child_records(self, child_subject_id: UUID) -> list[dict[str, Any]]:
        rows = [r for r in self.records.values() if r["child_subject_id"] == child_subject_id]
        return sorted(rows, key=lambda r: r["opened_at"], reverse=True)

    async def row(self, ehe_id: UUID) -> dict[str, Any] | None:
        return self.records.get(ehe_id)

    async def entries(self, ehe_id: UUID) -> list[EheEntry]:
        return [e for e, _ in self.history if e.ehe_id == ehe_id]

    async def state(self, ehe_id: UUID) -> EheState:
        return ehe_fold(await self.entries(ehe_id), self.rules)

    async def append(self, ehe_id: UUID, child_subject_id: UUID, entry: EheEntry) -> EheEntry:
        stored = replace(entry, entry_id=next(self._ids), recorded_at=self.clock.now(), ehe_id=ehe_id)
        self.history.append((stored, child_subject_id))
        return stored

    async def notice_seen(self, ehe_id: UUID, intake_id: str) -> bool:
        return any(e.ehe_id == ehe_id and e.kind is EheKind.NOTICE_RECEIVED and e.detail.get("intake_id") == intake_id
                   for e, _ in self.history)

    async def project(self, state: EheState, due: EheDue | None) -> None:
        if state.status is not EheStatus.CLOSED and any(
                r["child_subject_id"] == state.child_subject_id and r["status"] != "closed" and i != state.ehe_id
                for i, r in self.records.items()):
            raise DuplicateRow("ehe_records_one_open_per_child")
        self.records[state.ehe_id] = {
            "ehe_id": state.ehe_id, "child_subject_id": state.child_subject_id, "borough": state.borough,
            "status": state.status.value, "notice_on": state.notice_on, "outcome": state.outcome,
            "cme_case_id": UUID(state.cme_case_id) if state.cme_case_id else None,
            "review_due_on": state.review_due_on, "next_due_date": due.on if due else None,
            "next_due_kind": due.kind.value if due else None,
            "closed_on": state.closed["closed_on"] if state.closed else None,
            "opened_at": state.opened_at or self.clock.now(), "last_entry_id": state.last_entry_id}

    async def states_as_at(self, day: date) -> list[EheState]:
        ids = sorted({e.ehe_id for e, _ in self.history if e.ehe_id is not None})
        return [ehe_fold([e for e, _ in self.history if e.ehe_id == i and e.effective_on <= day], self.rules)
                for i in ids if any(e.ehe_id == i and e.effective_on <= day for e, _ in self.history)]

    async def s437_periods_ended(self, today: date) -> list[dict[str, Any]]:
        return [r for r in self.records.values() if r["status"] == "s437_notice"
                and r["next_due_kind"] == "s437_period_ends" and r["next_due_date"] < today]

    async def records_of_children(self, children: Sequence[UUID]) -> list[dict[str, Any]]:
        return [r for r in self.records.values() if r["child_subject_id"] in set(children)]

    async def history_of_children(self, children: Sequence[UUID]) -> list[tuple[EheEntry, UUID]]:
        return [(e, c) for e, c in self.history if c in set(children)]

    async def register_latest(self, child_subject_id: UUID) -> dict[str, Any] | None:
        return next((r for r in reversed(self.register) if r["child_subject_id"] == child_subject_id), None)

    async def register_add(self, **values: Any) -> dict[str, Any]:
        row = {"version_id": len(self.register) + 1, "recorded_at": self.clock.now(), **values}
        self.register.append(row)
        return row

    async def register_of_children(self, children: Sequence[UUID]) -> list[dict[str, Any]]:
        return [r for r in self.register if r["child_subject_id"] in set(children)]


class FakeTombstones:
    """The kit's `Tombstones` in memory (what a subject access answer reads of them)."""

    def __init__(self) -> None:
        self.held: list[Any] = []

    async def about(self, subject_ids: Any = (), digests: Any = ()) -> list[Any]:
        return [t for t in self.held if set(t.subject_ids) & set(subject_ids)]


class FakeRetention:
    """`adapters.retention_store.RetentionRecords`, as far as the handlers use it (tombstones)."""

    def __init__(self) -> None:
        self.tombstones = FakeTombstones()


class FakeCaseworkUnitOfWork(FakeUnitOfWork[CaseworkBatch]):
    def __init__(self, cases: FakeCaseRecords | None = None, clock: FixedClock | None = None,
                 policy: ClockPolicy = POLICY, ehe_rules: EheRules | None = None, cnis_register: bool = False,
                 ehe: FakeEheRecords | None = None) -> None:
        super().__init__(clock)
        self.cases = cases or FakeCaseRecords(self.clock)
        self.access_log = FakeAccessLog()
        self.retention = FakeRetention()
        self.schedule = DEFAULT_SCHEDULE
        self.policy = policy
        self.ehe_rules = ehe_rules or EheRules()
        self.cnis_register = cnis_register
        self.ehe = ehe or FakeEheRecords(self.clock, self.ehe_rules)

    def new_batch(self) -> CaseworkBatch:
        return CaseworkBatch()
