"""What an accepted referral does to casework: open a case, join the child's open case, or only record it."""

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cme_shared.contracts.events import ReferralAccepted

from ..adapters.tables import case_history, cases
from ..domain import opening
from ..domain.school_days import add_school_days

FIRST_ENQUIRIES_SCHOOL_DAYS = 10  # DOMAIN section 2: first enquiries within 10 school days (configurable)
OPEN_STATUSES = ("open",)


async def on_referral_accepted(session: AsyncSession, referral: ReferralAccepted) -> uuid.UUID | None:
    """Returns the case the referral now belongs to, or None when it is only recorded."""
    now = datetime.now(UTC)
    open_case = (
        await session.execute(
            select(cases.c.case_id).where(
                cases.c.child_subject_id == referral.child_subject_id, cases.c.status.in_(OPEN_STATUSES)
            )
        )
    ).scalar_one_or_none()
    detail = {"intake_id": str(referral.intake_id), "notification_kind": referral.notification_kind.value,
              "source_type": referral.source_type.value}
    if open_case is not None:
        # A further referral about a child with an open case joins it; it never opens a second one.
        await session.execute(case_history.insert().values(
            case_id=open_case, child_subject_id=referral.child_subject_id, kind="referral_joined",
            actor="system:intake", detail=detail))
        return open_case

    decision = opening.decide(referral)
    if not decision.opens_case:
        await session.execute(case_history.insert().values(
            case_id=None, child_subject_id=referral.child_subject_id, kind="referral_recorded",
            actor="system:intake", reason=decision.reason, detail=detail))
        return None

    case_id = uuid.uuid4()
    due = now.date() if decision.risk is opening.Risk.HIGH else add_school_days(now.date(), FIRST_ENQUIRIES_SCHOOL_DAYS)
    await session.execute(cases.insert().values(
        case_id=case_id, child_subject_id=referral.child_subject_id, child_upn=referral.child_upn,
        borough=referral.borough.value if referral.borough else None, status="open", reason=decision.reason,
        risk=decision.risk.value, opened_at=now, next_due_date=due))
    await session.execute(case_history.insert().values(
        case_id=case_id, child_subject_id=referral.child_subject_id, kind="case_opened",
        actor="system:intake", reason=decision.reason, detail={**detail, "risk": decision.risk.value}))
    return case_id
