"""What an accepted referral does to casework: open a case, join or reopen the child's case, or only record it.

While the child or a carer is restricted (UK GDPR Art 18) a referral is stored, not acted on, unless it is
high risk (processed at once under the Art 18(2) safeguarding exception) or an officer records an
exception for it (`release_held`); a lifted restriction acts on every referral it held.
"""

import uuid
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cme_shared.contracts.events import ReferralAccepted

from ..adapters.repository import CaseRecords, entry_from_row, in_reach
from ..adapters.tables import case_history, cases
from ..domain import opening, referral_entries
from ..domain.errors import RecordNotFound, TransitionRefused
from ..domain.history import SYSTEM_RIGHTS, Entry, Kind
from ..domain.lifecycle import CaseState
from ..domain.permissions import Grant
from ..domain.restriction import SAFEGUARDING_EXCEPTION
from .casework import Casework, london_date, record, today


async def on_referral_accepted(session: AsyncSession, casework: Casework, referral: ReferralAccepted, *,
                               exception: dict[str, Any] | None = None) -> uuid.UUID | None:
    """Returns the case the referral now belongs to, or None when it is only recorded.

    `exception`: an officer's recorded restriction exception, under which a held referral is processed.
    """
    records = CaseRecords(session)
    referred_on = london_date(referral.received_at)
    child = referral.child_subject_id
    rows = await records.lock_child_cases(child)
    active = next((row for row in rows if row["status"] != "closed"), None)
    latest = rows[0] if rows else None

    if await records.restricted([*_subjects(child, rows), *referral.carer_subject_ids]):
        if exception is None and opening.is_high_risk(referral):
            # UK GDPR Art 18(2): protection of another person; DOMAIN section 2: same-working-day escalation.
            exception = SAFEGUARDING_EXCEPTION
        if exception is None:
            target = (active or latest or {}).get("case_id")
            await records.append(target, child, referral_entries.hold_restricted(referral, referred_on))
            return target
    else:
        exception = None  # nothing is restricted (any longer): no exception is needed
    excepted = lambda entries: referral_entries.with_exception(entries, exception)  # noqa: E731

    policy = casework.policy
    decision = opening.decide(referral, policy.opening_rules(referral.borough.value if referral.borough else None))
    if active is not None:
        state = await records.state(active["case_id"])
        entries = referral_entries.join_case(state, referral, decision, referred_on, policy)
        await record(casework, records, state, excepted(entries), case_id=active["case_id"], child_subject_id=child)
        return active["case_id"]
    if decision.opens_case and latest is not None:
        state = await records.state(latest["case_id"])
        entries = referral_entries.reopen_case(state, referral, decision, referred_on, policy)
        await record(casework, records, state, excepted(entries), case_id=latest["case_id"], child_subject_id=child)
        return latest["case_id"]
    if decision.opens_case:
        case_id = uuid.uuid4()
        entries = referral_entries.open_case(referral, decision, case_id, referred_on, policy)
        await record(casework, records, CaseState(), excepted(entries), case_id=case_id, child_subject_id=child)
        return case_id
    # Recorded without a case (and routed on: EHE, safeguarding); kept with the child's last case, if any,
    # so officers see it there.
    for recorded in excepted(referral_entries.record_only(referral, decision, referred_on, policy)):
        await records.append(latest["case_id"] if latest else None, child, recorded)
    return None


def _subjects(child: uuid.UUID, rows: list[RowMapping]) -> list[uuid.UUID]:
    """Whom the child's casework is about: the child and every carer named on the child's cases."""
    return [child, *(carer for row in rows for carer in row["carer_subject_ids"])]


_held, _released = case_history.alias("held"), case_history.alias("released")
# A release points at the held entry (a unique index makes it once only: migration 0002).
_is_released = exists().where(and_(_released.c.kind == Kind.REFERRAL_RELEASED.value,
                                   _released.c.supersedes == _held.c.entry_id))
# A held referral belongs to the borough of the case it is kept with, else to the borough it names.
_held_borough = func.coalesce(cases.c.borough, _held.c.detail["referral"]["borough"].astext)


def _held_query(grant: Grant) -> Any:
    return (select(_held, _held_borough.label("borough"), _is_released.label("released"))
            .select_from(_held.outerjoin(cases, cases.c.case_id == _held.c.case_id))
            .where(_held.c.kind == Kind.REFERRAL_HELD_RESTRICTED.value, in_reach(grant, _held_borough))
            .order_by(_held.c.entry_id))


