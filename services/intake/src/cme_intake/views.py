"""What officers and the DPO read (cosmicpython's views.py: reads for HTTP, SQL allowed here, no writes):
one referral as received (less any sealed third-party details), the triage list, the public form's
referrals awaiting acceptance, the possible matches with both subjects side by side, a referral's sealed
details unopened. Who sees which is `visibility.Scope`, for every read alike.

Each takes the request's unit of work (`uow.session`, and `uow.identity` to follow merges).
"""

from typing import TYPE_CHECKING, Any, NamedTuple
from uuid import UUID

from sqlalchemy import select

from .adapters.identity_store import pending_condition
from .adapters.tables import (
    held_referrals,
    merge_proposal_decisions,
    merge_proposals,
    possible_match_decisions,
    possible_matches,
    referral_acceptances,
    referrals,
    subject_unmerges,
    third_party_details,
    third_party_unseals,
)
from .domain.identifiers import postcode_district
from .domain.identity import current_address
from .visibility import Scope

if TYPE_CHECKING:
    from .adapters.unit_of_work import IntakeUnitOfWork

REDACTED = "[redacted]"  # the marker in place of what this reader may not see (as in subject access packs)
IDENTITY_FIELDS = ("first_name", "last_name", "aliases", "date_of_birth", "upn", "postcodes", "current_postcode")


# ---- referrals


class ReferralRead(NamedTuple):
    detail: dict[str, Any]
    subject_ids: list[UUID]


async def referral_detail(uow: "IntakeUnitOfWork", intake_id: UUID, scope: Scope) -> ReferralRead | None:
    row = (await uow.session.execute(
        select(referrals).where(referrals.c.intake_id == intake_id, scope.where(referrals.c.borough))
    )).first()
    if row is None:
        return None
    sealed = (await uow.session.execute(
        select(third_party_details.c.reason).where(third_party_details.c.intake_id == intake_id)
    )).scalars().all()
    detail = {
        "intake_id": str(row.intake_id),
        "referral_id": row.referral_id,
        "source_type": row.source_type,
        "source_org_id": row.source_org_id,
        "borough": row.borough,
        "on_triage_list": row.borough is None,
        "channel": row.channel,
        "submitted_at": row.submitted_at.isoformat(),
        "received_at": row.received_at.isoformat(),
        "warnings": row.warnings,
        "incomplete_return": bool(row.missing_return_fields),
        "missing_return_fields": row.missing_return_fields,
        "child_subject_id": str(await uow.identity.canonical(row.child_subject_id)),
        "carer_subject_ids": [str(await uow.identity.canonical(c)) for c in row.carer_subject_ids],
        "referrer": {
            "anonymous": bool(row.payload["source"].get("anonymous")),
            # A private referrer's details are sealed third-party data: held, never shown here.
            "third_party_details_sealed": [{"reason": reason} for reason in sealed],
        },
        "possible_matches": await matches_for_intake(uow, row.intake_id),
        "referral": row.payload,
    }
    # Whom it is about, for the access log: its child and carers as now in the index and as recorded (before
    # any merge), so each one's access log lists the read.
    recorded = [row.child_subject_id, *row.carer_subject_ids]
    shown = [UUID(detail["child_subject_id"]), *(UUID(c) for c in detail["carer_subject_ids"])]
    return ReferralRead(detail, list(dict.fromkeys([*shown, *recorded])))


async def triage_list(uow: "IntakeUnitOfWork", scope: Scope, *, limit: int, offset: int) -> list[dict[str, Any]]:
    """Referrals with no borough, for those who see unassigned records (`Scope.unassigned`; officers never)."""
    rows = (await uow.session.execute(
        select(referrals.c.intake_id, referrals.c.referral_id, referrals.c.source_type, referrals.c.payload,
               referrals.c.warnings, referrals.c.received_at, referrals.c.child_subject_id)
        .where(referrals.c.borough.is_(None), scope.where(referrals.c.borough))
        .order_by(referrals.c.received_at, referrals.c.intake_id)
        .limit(limit).offset(offset)
    )).all()
    return [_triage_item(row) for row in rows]


def _triage_item(row: Any) -> dict[str, Any]:
    child = row.payload["child"]
    postcode = (child.get("address") or {}).get("postcode")
    safeguarding = row.payload.get("safeguarding") or {}
    return {
        "intake_id": str(row.intake_id),
        "referral_id": row.referral_id,
        "source_type": row.source_type,
        "notification_kind": row.payload["notification"]["kind"],
        "received_at": row.received_at.isoformat(),
        "child_subject_id": str(row.child_subject_id),
        # The district is what a borough is decided from; the full address is on the referral itself.
        "postcode_district": postcode_district(postcode) if postcode else None,
        "postcode_well_formed": bool(postcode and postcode_district(postcode)),
        "safeguarding_concern": bool(safeguarding.get("concern")),
        "warnings": [w["code"] for w in row.warnings],
    }


async def awaiting_acceptance(uow: "IntakeUnitOfWork", scope: Scope, *, limit: int,
                              offset: int) -> list[dict[str, Any]]:
    """The public form's referrals no one has accepted yet, that this reader sees, oldest first."""
    rows = (await uow.session.execute(
        select(referrals.c.intake_id, referrals.c.referral_id, referrals.c.source_type, referrals.c.borough,
               referrals.c.payload, referrals.c.warnings, referrals.c.child_subject_id, held_referrals.c.held_at)
        .join(held_referrals, held_referrals.c.intake_id == referrals.c.intake_id)
        .outerjoin(referral_acceptances, referral_acceptances.c.intake_id == referrals.c.intake_id)
        .where(referral_acceptances.c.intake_id.is_(None), scope.where(referrals.c.borough))
        .order_by(held_referrals.c.held_at, referrals.c.intake_id).limit(limit).offset(offset)
    )).all()
    return [await _awaiting_item(uow, row) for row in rows]


