"""Casework's retention statements: what the disposal rules read, and how a record's content goes.

`RetentionRecords` is the unit of work's `retention` (adapters/unit_of_work.py), with the kit's two
repositories on the same session: `holds` (legal_holds) and `tombstones` (disposal_tombstones). The runtime
role uses it to place and lift holds, read the report and answer a subject access request with tombstones;
only the disposal job's login (`cme_casework_disposal`, migration 0009) can carry out `remove_case` and
`remove_loose`, since only it may delete history rows (the history tables' trigger lets it alone through).
"""

from collections.abc import Sequence
from datetime import date
from itertools import groupby
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import LargeBinary, and_, delete, func, literal, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cme_shared.contracts.categories import DataCategory
from cme_shared.retention import LegalHolds, Tombstones

from cme_shared.contracts import topics

from ..domain.history import Kind
from ..domain.ehe import EheKind
from ..domain.retention import (CaseFacts, EheFacts, HistoryClosure, LooseRecord, case_facts_from, ehe_facts_from,
                                ehe_history_closure, history_closure)
from .ehe_repository import ehe_entry_from_row
from .repository import _IN_FORCE, _r, entry_from_row
from .tables import case_history, cases, cnis_register_entries, ehe_history, ehe_records, kit

LONDON = ZoneInfo("Europe/London")
outbox = kit.outbox

# The referral an entry came from: intake's id of it, wherever the entry's kind keeps it.
_INTAKE_ID = func.coalesce(case_history.c.detail["referral"]["intake_id"].astext,
                           case_history.c.detail["intake_id"].astext,
                           case_history.c.detail["event"]["intake_id"].astext)


# The entries that decide whether a case is closed and since when (lifecycle.fold of these alone gives the
# same status and periods as the whole history: the others never open, reopen or close a case).
# REFERRAL_JOINED: the carers it names (a hold on a carer must find the case whatever the projection says).
_LIFECYCLE = (Kind.CASE_OPENED, Kind.CASE_REOPENED, Kind.CASE_CLOSED, Kind.REFERRAL_JOINED)
# Outbox rows the disposal of a case keeps: its own RecordsDisposed and the holds (ids, codes, dates only).
_KEPT_TOPICS = (topics.RETENTION_DISPOSALS, topics.LEGAL_HOLDS)


def _mentions(needle: str) -> Any:
    """An outbox row whose payload (the event's JSON) names `needle` (an id: no LIKE wildcards in it)."""
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return outbox.c.payload.op("LIKE")(literal(("%" + escaped + "%").encode(), LargeBinary))  # bytea LIKE


def _categories(values: Sequence[str] | None) -> tuple[DataCategory, ...]:
    known = {c.value for c in DataCategory}
    return tuple(DataCategory(v) for v in (values or ()) if v in known)


