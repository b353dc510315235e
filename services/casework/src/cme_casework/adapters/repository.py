"""Reading and writing a case: its history (append-only) and the `cases` projection kept beside it.

`CaseRecords` is the unit of work's `cases` (adapters/unit_of_work.py): every statement on casework's
aggregates is here. What a batch of records shares (the case rows it locked, who is restricted) is kept in
the unit of work's `CaseworkBatch`, never in the session.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from itertools import groupby
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Select, and_, any_, bindparam, exists, false, func, or_, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cme_shared.clock import Clock
from cme_shared.contracts.categories import DataCategory
from cme_shared.messaging.held_inserts import HeldInserts

from ..domain import census
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

_held, _released = case_history.alias("held"), case_history.alias("released")
# A release points at the held entry (a unique index makes it once only: migration 0002).
_is_released = exists().where(and_(_released.c.kind == Kind.REFERRAL_RELEASED.value,
                                   _released.c.supersedes == _held.c.entry_id))
# A held referral belongs to the borough of the case it is kept with, else to the borough it names.
_held_borough = func.coalesce(cases.c.borough, _held.c.detail["referral"]["borough"].astext)


def held_referrals_query(grant: Grant) -> Select[Any]:
    """Referrals held while a subject was restricted, in the grant's reach, oldest first, each with its
    borough and whether it has been released (for the HTTP list in views.py and for a release here)."""
    return (select(_held, _held_borough.label("borough"), _is_released.label("released"))
            .select_from(_held.outerjoin(cases, cases.c.case_id == _held.c.case_id))
            .where(_held.c.kind == Kind.REFERRAL_HELD_RESTRICTED.value, in_reach(grant, _held_borough))
            .order_by(_held.c.entry_id))


def not_released() -> ColumnElement[bool]:
    return ~_is_released


@dataclass
class CaseworkBatch:
    """What one transaction (one record, one HTTP request, or a whole batch of referrals) notes as it goes."""

    # child -> its case rows as locked (`lock_children_cases`, a batch's prepare hook), until written again
    cases_locked: dict[UUID, list[Any]] | None = None
    # (the subjects asked about, those of them restricted), until a restriction is recorded
    restrictions_known: tuple[frozenset[UUID], frozenset[UUID]] | None = None


class CaseRecords:
    """One transaction's view of casework's records."""

    def __init__(self, session: AsyncSession, batch: CaseworkBatch, clock: Clock, held: HeldInserts) -> None:
        self.session, self.batch, self.clock, self.held = session, batch, clock, held

    async def lock(self, case_id: UUID) -> RowMapping | None:
        """The case's projection row, locked until the transaction ends, so writes to one case queue up."""
        query = select(cases).where(cases.c.case_id == case_id).with_for_update()
        return (await self.session.execute(query)).mappings().first()

    async def row(self, case_id: UUID) -> RowMapping | None:
        return (await self.session.execute(select(cases).where(cases.c.case_id == case_id))).mappings().first()

    async def lock_child_cases(self, child_subject_id: UUID) -> list[RowMapping]:
        """The child's cases, newest first, locked (in case_id order, like every multi-case lock)."""
        locked = (self.batch.cases_locked or {}).get(child_subject_id)
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
        until it ends): `project` puts the row it writes in place when it holds the write (a batch's fast
        path), and otherwise makes the child's cases be read again."""
        wanted = list(children)
        rows = list((await self.session.execute(_LOCK_CHILDREN_CASES, {"children": wanted})).mappings())
        by_child: dict[UUID, list[RowMapping]] = {child: [] for child in wanted}
        for row in rows:
            by_child[row["child_subject_id"]].append(row)
        self.batch.cases_locked = by_child
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

    async def append_once(self, case_id: UUID | None, child_subject_id: UUID, entry: Entry) -> Entry | None:
        """`append`, or None when a unique index says the entry was written already (a held referral's
        release: migration 0002); the transaction can then only be rolled back."""
        try:
            return await self.append(case_id, child_subject_id, entry)
        except IntegrityError:
            return None

    async def project(self, state: CaseState, due: Due | None) -> None:
        """Write the `cases` row for `state`: what GET /cases, the overdue list and the census read."""
        values: dict[str, Any] = {
            "child_subject_id": state.child_subject_id, "carer_subject_ids": [UUID(c) for c in state.carer_subject_ids],
            "child_upn": state.upn, "child_sex": state.sex, "child_date_of_birth": state.date_of_birth,
            "borough": state.borough, "allocated_to": state.allocated_to, "status": state.status.value if state.status else None, "reason": state.reason,
            "risk": state.risk.value, "opened_at": state.opened_at, "period_opened_on": state.clock_anchor,
            "closed_on": state.period.closed_on, "closure_reason": state.period.closure_reason,
            "next_due_date": due.on if due else None, "next_due_kind": due.kind.value if due else None,
            "last_entry_id": state.last_entry_id, "updated_at": self.clock.now(),
        }
        row = {"case_id": state.case_id, **values}
        locked = self.batch.cases_locked
        if locked is not None and self.held.holding and state.child_subject_id in locked:
            # In a batch the row is written with the batch's other rows, before the commit: until then the
            # child's locked rows answer with it in place of what was read.
            others = [r for r in locked[state.child_subject_id] if r["case_id"] != state.case_id]
            locked[state.child_subject_id] = [*others, row]
        elif locked is not None:
            locked.pop(state.child_subject_id, None)  # no longer as read
        await self.held.insert(_project_statement(frozenset(values)), row)

    async def restricted(self, subject_ids: Iterable[UUID]) -> bool:
        """UK GDPR Art 18: restricted while any request's restriction of any of these subjects is not lifted."""
        ids = list(subject_ids)
        if not ids:
            return False
        known = self.batch.restrictions_known
        if known is not None and known[0].issuperset(ids):
            return not known[1].isdisjoint(ids)
        return bool(await self._restricted_among(ids))

    async def remember_restrictions(self, subject_ids: Iterable[UUID]) -> None:
        """Ask once which of these subjects are restricted, for `restricted` to answer from in this transaction
        (a batch asks for all its subjects at once instead of once per referral). Recording a restriction
        in this transaction forgets the answer."""
        ids = set(subject_ids)
        self.batch.restrictions_known = (frozenset(ids), await self._restricted_among(ids))

    async def _restricted_among(self, subject_ids: Iterable[UUID]) -> frozenset[UUID]:
        rows = await self.session.execute(_RESTRICTED_AMONG, {"ids": list(subject_ids)})
        return frozenset(rows.scalars())

    async def record_restriction(self, subject_ids: Sequence[UUID], rights_request_id: UUID, kind: str, reason: str,
                                 event_id: UUID) -> None:
        self.batch.restrictions_known = None
        await self.session.execute(restriction_events.insert(), [
            {"subject_id": s, "rights_request_id": rights_request_id, "kind": kind, "reason": reason,
             "event_id": event_id} for s in subject_ids])

    async def cases_of_subjects(self, subject_ids: Sequence[UUID]) -> list[RowMapping]:
        """Cases about these subjects, as the child or as a carer named in a referral."""
        query = select(cases).where(
            cases.c.child_subject_id.in_(subject_ids) | cases.c.carer_subject_ids.overlap(list(subject_ids))
        ).order_by(cases.c.opened_at)
        return list((await self.session.execute(query)).mappings())

    async def history_of_children(self, children: Sequence[UUID]) -> list[tuple[Entry, UUID]]:
        """Every history entry about these children, in the order written, each with its child."""
        query = (select(case_history).where(case_history.c.child_subject_id.in_(children))
                 .order_by(case_history.c.entry_id))
        return [(entry_from_row(row), row["child_subject_id"]) for row in (await self.session.execute(query)).mappings()]

    async def case_ids(self) -> list[UUID]:
        """Every case the history knows, in case_id order (the order every path locks them in)."""
        query = (select(case_history.c.case_id).where(case_history.c.case_id.is_not(None)).distinct()
                 .order_by(case_history.c.case_id))
        return list((await self.session.execute(query)).scalars().all())

    async def states_as_at(self, day: date) -> list[CaseState]:
        """Every case opened by `day`, as it stood that day (the census return's view)."""
        opened_by_then = (select(case_history.c.case_id)
                          .where(case_history.c.kind == Kind.CASE_OPENED.value, case_history.c.effective_on <= day))
        rows = (await self.session.execute(
            select(case_history).where(case_history.c.case_id.in_(opened_by_then),
                                       case_history.c.kind.in_([k.value for k in census.AS_AT_KINDS]),
                                       case_history.c.effective_on <= day)
            .order_by(case_history.c.case_id, case_history.c.entry_id)
        )).mappings()
        return [census.as_at((entry_from_row(row) for row in group), day)
                for _, group in groupby(rows, key=lambda r: r["case_id"])]

    async def held_referral(self, entry_id: int, grant: Grant) -> tuple[Entry, UUID, bool] | None:
        """A held referral the grant reaches: its entry, its child, and whether it was released already."""
        row = (await self.session.execute(held_referrals_query(grant).where(_held.c.entry_id == entry_id))
               ).mappings().first()
        return None if row is None else (entry_from_row(row), row["child_subject_id"], row["released"])

    async def unreleased_held_referrals(self, child_subject_id: UUID) -> list[Entry]:
        """The child's referrals held while a restriction lasted and not acted on yet, in the order they came."""
        query = (select(_held).where(_held.c.child_subject_id == child_subject_id,
                                     _held.c.kind == Kind.REFERRAL_HELD_RESTRICTED.value, ~_is_released)
                 .order_by(_held.c.entry_id))
        return [entry_from_row(row) for row in (await self.session.execute(query)).mappings()]