async def held_referrals(session: AsyncSession, grant: Grant, limit: int) -> list[dict[str, Any]]:
    """Referrals held while a subject is restricted and not yet acted on, oldest first (ids and codes only)."""
    rows = (await session.execute(_held_query(grant).where(~_is_released).limit(limit))).mappings()
    return [_held_view(row) for row in rows]


def _held_view(row: RowMapping) -> dict[str, Any]:
    referral = row["detail"].get("referral", {})
    return {"entry_id": row["entry_id"], "child_subject_id": row["child_subject_id"], "case_id": row["case_id"],
            "borough": row["borough"], "received_on": row["effective_on"], "held_at": row["recorded_at"],
            "notification_kind": referral.get("notification_kind"), "source_type": referral.get("source_type"),
            "decision": row["detail"].get("decision")}


async def release_held(session: AsyncSession, casework: Casework, entry_id: int, grant: Grant,
                       exception: dict[str, Any]) -> tuple[uuid.UUID | None, Entry]:
    """Act on one held referral under an officer's recorded exception, as it would have been acted on."""
    row = (await session.execute(_held_query(grant).where(_held.c.entry_id == entry_id))).mappings().first()
    if row is None:
        raise RecordNotFound("held_referral_not_found", "no such held referral in your boroughs")
    records = CaseRecords(session)
    await records.lock_child_cases(row["child_subject_id"])
    if row["released"]:
        raise TransitionRefused("referral_already_released", "this held referral has already been acted on")
    held = entry_from_row(row)
    try:
        release = await records.append(row["case_id"], row["child_subject_id"], Entry(
            Kind.REFERRAL_RELEASED, exception["actor"], "restriction exception recorded: the held referral is acted on",
            today(), held.category, held.source, {"restriction_exception": exception}, supersedes=entry_id))
    except IntegrityError:  # released by someone else since it was read
        raise TransitionRefused("referral_already_released", "this held referral has already been acted on") from None
    case_id = await on_referral_accepted(session, casework, ReferralAccepted.model_validate(held.detail["event"]),
                                         exception=exception)
    return case_id, release


async def release_held_referrals(session: AsyncSession, casework: Casework, child_subject_id: uuid.UUID) -> int:
    """Once no restriction remains, act on the referrals stored while one lasted, in the order they came."""
    records = CaseRecords(session)
    if await records.restricted(_subjects(child_subject_id, await records.lock_child_cases(child_subject_id))):
        return 0
    query = (select(_held).where(_held.c.child_subject_id == child_subject_id,
                                 _held.c.kind == Kind.REFERRAL_HELD_RESTRICTED.value, ~_is_released)
             .order_by(_held.c.entry_id))
    rows = list((await session.execute(query)).mappings())
    for row in rows:
        entry = entry_from_row(row)
        # The release points at the held entry, so a redelivered lift never acts on a referral twice.
        await records.append(row["case_id"], child_subject_id, Entry(
            Kind.REFERRAL_RELEASED, SYSTEM_RIGHTS, "restriction lifted: the held referral is acted on",
            today(), entry.category, entry.source, {}, supersedes=row["entry_id"]))
        await on_referral_accepted(session, casework, ReferralAccepted.model_validate(entry.detail["event"]))
    return len(rows)


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


async def routed_referrals(session: AsyncSession, grant: Grant, route: RouteFilter | None, due_by: date | None,
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
    return [_routed_view(row) for row in (await session.execute(query)).mappings()]


def _routed_view(row: Any) -> dict[str, Any]:
    detail = row["detail"]
    referral = detail.get("referral", {})
    route = {Kind.ROUTED_TO_EHE.value: RouteFilter.ELECTIVE_HOME_EDUCATION,
             Kind.ROUTED_TO_SAFEGUARDING.value: RouteFilter.SAFEGUARDING}.get(row["kind"], RouteFilter.SCHOOL_AGE)
    return {"entry_id": row["entry_id"], "route": route.value, "child_subject_id": row["child_subject_id"],
            "case_id": row["case_id"], "borough": row["borough"], "received_on": row["effective_on"],
            "recorded_at": row["recorded_at"], "notification_kind": referral.get("notification_kind"),
            "deletion_ground": referral.get("deletion_ground"), "decision": detail.get("decision"),
            "follow_up_on": detail.get("follow_up_on"), "to": detail.get("to"), "due_on": detail.get("due_on")}
