"""Reading and writing EHE records (append-only `ehe_history`, the `ehe_records` projection) and the
children-not-in-school register's versions: every statement on them is here (the unit of work's `ehe`)."""

from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from itertools import groupby
from typing import Any
from uuid import UUID

from sqlalchemy import exists, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from cme_shared.clock import Clock
from cme_shared.contracts.categories import DataCategory

from ..domain.ehe import EheDue, EheEntry, EheKind, EheRules, EheState, fold
from .tables import cnis_register_entries, ehe_history, ehe_records


def ehe_entry_from_row(row: RowMapping) -> EheEntry:
    return EheEntry(kind=EheKind(row["kind"]), actor=row["actor"], reason=row["reason"],
                    effective_on=row["effective_on"], category=DataCategory(row["category"]), source=row["source"],
                    detail=row["detail"], entry_id=row["entry_id"], recorded_at=row["recorded_at"],
                    ehe_id=row["ehe_id"])


_APPEND = ehe_history.insert().returning(ehe_history.c.entry_id, ehe_history.c.recorded_at)


class EheRecords:
    """One transaction's view of the EHE records and the register."""

    def __init__(self, session: AsyncSession, clock: Clock, rules: EheRules) -> None:
        self.session, self.clock, self.rules = session, clock, rules

    async def lock_child_records(self, child_subject_id: UUID) -> list[RowMapping]:
        """The child's EHE records, newest first, locked (after the child's cases: the one lock order)."""
        query = (select(ehe_records).where(ehe_records.c.child_subject_id == child_subject_id)
                 .order_by(ehe_records.c.ehe_id).with_for_update())
        rows = list((await self.session.execute(query)).mappings())
        return sorted(rows, key=lambda row: row["opened_at"], reverse=True)

    async def row(self, ehe_id: UUID) -> RowMapping | None:
        return (await self.session.execute(select(ehe_records).where(ehe_records.c.ehe_id == ehe_id))).mappings().first()

    async def entries(self, ehe_id: UUID) -> list[EheEntry]:
        query = select(ehe_history).where(ehe_history.c.ehe_id == ehe_id).order_by(ehe_history.c.entry_id)
        return [ehe_entry_from_row(row) for row in (await self.session.execute(query)).mappings()]

    async def state(self, ehe_id: UUID) -> EheState:
        return fold(await self.entries(ehe_id), self.rules)

    async def append(self, ehe_id: UUID, child_subject_id: UUID, entry: EheEntry) -> EheEntry:
        row = (await self.session.execute(_APPEND, dict(
            ehe_id=ehe_id, child_subject_id=child_subject_id, kind=entry.kind.value, actor=entry.actor,
            reason=entry.reason, effective_on=entry.effective_on, category=entry.category.value, source=entry.source,
            detail=entry.detail))).one()
        return replace(entry, entry_id=row.entry_id, recorded_at=row.recorded_at, ehe_id=ehe_id)

    async def notice_seen(self, ehe_id: UUID, intake_id: str) -> bool:
        """Whether this referral is already a notice on the record (a redelivery, a release run twice)."""
        query = select(exists().where(ehe_history.c.ehe_id == ehe_id,
                                      ehe_history.c.kind == EheKind.NOTICE_RECEIVED.value,
                                      ehe_history.c.detail["intake_id"].astext == intake_id))
        return bool((await self.session.execute(query)).scalar())

    async def project(self, state: EheState, due: EheDue | None) -> None:
        values: dict[str, Any] = {
            "child_subject_id": state.child_subject_id, "borough": state.borough,
            "status": state.status.value if state.status else "notified", "notice_on": state.notice_on,
            "outcome": state.outcome, "cme_case_id": UUID(state.cme_case_id) if state.cme_case_id else None,
            "review_due_on": state.review_due_on, "next_due_date": due.on if due else None,
            "next_due_kind": due.kind.value if due else None,
            "closed_on": state.closed["closed_on"] if state.closed else None,
            "opened_at": state.opened_at or self.clock.now(), "last_entry_id": state.last_entry_id,
            "updated_at": self.clock.now(),
        }
        upsert = insert(ehe_records).values(ehe_id=state.ehe_id, **values)
        await self.session.execute(upsert.on_conflict_do_update(index_elements=[ehe_records.c.ehe_id], set_=values))

    async def states_as_at(self, day: date) -> list[EheState]:
        """Every EHE record as it stood on `day` (only what had happened by then)."""
        rows = (await self.session.execute(
            select(ehe_history).where(ehe_history.c.effective_on <= day)
            .order_by(ehe_history.c.ehe_id, ehe_history.c.entry_id))).mappings()
        return [fold((ehe_entry_from_row(r) for r in group), self.rules)
                for _, group in groupby(rows, key=lambda r: r["ehe_id"])]

    async def s437_periods_ended(self, today: date) -> list[RowMapping]:
        """Records whose s437(1) period ended before today with no answer recorded (the sweep's candidates)."""
        query = (select(ehe_records.c.ehe_id, ehe_records.c.child_subject_id)
                 .where(ehe_records.c.status == "s437_notice", ehe_records.c.next_due_kind == "s437_period_ends",
                        ehe_records.c.next_due_date < today).order_by(ehe_records.c.next_due_date))
        return list((await self.session.execute(query)).mappings())

    async def records_of_children(self, children: Sequence[UUID]) -> list[RowMapping]:
        query = (select(ehe_records).where(ehe_records.c.child_subject_id.in_(list(children)))
                 .order_by(ehe_records.c.opened_at))
        return list((await self.session.execute(query)).mappings())

    async def history_of_children(self, children: Sequence[UUID]) -> list[tuple[EheEntry, UUID]]:
        query = (select(ehe_history).where(ehe_history.c.child_subject_id.in_(list(children)))
                 .order_by(ehe_history.c.entry_id))
        return [(ehe_entry_from_row(row), row["child_subject_id"])
                for row in (await self.session.execute(query)).mappings()]

    # --- the children-not-in-school register (only reached with the feature on) ----------------------

    async def register_latest(self, child_subject_id: UUID) -> RowMapping | None:
        query = (select(cnis_register_entries).where(cnis_register_entries.c.child_subject_id == child_subject_id)
                 .order_by(cnis_register_entries.c.version_id.desc()).limit(1))
        return (await self.session.execute(query)).mappings().first()

    async def register_add(self, *, child_subject_id: UUID, ehe_id: UUID, borough: str | None,
                           content: dict[str, Any], entered_by: str, reason: str) -> RowMapping:
        statement = cnis_register_entries.insert().values(
            child_subject_id=child_subject_id, ehe_id=ehe_id, borough=borough, content=content,
            entered_by=entered_by, reason=reason).returning(*cnis_register_entries.c)
        return (await self.session.execute(statement)).mappings().one()

    async def register_of_children(self, children: Sequence[UUID]) -> list[RowMapping]:
        query = (select(cnis_register_entries).where(cnis_register_entries.c.child_subject_id.in_(list(children)))
                 .order_by(cnis_register_entries.c.version_id))
        return list((await self.session.execute(query)).mappings())
