"""Possible matches: the identity index's doubts, which officers settle (merge or keep apart).

- Who sees a match: those who see the borough of the referral that raised it (`visibility.Scope`). Each of
  the two subjects is shown in full only to those who see one of its records; otherwise only that it exists,
  in which boroughs, with the redaction marker in place of its identity details (SEC-13).
- A decision is recorded once, with who, when and why. A merge adds a pointer from the newer subject to the
  one it is merged into; nothing is deleted, and both ids keep answering (the merged one resolves).
- Segregation of duties: a merge of two subjects whose records are in two boroughs (or in one the decider
  does not see) is only proposed; a manager who did not propose it approves (then it is applied) or refuses
  (the match stays open). A merge in one borough by an officer of that borough is applied at once.
- A manager can undo a merge, with a reason: a new history row (`subject_unmerges`); the pointer stays as
  recorded but is no longer in force, so the index treats the two subjects as separate again.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from sqlalchemy import and_, exists, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..adapters.tables import (
    merge_proposal_decisions,
    merge_proposals,
    possible_match_decisions,
    possible_matches,
    subject_merges,
    subject_unmerges,
)
from . import identity_index
from .visibility import Scope

REDACTED = "[redacted]"  # the marker in place of what this reader may not see (as in subject access packs)
IDENTITY_FIELDS = ("first_name", "last_name", "aliases", "date_of_birth", "upn", "postcodes", "current_postcode")


class Decision(StrEnum):
    MERGE = "merge"
    KEEP_APART = "keep_apart"


class Approval(StrEnum):
    APPROVE = "approve"
    REFUSE = "refuse"


class MatchNotFound(Exception):
    pass


class AlreadyDecided(Exception):
    pass


class MergePending(Exception):
    """A proposed merge waits for a manager: it is decided first (approve or refuse)."""


class NoPendingProposal(Exception):
    pass


class SamePerson(Exception):
    """Whoever proposed a merge cannot approve or refuse it."""


class NotMerged(Exception):
    """The match's decision added no merge in force (kept apart, not decided, or undone already)."""


@dataclass(frozen=True)
class Actor:
    sub: str
    role: str
    scope: Scope


_PENDING = and_(
    merge_proposals.c.match_id == possible_matches.c.match_id,
    ~exists().where(merge_proposal_decisions.c.proposal_id == merge_proposals.c.proposal_id),
)


async def list_matches(session: AsyncSession, scope: Scope, *, status: str, limit: int,
                       offset: int) -> list[dict[str, Any]]:
    """`status`: open (not decided, a proposed merge included), pending (a merge waiting for a manager),
    decided, or all."""
    d = possible_match_decisions
    query = (
        select(possible_matches, d.c.decision, d.c.reason, d.c.decided_by, d.c.decided_at)
        .outerjoin(d, d.c.match_id == possible_matches.c.match_id)
        .where(scope.where(possible_matches.c.borough))
        .order_by(possible_matches.c.created_at, possible_matches.c.match_id)
        .limit(limit).offset(offset)
    )
    if status == "open":
        query = query.where(d.c.match_id.is_(None))
    elif status == "pending":
        query = query.where(exists().where(_PENDING))
    elif status == "decided":
        query = query.where(d.c.match_id.is_not(None))
    rows = (await session.execute(query)).all()
    return [await _describe(session, row, scope) for row in rows]


async def _visible_match(session: AsyncSession, match_id: UUID, scope: Scope) -> Any:
    row = (await session.execute(
        select(possible_matches).where(possible_matches.c.match_id == match_id, scope.where(possible_matches.c.borough))
    )).first()
    if row is None:
        raise MatchNotFound()
    return row


async def _decided(session: AsyncSession, match_id: UUID) -> bool:
    return (await session.execute(
        select(possible_match_decisions.c.match_id).where(possible_match_decisions.c.match_id == match_id)
    )).first() is not None


async def _pending(session: AsyncSession, match_id: UUID) -> Any | None:
    return (await session.execute(
        select(merge_proposals).where(merge_proposals.c.match_id == match_id, ~exists().where(
            merge_proposal_decisions.c.proposal_id == merge_proposals.c.proposal_id))
    )).first()


