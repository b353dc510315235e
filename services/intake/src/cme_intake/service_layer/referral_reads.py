"""What officers read: one referral as received (less any sealed third-party details), and the triage list
of referrals no borough has been decided for."""

from collections.abc import Set
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cme_shared.contracts.referrals import Borough

from ..adapters.tables import referrals, third_party_details
from ..domain.identifiers import postcode_district
from . import identity_index
from .possible_matches import matches_for_intake


def visible(borough: str | None, boroughs: Set[Borough]) -> bool:
    """A referral on the triage list (no borough) is for every officer to pick up."""
    return borough is None or borough in {b.value for b in boroughs}


async def referral_detail(session: AsyncSession, intake_id: UUID, boroughs: Set[Borough]) -> dict[str, Any] | None:
    row = (await session.execute(select(referrals).where(referrals.c.intake_id == intake_id))).first()
    if row is None or not visible(row.borough, boroughs):
        return None
    sealed = (await session.execute(
        select(third_party_details.c.reason).where(third_party_details.c.intake_id == intake_id)
    )).scalars().all()
    return {
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
        "child_subject_id": str(await identity_index.canonical(session, row.child_subject_id)),
        "carer_subject_ids": [str(await identity_index.canonical(session, c)) for c in row.carer_subject_ids],
        "referrer": {
            "anonymous": bool(row.payload["source"].get("anonymous")),
            # A private referrer's details are sealed third-party data: held, never shown here.
            "third_party_details_sealed": [{"reason": reason} for reason in sealed],
        },
        "possible_matches": await matches_for_intake(session, row.intake_id),
        "referral": row.payload,
    }


async def triage_list(session: AsyncSession, *, limit: int, offset: int) -> list[dict[str, Any]]:
    rows = (await session.execute(
        select(referrals.c.intake_id, referrals.c.referral_id, referrals.c.source_type, referrals.c.payload,
               referrals.c.warnings, referrals.c.received_at, referrals.c.child_subject_id)
        .where(referrals.c.borough.is_(None))
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
