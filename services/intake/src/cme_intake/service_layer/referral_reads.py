"""What officers read: one referral as received (less any sealed third-party details), and the triage list
of referrals no borough has been decided for. Who sees which is `visibility.Scope`, as for possible matches."""

from typing import Any, NamedTuple
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..adapters.tables import referrals, third_party_details
from ..domain.identifiers import postcode_district
from . import identity_index
from .possible_matches import matches_for_intake
from .visibility import Scope, visible

__all__ = ["ReferralRead", "referral_detail", "triage_list", "visible"]


class ReferralRead(NamedTuple):
    detail: dict[str, Any]
    subject_ids: list[UUID]


async def referral_detail(session: AsyncSession, intake_id: UUID, scope: Scope) -> ReferralRead | None:
    row = (await session.execute(
        select(referrals).where(referrals.c.intake_id == intake_id, scope.where(referrals.c.borough))
    )).first()
    if row is None:
        return None
    sealed = (await session.execute(
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
    # Whom it is about, for the access log: its child and carers as now in the index and as recorded (before
    # any merge), so each one's access log lists the read.
    recorded = [row.child_subject_id, *row.carer_subject_ids]
    shown = [UUID(detail["child_subject_id"]), *(UUID(c) for c in detail["carer_subject_ids"])]
    return ReferralRead(detail, list(dict.fromkeys([*shown, *recorded])))


async def triage_list(session: AsyncSession, scope: Scope, *, limit: int, offset: int) -> list[dict[str, Any]]:
    """Referrals with no borough, for those who see unassigned records (`Scope.unassigned`; officers never)."""
    rows = (await session.execute(
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