async def resolve(session: AsyncSession, match_id: UUID, *, decision: Decision, reason: str,
                  actor: Actor) -> dict[str, Any]:
    """Keep apart, or merge: at once when the actor may merge these two alone, else a proposal for a manager."""
    await identity_index.lock(session)
    row = await _visible_match(session, match_id, actor.scope)
    if await _decided(session, match_id):
        raise AlreadyDecided()
    if await _pending(session, match_id) is not None:
        raise MergePending()
    if decision is Decision.MERGE:
        boroughs = (await identity_index.record_boroughs(session, row.subject_id)
                    | await identity_index.record_boroughs(session, row.candidate_subject_id))
        if not actor.scope.merges_alone(boroughs):
            proposal_id, now = uuid.uuid4(), datetime.now(UTC)
            listed = sorted(boroughs, key=lambda b: (b is None, b or ""))
            await session.execute(insert(merge_proposals).values(
                proposal_id=proposal_id, match_id=match_id, proposed_by=actor.sub, role=actor.role, reason=reason,
                boroughs=listed, proposed_at=now,
            ))
            return {"match_id": str(match_id), "decision": decision.value, "status": "pending_approval",
                    "proposal": {"proposal_id": str(proposal_id), "proposed_by": actor.sub, "reason": reason,
                                 "proposed_at": now.isoformat(), "boroughs": listed}}
    return await _decide(session, row, decision=decision, reason=reason, decided_by=actor.sub)


async def decide_proposal(session: AsyncSession, match_id: UUID, *, approval: Approval, reason: str,
                          actor: Actor) -> dict[str, Any]:
    """A manager's answer to a proposed merge; never the proposer's (two-person rule)."""
    await identity_index.lock(session)
    row = await _visible_match(session, match_id, actor.scope)
    proposal = await _pending(session, match_id)
    if proposal is None:
        raise NoPendingProposal()
    if proposal.proposed_by == actor.sub:
        raise SamePerson()
    now = datetime.now(UTC)
    await session.execute(insert(merge_proposal_decisions).values(
        proposal_id=proposal.proposal_id, decision=approval.value, reason=reason, decided_by=actor.sub,
        decided_at=now,
    ))
    answer = {"proposal_id": str(proposal.proposal_id), "approval": approval.value, "reason": reason,
              "decided_by": actor.sub, "decided_at": now.isoformat()}
    if approval is Approval.REFUSE:
        return {"match_id": str(match_id), "status": "open", "proposal": answer}
    decided = await _decide(session, row, decision=Decision.MERGE, reason=proposal.reason, decided_by=actor.sub,
                            now=now)
    return {**decided, "proposal": {**answer, "proposed_by": proposal.proposed_by}}


