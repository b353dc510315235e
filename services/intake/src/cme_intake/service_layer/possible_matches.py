"""Possible matches: the identity index's doubts, which an officer settles (merge or keep apart).

A decision is recorded once, with who, when and why. A merge adds a pointer from the newer subject to
the one it is merged into; nothing is deleted, and both ids keep answering (the merged one resolves).
"""

from collections.abc import Set
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from sqlalchemy import insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cme_shared.contracts.referrals import Borough

from ..adapters.tables import possible_match_decisions, possible_matches, subject_merges
from . import identity_index


class Decision(StrEnum):
    MERGE = "merge"
    KEEP_APART = "keep_apart"


class MatchNotFound(Exception):
    pass


class AlreadyDecided(Exception):
    pass


def visible_to(boroughs: Set[Borough]) -> Any:
    """Matches raised by referrals in the officer's boroughs, or on the triage list (no borough yet)."""
    return or_(possible_matches.c.borough.is_(None), possible_matches.c.borough.in_([b.value for b in boroughs]))


async def list_matches(
    session: AsyncSession, boroughs: Set[Borough], *, status: str, limit: int, offset: int
) -> list[dict[str, Any]]:
    d = possible_match_decisions
    query = (
        select(possible_matches, d.c.decision, d.c.reason, d.c.decided_by, d.c.decided_at)
        .outerjoin(d, d.c.match_id == possible_matches.c.match_id)
        .where(visible_to(boroughs))
        .order_by(possible_matches.c.created_at, possible_matches.c.match_id)
        .limit(limit).offset(offset)
    )
    if status == "open":
        query = query.where(d.c.match_id.is_(None))
    elif status == "decided":
        query = query.where(d.c.match_id.is_not(None))
    rows = (await session.execute(query)).all()
    return [await _describe(session, row) for row in rows]


async def resolve(
    session: AsyncSession, match_id: UUID, *, decision: Decision, reason: str, decided_by: str,
    boroughs: Set[Borough],
) -> dict[str, Any]:
    await identity_index.lock(session)
    row = (await session.execute(
        select(possible_matches).where(possible_matches.c.match_id == match_id, visible_to(boroughs))
    )).first()
    if row is None:
        raise MatchNotFound()
    decided = (await session.execute(
        select(possible_match_decisions.c.match_id).where(possible_match_decisions.c.match_id == match_id)
    )).first()
    if decided is not None:
        raise AlreadyDecided()
    now = datetime.now(UTC)
    await session.execute(insert(possible_match_decisions).values(
        match_id=match_id, decision=decision.value, reason=reason, decided_by=decided_by, decided_at=now,
    ))
    subject = await identity_index.canonical(session, row.subject_id)
    candidate = await identity_index.canonical(session, row.candidate_subject_id)
    if decision is Decision.MERGE and subject != candidate:
        await session.execute(insert(subject_merges).values(
            subject_id=subject, merged_into=candidate, match_id=match_id, decided_by=decided_by, reason=reason,
            decided_at=now,
        ))
    return {
        "match_id": str(match_id), "decision": decision.value, "reason": reason, "decided_by": decided_by,
        "decided_at": now.isoformat(),
        "subject_id": str(await identity_index.canonical(session, row.subject_id)),
        "candidate_subject_id": str(await identity_index.canonical(session, row.candidate_subject_id)),
    }


async def matches_for_intake(session: AsyncSession, intake_id: UUID) -> list[dict[str, Any]]:
    d = possible_match_decisions
    rows = (await session.execute(
        select(possible_matches.c.match_id, possible_matches.c.subject_type, possible_matches.c.candidate_subject_id,
               d.c.decision)
        .outerjoin(d, d.c.match_id == possible_matches.c.match_id)
        .where(possible_matches.c.intake_id == intake_id)
    )).all()
    return [{"match_id": str(r.match_id), "subject_type": r.subject_type,
             "candidate_subject_id": str(r.candidate_subject_id), "decision": r.decision} for r in rows]


async def _describe(session: AsyncSession, row: Any) -> dict[str, Any]:
    return {
        "match_id": str(row.match_id),
        "subject_type": row.subject_type,
        "intake_id": str(row.intake_id) if row.intake_id else None,
        "borough": row.borough,
        "created_at": row.created_at.isoformat(),
        "matched_on": row.matched_on,
        "conflicts": row.conflicts,
        "subject": await summary(session, row.subject_id),
        "candidate": await summary(session, row.candidate_subject_id),
        "decision": None if row.decision is None else {
            "decision": row.decision, "reason": row.reason, "decided_by": row.decided_by,
            "decided_at": row.decided_at.isoformat(),
        },
    }


async def summary(session: AsyncSession, subject_id: UUID) -> dict[str, Any] | None:
    """What an officer needs to compare two subjects."""
    view = await identity_index.view(session, subject_id)
    if view is None:
        return None
    address = identity_index.current_address(view.addresses, date.today())
    details = view.details
    return {
        "subject_id": str(view.subject_id),
        "first_name": details.get("first_name"),
        "last_name": details.get("last_name"),
        "aliases": details.get("aliases", []),
        "date_of_birth": details["date_of_birth"].isoformat() if details.get("date_of_birth") else None,
        "upn": details.get("upn"),
        "postcodes": sorted({a["postcode"] for a in view.addresses if a["postcode"]}),
        "current_postcode": address["postcode"] if address else None,
    }