class RetentionRecords:
    """One transaction's view of what retention needs from casework's tables."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.holds = LegalHolds(session)
        self.tombstones = Tombstones(session)

    # --- what the rules read -------------------------------------------------------------------------

    async def case_facts(self, case_id: UUID | None = None) -> list[CaseFacts]:
        """Every case (or one): closed or not and when FROM ITS HISTORY (the entries that open, reopen and
        close it, folded: append-only, so the running service's login cannot rewrite them), with the
        `cases` projection's status and closure day kept where they disagree; carers, the categories its
        history holds, its referrals."""
        h = case_history.alias("h")
        categories = (select(func.array_agg(h.c.category.distinct())).where(h.c.case_id == cases.c.case_id)
                      .scalar_subquery())
        intake = func.coalesce(h.c.detail["referral"]["intake_id"].astext, h.c.detail["intake_id"].astext,
                               h.c.detail["event"]["intake_id"].astext)
        intake_ids = (select(func.array_agg(intake.distinct())).where(h.c.case_id == cases.c.case_id, intake.is_not(None))
                      .scalar_subquery())
        query = (select(cases.c.case_id, cases.c.child_subject_id, cases.c.carer_subject_ids, cases.c.status,
                        cases.c.closed_on, categories.label("categories"), intake_ids.label("intake_ids"))
                 .order_by(cases.c.case_id))
        lifecycle = (select(case_history).where(case_history.c.case_id.is_not(None),
                                                case_history.c.kind.in_([k.value for k in _LIFECYCLE]))
                     .order_by(case_history.c.case_id, case_history.c.entry_id))
        if case_id is not None:
            query = query.where(cases.c.case_id == case_id)
            lifecycle = lifecycle.where(case_history.c.case_id == case_id)
        rows = (await self.session.execute(query)).mappings().all()
        histories = {key: history_closure([entry_from_row(r) for r in group]) for key, group in groupby(
            (await self.session.execute(lifecycle)).mappings(), key=lambda r: r["case_id"])}
        return [case_facts_from(r["case_id"], r["child_subject_id"],
                                histories.get(r["case_id"], HistoryClosure(False, None, "no_history")),
                                r["status"] == "closed", r["closed_on"], carer_subject_ids=tuple(r["carer_subject_ids"] or ()),
                                categories=_categories(r["categories"]), intake_ids=tuple(r["intake_ids"] or ()))
                for r in rows]

    async def loose_records(self) -> list[LooseRecord]:
        """The history entries with no case, one record per referral (its intake id)."""
        rows = await self.session.execute(
            select(case_history.c.entry_id, case_history.c.child_subject_id, case_history.c.category,
                   case_history.c.recorded_at, _INTAKE_ID.label("intake_id"),
                   case_history.c.detail["carer_subject_ids"].label("carers"))
            .where(case_history.c.case_id.is_(None)).order_by(case_history.c.entry_id))
        grouped: dict[str, dict[str, Any]] = {}
        for r in rows.mappings():
            record_id = r["intake_id"] or f"entry-{r['entry_id']}"
            g = grouped.setdefault(record_id, {"child": r["child_subject_id"], "on": None, "entries": [],
                                               "categories": set(), "carers": set(), "intake_id": r["intake_id"]})
            day = r["recorded_at"].astimezone(LONDON).date()
            g["on"] = day if g["on"] is None else min(g["on"], day)
            g["entries"].append(r["entry_id"])
            g["categories"].add(r["category"])
            g["carers"].update(UUID(str(c)) for c in (r["carers"] or []))
        return [LooseRecord(record_id=k, child_subject_id=g["child"], recorded_on=g["on"], entry_ids=tuple(g["entries"]),
                            categories=_categories(sorted(g["categories"])), carer_subject_ids=tuple(sorted(g["carers"], key=str)),
                            intake_id=g["intake_id"])
                for k, g in grouped.items()]

    async def ehe_facts(self, ehe_id: UUID | None = None) -> list[EheFacts]:
        """Every EHE record (or one): closed or not and when FROM ITS HISTORY (its notices and closure,
        folded), with the ehe_records row's status and closure day kept where they disagree; the
        categories its history holds, its referrals."""
        h = ehe_history.alias("h")
        categories = (select(func.array_agg(h.c.category.distinct())).where(h.c.ehe_id == ehe_records.c.ehe_id)
                      .scalar_subquery())
        intake = h.c.detail["intake_id"].astext
        intake_ids = (select(func.array_agg(intake.distinct())).where(h.c.ehe_id == ehe_records.c.ehe_id,
                                                                      intake.is_not(None)).scalar_subquery())
        query = (select(ehe_records.c.ehe_id, ehe_records.c.child_subject_id, ehe_records.c.status,
                        ehe_records.c.closed_on, categories.label("categories"), intake_ids.label("intake_ids"))
                 .order_by(ehe_records.c.ehe_id))
        lifecycle = (select(ehe_history).where(ehe_history.c.kind.in_([EheKind.NOTICE_RECEIVED.value,
                                                                       EheKind.RECORD_CLOSED.value]))
                     .order_by(ehe_history.c.ehe_id, ehe_history.c.entry_id))
        if ehe_id is not None:
            query = query.where(ehe_records.c.ehe_id == ehe_id)
            lifecycle = lifecycle.where(ehe_history.c.ehe_id == ehe_id)
        rows = (await self.session.execute(query)).mappings().all()
        histories = {key: ehe_history_closure([ehe_entry_from_row(r) for r in group]) for key, group in groupby(
            (await self.session.execute(lifecycle)).mappings(), key=lambda r: r["ehe_id"])}
        return [ehe_facts_from(r["ehe_id"], r["child_subject_id"],
                               histories.get(r["ehe_id"], HistoryClosure(False, None, "no_history")),
                               r["status"] == "closed", r["closed_on"], categories=_categories(r["categories"]),
                               intake_ids=tuple(r["intake_ids"] or ()))
                for r in rows]

    async def restricted_subjects(self, subject_ids: Sequence[UUID]) -> dict[UUID, UUID]:
        """Of these subjects, those under an Art 18 restriction in force, each with the rights request."""
        if not subject_ids:
            return {}
        rows = await self.session.execute(select(_r.c.subject_id, _r.c.rights_request_id)
                                          .where(_r.c.subject_id.in_(list(set(subject_ids))), _IN_FORCE)
                                          .order_by(_r.c.id))
        return {subject: request for subject, request in rows}

    async def case_exists(self, case_id: UUID) -> bool:
        return (await self.session.execute(select(cases.c.case_id).where(cases.c.case_id == case_id))).first() is not None

    # --- how content goes (the disposal login only) ---------------------------------------------------

    async def remove_case(self, case_id: UUID, closed_on: date, intake_ids: Sequence[str] = ()) -> bool:
        """Remove a closed case's content: its row (first: the delete takes the row's lock, so a referral
        reopening it at the same moment either goes first, and then nothing is removed, or waits and opens a
        new case), its whole history, and EVERY outbox row about it, sent or not, quarantined or not (an
        unsent one would be sent after the disposal; a published or quarantined one is a copy): its
        CaseChanged events, the data-collection replies and any other row that names the case or one of
        its referrals, and the share events of its child once the child has no case left. Its disposals'
        and holds' rows stay (ids, codes and dates). False: it is no longer closed on that date (reopened
        since it was planned), and nothing was removed."""
        gone = await self.session.execute(
            delete(cases).where(cases.c.case_id == case_id, cases.c.status == "closed", cases.c.closed_on == closed_on)
            .returning(cases.c.child_subject_id))
        child = gone.scalar_one_or_none()
        if child is None:
            return False
        await self.session.execute(delete(case_history).where(case_history.c.case_id == case_id))
        names = [str(case_id), *intake_ids]
        others = (await self.session.execute(select(cases.c.case_id).where(cases.c.child_subject_id == child))).first()
        about = or_(and_(outbox.c.aggregate_type == "case", outbox.c.aggregate_id == str(case_id)),
                    *(_mentions(n) for n in names))
        if others is None:
            about = or_(about, and_(outbox.c.aggregate_type == "share", outbox.c.aggregate_id == str(child)),
                        _mentions(str(child)))
        # (endswith: a test run's topic names carry a prefix)
        await self.session.execute(delete(outbox).where(about, not_(or_(*(outbox.c.topic.endswith(t)
                                                                          for t in _KEPT_TOPICS)))))
        return True

    async def remove_loose(self, entry_ids: Sequence[int]) -> int:
        """Remove a record without a case: its history entries (still without a case)."""
        done = await self.session.execute(
            delete(case_history).where(case_history.c.entry_id.in_(list(entry_ids)), case_history.c.case_id.is_(None))
            .returning(case_history.c.entry_id))
        return len(done.all())

    async def remove_ehe(self, ehe_id: UUID, closed_on: date) -> bool:
        """Remove a closed EHE record's content: its projection row first (the lock, as for a case), its
        history and its children-not-in-school register versions. False: no longer closed on that date."""
        gone = await self.session.execute(
            delete(ehe_records).where(ehe_records.c.ehe_id == ehe_id, ehe_records.c.status == "closed",
                                      ehe_records.c.closed_on == closed_on).returning(ehe_records.c.ehe_id))
        if gone.scalar_one_or_none() is None:
            return False
        await self.session.execute(delete(ehe_history).where(ehe_history.c.ehe_id == ehe_id))
        await self.session.execute(delete(cnis_register_entries).where(cnis_register_entries.c.ehe_id == ehe_id))
        return True
