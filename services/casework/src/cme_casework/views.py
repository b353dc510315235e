"""What the officers' HTTP API lists: reads straight from casework's tables, not through the domain (as
cosmicpython's views.py). Each takes the route's unit of work and the caller's grant, and reaches only the
rows the grant does (`in_reach`, the one borough-scope clause).
"""

from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, and_, case, exists, func, or_, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.engine import RowMapping

from .adapters.repository import held_referrals_query, in_reach, not_released
from .adapters.tables import case_history, cases, cnis_register_entries, ehe_records
from .adapters.unit_of_work import CaseworkUnitOfWork
from .domain.history import Kind
from .domain.lifecycle import Status
from .domain.opening import Risk
from .domain.permissions import Grant


async def _rows(uow: CaseworkUnitOfWork, query: Select[Any]) -> list[RowMapping]:
    return list((await uow.session.execute(query)).mappings().all())


# --- cases ----------------------------------------------------------------------------------------

async def cases_found(uow: CaseworkUnitOfWork, grant: Grant, *, allocated_to: str | None, upn: str | None,
                      child_subject_id: Any, status: Status | None, limit: int) -> list[RowMapping]:
    """Cases in the grant's boroughs, newest first, narrowed by whichever of the filters are given."""
    query = select(cases).where(in_reach(grant)).order_by(cases.c.opened_at.desc()).limit(limit)
    if allocated_to is not None:
        query = query.where(cases.c.allocated_to == allocated_to)
    if upn is not None:
        query = query.where(cases.c.child_upn == upn)
    if child_subject_id is not None:
        query = query.where(cases.c.child_subject_id == child_subject_id)
    if status is not None:
        query = query.where(cases.c.status == status.value)
    return await _rows(uow, query)


async def overdue_cases(uow: CaseworkUnitOfWork, grant: Grant, as_of: date, limit: int) -> list[RowMapping]:
    """Open cases whose next deadline is before `as_of`, most overdue first."""
    return await _rows(uow, select(cases).where(in_reach(grant), cases.c.status != Status.CLOSED.value,
                                                cases.c.next_due_date < as_of)
                       .order_by(cases.c.next_due_date, cases.c.opened_at).limit(limit))


async def triage_cases(uow: CaseworkUnitOfWork, grant: Grant, limit: int) -> list[RowMapping]:
    """Open cases the grant reaches (for triage: those of no borough), high risk first, then soonest due."""
    high_first = case((cases.c.risk == Risk.HIGH.value, 0), else_=1)
    return await _rows(uow, select(cases).where(in_reach(grant), cases.c.status != Status.CLOSED.value)
                       .order_by(high_first, cases.c.next_due_date.nulls_last(), cases.c.opened_at).limit(limit))


# --- referrals held or routed ---------------------------------------------------------------------

async def held_referrals(uow: CaseworkUnitOfWork, grant: Grant, limit: int) -> list[dict[str, Any]]:
    """Referrals held while a subject is restricted and not yet acted on, oldest first (ids and codes only)."""
    return [_held_view(row) for row in await _rows(uow, held_referrals_query(grant).where(not_released()).limit(limit))]


def _held_view(row: RowMapping) -> dict[str, Any]:
    referral = row["detail"].get("referral", {})
    return {"entry_id": row["entry_id"], "child_subject_id": row["child_subject_id"], "case_id": row["case_id"],
            "borough": row["borough"], "received_on": row["effective_on"], "held_at": row["recorded_at"],
            "notification_kind": referral.get("notification_kind"), "source_type": referral.get("source_type"),
            "decision": row["detail"].get("decision")}


class RouteFilter(StrEnum):
    ELECTIVE_HOME_EDUCATION = "elective_home_education"
    SAFEGUARDING = "safeguarding"
    SCHOOL_AGE = "school_age"


_routed = case_history.alias("routed")
_routed_borough = func.coalesce(cases.c.borough, _routed.c.detail["referral"]["borough"].astext)
_follow_up_on = _routed.c.detail["follow_up_on"].astext
_ROUTE_WHERE = {
    RouteFilter.ELECTIVE_HOME_EDUCATION: _routed.c.kind == Kind.ROUTED_TO_EHE.value,
    RouteFilter.SAFEGUARDING: _routed.c.kind == Kind.ROUTED_TO_SAFEGUARDING.value,
    RouteFilter.SCHOOL_AGE: and_(_routed.c.kind == Kind.REFERRAL_RECORDED.value, _follow_up_on.is_not(None)),
}


