"""Reading and writing a case: its history (append-only) and the `cases` projection kept beside it."""

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, and_, any_, bindparam, exists, false, or_, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from cme_shared.contracts.categories import DataCategory
from cme_shared.messaging import deferred

from ..domain.clocks import Due
from ..domain.history import Entry, Kind
from ..domain.lifecycle import CaseState, fold
from ..domain.permissions import Grant
from .tables import case_history, cases, restriction_events


def in_reach(grant: Grant, borough: ColumnElement[str | None] = cases.c.borough) -> ColumnElement[bool]:
    """The rows whose borough the grant reaches (a null borough: a case no borough has yet)."""
    named = [b for b in grant.boroughs if b is not None]
    clause = borough.in_(named) if named else false()
    return or_(clause, borough.is_(None)) if None in grant.boroughs else clause


def entry_from_row(row: RowMapping) -> Entry:
    return Entry(kind=Kind(row["kind"]), actor=row["actor"], reason=row["reason"], effective_on=row["effective_on"],
                 category=DataCategory(row["category"]), source=row["source"], detail=row["detail"],
                 supersedes=row["supersedes"], entry_id=row["entry_id"], recorded_at=row["recorded_at"],
                 case_id=row["case_id"])


# Statements built once: building them per referral cost more Python than the round trips themselves.
_APPEND = case_history.insert().returning(case_history.c.entry_id, case_history.c.recorded_at)
# `project`'s upsert, per set of projected columns (there is one): each of them takes the new value.
_PROJECT: dict[frozenset[str], Any] = {}


def _project_statement(columns: frozenset[str]) -> Any:
    statement = _PROJECT.get(columns)
    if statement is None:
        upsert = insert(cases)
        statement = _PROJECT[columns] = upsert.on_conflict_do_update(
            index_elements=[cases.c.case_id], set_={name: upsert.excluded[name] for name in sorted(columns)})
    return statement


# lock_where(cases.c.child_subject_id == child), built once.
_LOCK_CHILD_CASES = (select(cases).where(cases.c.child_subject_id == bindparam("child"))
                     .order_by(cases.c.case_id).with_for_update())
# lock_where(cases.c.child_subject_id.in_(children)), built once, the children given as one array.
_LOCK_CHILDREN_CASES = (select(cases).where(cases.c.child_subject_id == any_(bindparam("children", type_=ARRAY(PG_UUID))))
                        .order_by(cases.c.case_id).with_for_update())
_r, _lifted = restriction_events.alias("r"), restriction_events.alias("l")
# A restriction still in force: recorded, and not lifted since under the same rights request.
_IN_FORCE = and_(_r.c.kind == "restricted", ~exists().where(and_(
    _lifted.c.subject_id == _r.c.subject_id, _lifted.c.rights_request_id == _r.c.rights_request_id,
    _lifted.c.kind == "lifted", _lifted.c.id > _r.c.id)))
# The subjects among these that are restricted now.
_RESTRICTED_AMONG = (select(_r.c.subject_id).distinct()
                     .where(_r.c.subject_id == any_(bindparam("ids", type_=ARRAY(PG_UUID))), _IN_FORCE))
_CASES_LOCKED = "casework_cases_locked"  # session.info: child -> its case rows as locked (lock_children_cases)
_RESTRICTIONS_KNOWN = "casework_restrictions_known"  # session.info: (subjects asked about, those restricted)