async def _awaiting_item(uow: "IntakeUnitOfWork", row: Any) -> dict[str, Any]:
    child = row.payload["child"]
    postcode = (child.get("address") or {}).get("postcode")
    source = row.payload["source"]
    return {
        "intake_id": str(row.intake_id),
        "referral_id": row.referral_id,
        "source_type": row.source_type,
        "anonymous": bool(source.get("anonymous")),
        "borough": row.borough,
        "notification_kind": row.payload["notification"]["kind"],
        "held_at": row.held_at.isoformat(),
        "child_subject_id": str(await uow.identity.canonical(row.child_subject_id)),
        "postcode_district": postcode_district(postcode) if postcode else None,
        "safeguarding_concern": bool((row.payload.get("safeguarding") or {}).get("concern")),
        "warnings": [w["code"] for w in row.warnings],
    }


async def sealed_details(uow: "IntakeUnitOfWork", intake_id: UUID) -> list[dict[str, Any]] | None:
    """A referral's sealed third-party details, without opening them: which, why, and who opened them
    when; None when there is no such referral."""
    session = uow.session
    if (await session.execute(select(referrals.c.intake_id).where(referrals.c.intake_id == intake_id))).first() is None:
        return None
    details = (await session.execute(
        select(third_party_details.c.detail_id, third_party_details.c.reason, third_party_details.c.recorded_at)
        .where(third_party_details.c.intake_id == intake_id).order_by(third_party_details.c.recorded_at)
    )).all()
    opened = (await session.execute(
        select(third_party_unseals).where(third_party_unseals.c.intake_id == intake_id)
        .order_by(third_party_unseals.c.unsealed_at)
    )).all()
    return [{
        "detail_id": str(d.detail_id), "reason": d.reason, "recorded_at": d.recorded_at.isoformat(),
        "unsealed": [{"unsealed_by": u.unsealed_by, "role": u.role, "reason": u.reason,
                      "unsealed_at": u.unsealed_at.isoformat()} for u in opened if u.detail_id == d.detail_id],
    } for d in details]


# ---- possible matches


async def list_matches(uow: "IntakeUnitOfWork", scope: Scope, *, status: str, limit: int,
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
        query = query.where(pending_condition())
    elif status == "decided":
        query = query.where(d.c.match_id.is_not(None))
    rows = (await uow.session.execute(query)).all()
    return [await _describe(uow, row, scope) for row in rows]


async def matches_for_intake(uow: "IntakeUnitOfWork", intake_id: UUID) -> list[dict[str, Any]]:
    d = possible_match_decisions
    rows = (await uow.session.execute(
        select(possible_matches.c.match_id, possible_matches.c.subject_type, possible_matches.c.candidate_subject_id,
               d.c.decision)
        .outerjoin(d, d.c.match_id == possible_matches.c.match_id)
        .where(possible_matches.c.intake_id == intake_id)
    )).all()
    return [{"match_id": str(r.match_id), "subject_type": r.subject_type,
             "candidate_subject_id": str(r.candidate_subject_id), "decision": r.decision} for r in rows]


async def _describe(uow: "IntakeUnitOfWork", row: Any, scope: Scope) -> dict[str, Any]:
    decision = None
    if row.decision is not None:
        decision = {"decision": row.decision, "reason": row.reason, "decided_by": row.decided_by,
                    "decided_at": row.decided_at.isoformat(), "unmerged": await _unmerged(uow, row.match_id)}
    return {
        "match_id": str(row.match_id),
        "subject_type": row.subject_type,
        "intake_id": str(row.intake_id) if row.intake_id else None,
        "borough": row.borough,
        "created_at": row.created_at.isoformat(),
        "matched_on": row.matched_on,
        "conflicts": row.conflicts,
        "subject": await summary(uow, row.subject_id, scope),
        "candidate": await summary(uow, row.candidate_subject_id, scope),
        "decision": decision,
        "proposals": await _proposals(uow, row.match_id),
    }


async def _unmerged(uow: "IntakeUnitOfWork", match_id: UUID) -> dict[str, Any] | None:
    u = subject_unmerges
    found = (await uow.session.execute(
        select(u.c.reason, u.c.decided_by, u.c.decided_at).where(u.c.match_id == match_id)
        .order_by(u.c.decided_at.desc()).limit(1)
    )).first()
    if found is None:
        return None
    return {"reason": found.reason, "decided_by": found.decided_by, "decided_at": found.decided_at.isoformat()}


async def _proposals(uow: "IntakeUnitOfWork", match_id: UUID) -> list[dict[str, Any]]:
    p, pd = merge_proposals, merge_proposal_decisions
    rows = (await uow.session.execute(
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


async def summary(uow: "IntakeUnitOfWork", subject_id: UUID, scope: Scope) -> dict[str, Any] | None:
    """What an officer needs to compare two subjects: in full when they see one of the subject's records,
    else that it exists and where, its identity details replaced by the redaction marker (SEC-13)."""
    view = await uow.identity.view(subject_id)
    if view is None:
        return None
    boroughs = await uow.identity.record_boroughs(view.subject_id)
    where = {"boroughs": sorted(b for b in boroughs if b is not None), "on_triage_list": None in boroughs}
    if not scope.sees_any(boroughs):
        return {"subject_id": str(view.subject_id), **where, **{f: REDACTED for f in IDENTITY_FIELDS},
                "redacted": {"reason": "other_borough" if where["boroughs"] else "triage",
                             "fields": list(IDENTITY_FIELDS)}}
    address = current_address(view.addresses, uow.clock.today())
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