async def routed_referrals(uow: CaseworkUnitOfWork, grant: Grant, route: RouteFilter | None, due_by: date | None,
                           limit: int) -> list[dict[str, Any]]:
    """Referrals recorded without a CME case and handed on (opening.Route), oldest first: the hand-off to
    elective home education (ground (e)/(f)), the safeguarding route, and school-age follow-ups."""
    wanted = [_ROUTE_WHERE[route]] if route is not None else list(_ROUTE_WHERE.values())
    query = (select(_routed, _routed_borough.label("borough"))
             .select_from(_routed.outerjoin(cases, cases.c.case_id == _routed.c.case_id))
             .where(or_(*wanted), in_reach(grant, _routed_borough)).order_by(_routed.c.entry_id).limit(limit))
    if due_by is not None:
        # Only school-age follow-ups have a due day; a filter by it lists those due by then.
        query = query.where(_follow_up_on.is_not(None), _follow_up_on <= due_by.isoformat())
    return [_routed_view(row) for row in await _rows(uow, query)]


def _routed_view(row: RowMapping) -> dict[str, Any]:
    detail = row["detail"]
    referral = detail.get("referral", {})
    route = {Kind.ROUTED_TO_EHE.value: RouteFilter.ELECTIVE_HOME_EDUCATION,
             Kind.ROUTED_TO_SAFEGUARDING.value: RouteFilter.SAFEGUARDING}.get(row["kind"], RouteFilter.SCHOOL_AGE)
    return {"entry_id": row["entry_id"], "route": route.value, "child_subject_id": row["child_subject_id"],
            "case_id": row["case_id"], "borough": row["borough"], "received_on": row["effective_on"],
            "recorded_at": row["recorded_at"], "notification_kind": referral.get("notification_kind"),
            "deletion_ground": referral.get("deletion_ground"), "decision": detail.get("decision"),
            "follow_up_on": detail.get("follow_up_on"), "to": detail.get("to"), "due_on": detail.get("due_on")}


# --- shares awaiting a decision -------------------------------------------------------------------

_proposed, _decided = case_history.alias("proposed"), case_history.alias("decided")
_is_decided = exists().where(and_(_decided.c.case_id == _proposed.c.case_id,
                                  _decided.c.kind.in_([Kind.SHARE_MADE.value, Kind.SHARE_REFUSED.value]),
                                  _decided.c.detail["share_id"].astext == _proposed.c.detail["share_id"].astext))


async def pending_shares(uow: CaseworkUnitOfWork, grant: Grant, limit: int) -> list[dict[str, Any]]:
    """Shares proposed and not yet decided on the cases the grant reaches, oldest first: a manager's worklist."""
    query = (select(_proposed, cases.c.borough)
             .select_from(_proposed.join(cases, cases.c.case_id == _proposed.c.case_id))
             .where(_proposed.c.kind == Kind.SHARE_PROPOSED.value, ~_is_decided, in_reach(grant))
             .order_by(_proposed.c.entry_id).limit(limit))
    return [_pending_view(row) for row in await _rows(uow, query)]


def _pending_view(row: RowMapping) -> dict[str, Any]:
    d = row["detail"]
    return {"share_id": d["share_id"], "case_id": row["case_id"], "child_subject_id": row["child_subject_id"],
            "borough": row["borough"], "recipient": d["recipient"], "purpose": d["purpose"],
            "legal_gateway": d["legal_gateway"], "categories": d["categories"],
            "fields_released": d["fields_released"], "reason": row["reason"], "proposed_by": row["actor"],
            "proposed_at": row["recorded_at"]}


# --- elective home education records and the register (issue 14, items 2 and 3) ----------------------

async def ehe_records_found(uow: CaseworkUnitOfWork, grant: Grant, *, status: str | None, overdue_on: date | None,
                            child_subject_id: Any, limit: int) -> list[RowMapping]:
    """EHE records in the grant's boroughs: newest first, or (`overdue_on`) open ones whose next deadline is
    before that day, most overdue first."""
    query = select(ehe_records).where(in_reach(grant, ehe_records.c.borough)).limit(limit)
    if status is not None:
        query = query.where(ehe_records.c.status == status)
    if child_subject_id is not None:
        query = query.where(ehe_records.c.child_subject_id == child_subject_id)
    if overdue_on is not None:
        query = query.where(ehe_records.c.status != "closed", ehe_records.c.next_due_date < overdue_on).order_by(
            ehe_records.c.next_due_date, ehe_records.c.opened_at)
    else:
        query = query.order_by(ehe_records.c.opened_at.desc())
    return await _rows(uow, query)


async def register_export(uow: CaseworkUnitOfWork, grant: Grant) -> list[RowMapping]:
    """The register as it stands: each child's latest entry, for the children whose EHE record is open."""
    entries = cnis_register_entries
    latest = (select(entries).ext(distinct_on(entries.c.child_subject_id))
              .order_by(entries.c.child_subject_id, entries.c.version_id.desc()).subquery())
    open_record = exists().where(and_(ehe_records.c.child_subject_id == latest.c.child_subject_id,
                                      ehe_records.c.status != "closed"))
    query = select(latest).where(open_record, in_reach(grant, latest.c.borough)).order_by(latest.c.child_subject_id)
    return await _rows(uow, query)