class CaseRecords:
    """One transaction's view of casework's records."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock(self, case_id: UUID) -> RowMapping | None:
        """The case's projection row, locked until the transaction ends, so writes to one case queue up."""
        query = select(cases).where(cases.c.case_id == case_id).with_for_update()
        return (await self.session.execute(query)).mappings().first()

    async def row(self, case_id: UUID) -> RowMapping | None:
        return (await self.session.execute(select(cases).where(cases.c.case_id == case_id))).mappings().first()

    async def lock_child_cases(self, child_subject_id: UUID) -> list[RowMapping]:
        """The child's cases, newest first, locked (in case_id order, like every multi-case lock)."""
        locked = self.session.info.get(_CASES_LOCKED, {}).get(child_subject_id)
        rows = locked if locked is not None else list(
            (await self.session.execute(_LOCK_CHILD_CASES, {"child": child_subject_id})).mappings())
        return sorted(rows, key=lambda row: row["opened_at"], reverse=True)

    async def lock_where(self, condition: ColumnElement[bool]) -> list[RowMapping]:
        """Lock every case matching `condition` in one statement, in case_id order.

        Every path that locks more than one case locks them in the same order (a referral, a restriction,
        its release), so two transactions never each hold a case the other waits for (no deadlock).
        PostgreSQL locks the rows as the sorted result is read, so the ORDER BY is the lock order.
        """
        query = select(cases).where(condition).order_by(cases.c.case_id).with_for_update()
        return list((await self.session.execute(query)).mappings())

    async def lock_children_cases(self, children: Iterable[UUID]) -> list[RowMapping]:
        """Every case of these children, locked in case_id order (as `lock_where` does), in one statement.

        The rows are kept for `lock_child_cases` to answer from in this transaction (the locks are held
        until it ends): `project` puts the row it writes in place when it defers the write (a batch's fast
        path), and otherwise makes the child's cases be read again."""
        wanted = list(children)
        rows = list((await self.session.execute(_LOCK_CHILDREN_CASES, {"children": wanted})).mappings())
        by_child: dict[UUID, list[RowMapping]] = {child: [] for child in wanted}
        for row in rows:
            by_child[row["child_subject_id"]].append(row)
        self.session.info[_CASES_LOCKED] = by_child
        return rows

    async def lock_cases_of_subjects(self, subject_ids: Sequence[UUID]) -> list[RowMapping]:
        """Lock the cases about these subjects and every other case of the children concerned (a release of
        held referrals touches those), all in case_id order; returns the cases about the subjects."""
        ids = list(subject_ids)
        about = cases.c.child_subject_id.in_(ids) | cases.c.carer_subject_ids.overlap(ids)
        other = cases.alias("about_subjects")
        children = select(other.c.child_subject_id).where(
            other.c.child_subject_id.in_(ids) | other.c.carer_subject_ids.overlap(ids))
        locked = await self.lock_where(about | cases.c.child_subject_id.in_(children))
        wanted = set(ids)
        return [row for row in locked
                if row["child_subject_id"] in wanted or wanted & set(row["carer_subject_ids"])]

    async def entries(self, case_id: UUID) -> list[Entry]:
        query = select(case_history).where(case_history.c.case_id == case_id).order_by(case_history.c.entry_id)
        return [entry_from_row(row) for row in (await self.session.execute(query)).mappings()]

    async def state(self, case_id: UUID) -> CaseState:
        return fold(await self.entries(case_id))

    async def append(self, case_id: UUID | None, child_subject_id: UUID, entry: Entry) -> Entry:
        row = (await self.session.execute(_APPEND, dict(
            case_id=case_id, child_subject_id=child_subject_id, kind=entry.kind.value, actor=entry.actor,
            reason=entry.reason, effective_on=entry.effective_on, category=entry.category.value,
            source=entry.source, detail=entry.detail, supersedes=entry.supersedes,
        ))).one()
        return replace(entry, entry_id=row.entry_id, recorded_at=row.recorded_at, case_id=case_id)

    async def project(self, state: CaseState, due: Due | None) -> None:
        """Write the `cases` row for `state`: what GET /cases, the overdue list and the census read."""
        values: dict[str, Any] = {
            "child_subject_id": state.child_subject_id, "carer_subject_ids": [UUID(c) for c in state.carer_subject_ids],
            "child_upn": state.upn, "child_sex": state.sex, "child_date_of_birth": state.date_of_birth,
            "borough": state.borough, "allocated_to": state.allocated_to, "status": state.status.value if state.status else None, "reason": state.reason,
            "risk": state.risk.value, "opened_at": state.opened_at, "period_opened_on": state.clock_anchor,
            "closed_on": state.period.closed_on, "closure_reason": state.period.closure_reason,
            "next_due_date": due.on if due else None, "next_due_kind": due.kind.value if due else None,
            "last_entry_id": state.last_entry_id, "updated_at": datetime.now(UTC),
        }
        row = {"case_id": state.case_id, **values}
        locked = self.session.info.get(_CASES_LOCKED)
        if locked is not None and deferred.active(self.session) and state.child_subject_id in locked:
            # In a batch the row is written with the batch's other rows, before the commit: until then the
            # child's locked rows answer with it in place of what was read.
            others = [r for r in locked[state.child_subject_id] if r["case_id"] != state.case_id]
            locked[state.child_subject_id] = [*others, row]
        elif locked is not None:
            locked.pop(state.child_subject_id, None)  # no longer as read
        await deferred.insert(self.session, _project_statement(frozenset(values)), row)

    async def restricted(self, subject_ids: Iterable[UUID]) -> bool:
        """UK GDPR Art 18: restricted while any request's restriction of any of these subjects is not lifted."""
        ids = list(subject_ids)
        if not ids:
            return False
        known = self.session.info.get(_RESTRICTIONS_KNOWN)
        if known is not None and known[0].issuperset(ids):
            return not known[1].isdisjoint(ids)
        return bool(await self._restricted_among(ids))

    async def remember_restrictions(self, subject_ids: Iterable[UUID]) -> None:
        """Ask once which of these subjects are restricted, for `restricted` to answer from in this transaction
        (a batch asks for all its subjects at once instead of once per referral). Recording a restriction
        in this transaction forgets the answer."""
        ids = set(subject_ids)
        self.session.info[_RESTRICTIONS_KNOWN] = (frozenset(ids), await self._restricted_among(ids))

    async def _restricted_among(self, subject_ids: Iterable[UUID]) -> frozenset[UUID]:
        rows = await self.session.execute(_RESTRICTED_AMONG, {"ids": list(subject_ids)})
        return frozenset(rows.scalars())

    async def record_restriction(self, subject_ids: Sequence[UUID], rights_request_id: UUID, kind: str, reason: str,
                                 event_id: UUID) -> None:
        self.session.info.pop(_RESTRICTIONS_KNOWN, None)
        await self.session.execute(restriction_events.insert(), [
            {"subject_id": s, "rights_request_id": rights_request_id, "kind": kind, "reason": reason,
             "event_id": event_id} for s in subject_ids])

    async def cases_of_subjects(self, subject_ids: Sequence[UUID]) -> list[RowMapping]:
        """Cases about these subjects, as the child or as a carer named in a referral."""
        query = select(cases).where(
            cases.c.child_subject_id.in_(subject_ids) | cases.c.carer_subject_ids.overlap(list(subject_ids))
        ).order_by(cases.c.opened_at)
        return list((await self.session.execute(query)).mappings())