async def _decide(session: AsyncSession, row: Any, *, decision: Decision, reason: str, decided_by: str,
                  now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    await session.execute(insert(possible_match_decisions).values(
        match_id=row.match_id, decision=decision.value, reason=reason, decided_by=decided_by, decided_at=now,
    ))
    subject = await identity_index.canonical(session, row.subject_id)
    candidate = await identity_index.canonical(session, row.candidate_subject_id)
    if decision is Decision.MERGE and subject != candidate:
        # Both are canonical (no pointer in force from either), so a subject never has two pointers in force.
        await session.execute(insert(subject_merges).values(
            subject_id=subject, merged_into=candidate, match_id=row.match_id, decided_by=decided_by, reason=reason,
            decided_at=now,
        ))
    return {
        "match_id": str(row.match_id), "decision": decision.value, "status": "decided", "reason": reason,
        "decided_by": decided_by, "decided_at": now.isoformat(),
        "subject_id": str(await identity_index.canonical(session, row.subject_id)),
        "candidate_subject_id": str(await identity_index.canonical(session, row.candidate_subject_id)),
    }


async def unmerge(session: AsyncSession, match_id: UUID, *, reason: str, actor: Actor) -> dict[str, Any]:
    """Undo the merge a match's decision added (a manager, with a reason): recorded, the pointer kept."""
    await identity_index.lock(session)
    row = await _visible_match(session, match_id, actor.scope)
    merge = await identity_index.merge_in_force(session, match_id)
    if merge is None:
        raise NotMerged()
    now = datetime.now(UTC)
    await session.execute(insert(subject_unmerges).values(
        merge_id=merge.merge_id, match_id=match_id, reason=reason, decided_by=actor.sub, role=actor.role,
        decided_at=now,
    ))
    return {
        "match_id": str(match_id), "status": "unmerged",
        "unmerged": {"reason": reason, "decided_by": actor.sub, "decided_at": now.isoformat(),
                     "subject_id": str(merge.subject_id), "was_merged_into": str(merge.merged_into)},
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


async def _describe(session: AsyncSession, row: Any, scope: Scope) -> dict[str, Any]:
    decision = None
    if row.decision is not None:
        decision = {"decision": row.decision, "reason": row.reason, "decided_by": row.decided_by,
                    "decided_at": row.decided_at.isoformat(), "unmerged": await _unmerged(session, row.match_id)}
    return {
        "match_id": str(row.match_id),
        "subject_type": row.subject_type,
        "intake_id": str(row.intake_id) if row.intake_id else None,
        "borough": row.borough,
        "created_at": row.created_at.isoformat(),
        "matched_on": row.matched_on,
        "conflicts": row.conflicts,
        "subject": await summary(session, row.subject_id, scope),
        "candidate": await summary(session, row.candidate_subject_id, scope),
        "decision": decision,
        "proposals": await _proposals(session, row.match_id),
    }


async def _unmerged(session: AsyncSession, match_id: UUID) -> dict[str, Any] | None:
    u = subject_unmerges
    found = (await session.execute(
        select(u.c.reason, u.c.decided_by, u.c.decided_at).where(u.c.match_id == match_id)
        .order_by(u.c.decided_at.desc()).limit(1)
    )).first()
    if found is None:
        return None
    return {"reason": found.reason, "decided_by": found.decided_by, "decided_at": found.decided_at.isoformat()}


async def _proposals(session: AsyncSession, match_id: UUID) -> list[dict[str, Any]]:
    p, pd = merge_proposals, merge_proposal_decisions
    rows = (await session.execute(
        select(p, pd.c.decision, pd.c.reason.label("decision_reason"), pd.c.decided_by, pd.c.decided_at)
        .outerjoin(pd, pd.c.proposal_id == p.c.proposal_id)
        .where(p.c.match_id == match_id).order_by(p.c.proposed_at)
    )).all()
    return [{
        "proposal_id": str(r.proposal_id), "proposed_by": r.proposed_by, "reason": r.reason,
        "proposed_at": r.proposed_at.isoformat(), "boroughs": r.boroughs,
        "status": "pending_approval" if r.decision is None else ("approved" if r.decision == "approve" else "refused"),
        "decision": None if r.decision is None else {
            "approval": r.decision, "reason": r.decision_reason, "decided_by": r.decided_by,
            "decided_at": r.decided_at.isoformat()},
    } for r in rows]


async def summary(session: AsyncSession, subject_id: UUID, scope: Scope) -> dict[str, Any] | None:
    """What an officer needs to compare two subjects: in full when they see one of the subject's records,
    else that it exists and where, its identity details replaced by the redaction marker."""
    view = await identity_index.view(session, subject_id)
    if view is None:
        return None
    boroughs = await identity_index.record_boroughs(session, view.subject_id)
    where = {"boroughs": sorted(b for b in boroughs if b is not None), "on_triage_list": None in boroughs}
    if not scope.sees_any(boroughs):
        return {"subject_id": str(view.subject_id), **where, **{f: REDACTED for f in IDENTITY_FIELDS},
                "redacted": {"reason": "other_borough" if where["boroughs"] else "triage",
                             "fields": list(IDENTITY_FIELDS)}}
    address = identity_index.current_address(view.addresses, date.today())
    details = view.details
    return {
        "subject_id": str(view.subject_id),
        **where,
        "first_name": details.get("first_name"),
        "last_name": details.get("last_name"),
        "aliases": details.get("aliases", []),
        "date_of_birth": details["date_of_birth"].isoformat() if details.get("date_of_birth") else None,
        "upn": details.get("upn"),
        "postcodes": sorted({a["postcode"] for a in view.addresses if a["postcode"]}),
        "current_postcode": address["postcode"] if address else None,
        "redacted": None,
    }
