"""Possible matches: the identity index's doubts, which officers settle (merge or keep apart).

- Who sees a match: those who see the borough of the referral that raised it (`visibility.Scope`). What they
  see of each subject is the views' (views.py: shown in full, or redacted, SEC-13).
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
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from uuid import UUID

from cme_shared.refusal import Refusal

from ..visibility import Scope

if TYPE_CHECKING:
    from ..adapters.unit_of_work import IntakeUnitOfWork


class Decision(StrEnum):
    MERGE = "merge"
    KEEP_APART = "keep_apart"


class Approval(StrEnum):
    APPROVE = "approve"
    REFUSE = "refuse"


class MatchNotFound(Refusal):
    """No such match, or one raised in a borough the officer does not see (the same answer)."""

    def __init__(self) -> None:
        super().__init__(404, "not_found", "no such possible match", ["match_id"])


class AlreadyDecided(Refusal):
    def __init__(self) -> None:
        super().__init__(409, "already_decided", "this possible match has already been decided", ["match_id"])


class MergePending(Refusal):
    """A proposed merge waits for a manager: it is decided first (approve or refuse)."""

    def __init__(self) -> None:
        super().__init__(409, "merge_pending", "a proposed merge of this match waits for a manager's decision",
                         ["match_id"])


class NoPendingProposal(Refusal):
    def __init__(self) -> None:
        super().__init__(409, "no_pending_proposal", "no proposed merge of this match waits for a decision",
                         ["match_id"])


class SamePerson(Refusal):
    """Whoever proposed a merge cannot approve or refuse it (two-person rule)."""

    def __init__(self) -> None:
        super().__init__(403, "two_person_rule", "the person who proposed a merge cannot decide it", ["match_id"])


class NotMerged(Refusal):
    """The match's decision added no merge in force (kept apart, not decided, or undone already)."""

    def __init__(self) -> None:
        super().__init__(409, "not_merged", "this match's decision made no merge that is still in force",
                         ["match_id"])


@dataclass(frozen=True)
class Actor:
    sub: str
    role: str
    scope: Scope


async def _visible_match(uow: "IntakeUnitOfWork", match_id: UUID, scope: Scope) -> Any:
    row = await uow.identity.visible_match(match_id, scope)
    if row is None:
        raise MatchNotFound()
    return row


async def resolve(uow: "IntakeUnitOfWork", match_id: UUID, *, decision: Decision, reason: str,
                  actor: Actor) -> dict[str, Any]:
    """Keep apart, or merge: at once when the actor may merge these two alone, else a proposal for a manager."""
    await uow.identity.lock()
    row = await _visible_match(uow, match_id, actor.scope)
    if await uow.identity.decided(match_id):
        raise AlreadyDecided()
    if await uow.identity.pending_proposal(match_id) is not None:
        raise MergePending()
    if decision is Decision.MERGE:
        boroughs = (await uow.identity.record_boroughs(row.subject_id)
                    | await uow.identity.record_boroughs(row.candidate_subject_id))
        if not actor.scope.merges_alone(boroughs):
            proposal_id, now = uuid.uuid4(), uow.clock.now()
            listed = sorted(boroughs, key=lambda b: (b is None, b or ""))
            await uow.identity.propose_merge(proposal_id=proposal_id, match_id=match_id, proposed_by=actor.sub,
                                             role=actor.role, reason=reason, boroughs=listed, proposed_at=now)
            return {"match_id": str(match_id), "decision": decision.value, "status": "pending_approval",
                    "proposal": {"proposal_id": str(proposal_id), "proposed_by": actor.sub, "reason": reason,
                                 "proposed_at": now.isoformat(), "boroughs": listed}}
    return await _decide(uow, row, decision=decision, reason=reason, decided_by=actor.sub)


async def decide_proposal(uow: "IntakeUnitOfWork", match_id: UUID, *, approval: Approval, reason: str,
                          actor: Actor) -> dict[str, Any]:
    """A manager's answer to a proposed merge; never the proposer's (two-person rule)."""
    await uow.identity.lock()
    row = await _visible_match(uow, match_id, actor.scope)
    proposal = await uow.identity.pending_proposal(match_id)
    if proposal is None:
        raise NoPendingProposal()
    if proposal.proposed_by == actor.sub:
        raise SamePerson()
    now = uow.clock.now()
    await uow.identity.answer_proposal(proposal_id=proposal.proposal_id, decision=approval.value, reason=reason,
                                       decided_by=actor.sub, decided_at=now)
    answer = {"proposal_id": str(proposal.proposal_id), "approval": approval.value, "reason": reason,
              "decided_by": actor.sub, "decided_at": now.isoformat()}
    if approval is Approval.REFUSE:
        return {"match_id": str(match_id), "status": "open", "proposal": answer}
    decided = await _decide(uow, row, decision=Decision.MERGE, reason=proposal.reason, decided_by=actor.sub,
                            now=now)
    return {**decided, "proposal": {**answer, "proposed_by": proposal.proposed_by}}


async def _decide(uow: "IntakeUnitOfWork", row: Any, *, decision: Decision, reason: str, decided_by: str,
                  now: datetime | None = None) -> dict[str, Any]:
    now = now or uow.clock.now()
    await uow.identity.decide_match(match_id=row.match_id, decision=decision.value, reason=reason,
                                    decided_by=decided_by, decided_at=now)
    subject = await uow.identity.canonical(row.subject_id)
    candidate = await uow.identity.canonical(row.candidate_subject_id)
    if decision is Decision.MERGE and subject != candidate:
        # Both are canonical (no pointer in force from either), so a subject never has two pointers in force.
        await uow.identity.merge(subject_id=subject, merged_into=candidate, match_id=row.match_id,
                                 decided_by=decided_by, reason=reason, decided_at=now)
    return {
        "match_id": str(row.match_id), "decision": decision.value, "status": "decided", "reason": reason,
        "decided_by": decided_by, "decided_at": now.isoformat(),
        "subject_id": str(await uow.identity.canonical(row.subject_id)),
        "candidate_subject_id": str(await uow.identity.canonical(row.candidate_subject_id)),
    }


async def unmerge(uow: "IntakeUnitOfWork", match_id: UUID, *, reason: str, actor: Actor) -> dict[str, Any]:
    """Undo the merge a match's decision added (a manager, with a reason): recorded, the pointer kept."""
    await uow.identity.lock()
    row = await _visible_match(uow, match_id, actor.scope)
    merge = await uow.identity.merge_in_force(match_id)
    if merge is None:
        raise NotMerged()
    now = uow.clock.now()
    await uow.identity.unmerge(merge_id=merge.merge_id, match_id=match_id, reason=reason, decided_by=actor.sub,
                               role=actor.role, decided_at=now)
    return {
        "match_id": str(match_id), "status": "unmerged",
        "unmerged": {"reason": reason, "decided_by": actor.sub, "decided_at": now.isoformat(),
                     "subject_id": str(merge.subject_id), "was_merged_into": str(merge.merged_into)},
        "subject_id": str(await uow.identity.canonical(row.subject_id)),
        "candidate_subject_id": str(await uow.identity.canonical(row.candidate_subject_id)),
    }
