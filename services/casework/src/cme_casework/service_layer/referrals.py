"""What an accepted referral does to casework: open a case, join or reopen the child's case, or only record it."""

import uuid

from sqlalchemy import and_, exists, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from cme_shared.contracts.events import ReferralAccepted

from ..adapters.repository import CaseRecords, entry_from_row
from ..adapters.tables import case_history
from ..domain import opening, referral_entries
from ..domain.history import SYSTEM_RIGHTS, Entry, Kind
from ..domain.lifecycle import CaseState
from .casework import Casework, london_date, record, today


async def on_referral_accepted(session: AsyncSession, casework: Casework,
                               referral: ReferralAccepted) -> uuid.UUID | None:
    """Returns the case the referral now belongs to, or None when it is only recorded."""
    records = CaseRecords(session)
    referred_on = london_date(referral.received_at)
    child = referral.child_subject_id
    rows = await records.lock_child_cases(child)
    active = next((row for row in rows if row["status"] != "closed"), None)
    latest = rows[0] if rows else None

    if await records.restricted([*_subjects(child, rows), *referral.carer_subject_ids]):
        target = (active or latest or {}).get("case_id")
        await records.append(target, child, referral_entries.hold_restricted(referral, referred_on))
        return target

    decision = opening.decide(referral)
    if active is not None:
        state = await records.state(active["case_id"])
        entries = referral_entries.join_case(state, referral, decision, referred_on)
        await record(casework, records, state, entries, case_id=active["case_id"], child_subject_id=child)
        return active["case_id"]
    if decision.opens_case and latest is not None:
        state = await records.state(latest["case_id"])
        entries = referral_entries.reopen_case(state, referral, decision, referred_on)
        await record(casework, records, state, entries, case_id=latest["case_id"], child_subject_id=child)
        return latest["case_id"]
    if decision.opens_case:
        case_id = uuid.uuid4()
        entries = referral_entries.open_case(referral, decision, case_id, referred_on)
        await record(casework, records, CaseState(), entries, case_id=case_id, child_subject_id=child)
        return case_id
    # Recorded without a case; kept with the child's last case, if any, so officers see it there.
    await records.append(latest["case_id"] if latest else None, child,
                         referral_entries.record_only(referral, decision, referred_on))
    return None


def _subjects(child: uuid.UUID, rows: list[RowMapping]) -> list[uuid.UUID]:
    """Whom the child's casework is about: the child and every carer named on the child's cases."""
    return [child, *(carer for row in rows for carer in row["carer_subject_ids"])]


async def release_held_referrals(session: AsyncSession, casework: Casework, child_subject_id: uuid.UUID) -> int:
    """Once no restriction remains, act on the referrals stored while one lasted, in the order they came."""
    records = CaseRecords(session)
    if await records.restricted(_subjects(child_subject_id, await records.lock_child_cases(child_subject_id))):
        return 0
    held, released = case_history.alias("held"), case_history.alias("released")
    not_yet = ~exists().where(and_(released.c.kind == Kind.REFERRAL_RELEASED.value,
                                   released.c.supersedes == held.c.entry_id))
    query = (select(held).where(held.c.child_subject_id == child_subject_id,
                                held.c.kind == Kind.REFERRAL_HELD_RESTRICTED.value, not_yet)
             .order_by(held.c.entry_id))
    rows = list((await session.execute(query)).mappings())
    for row in rows:
        entry = entry_from_row(row)
        # The release points at the held entry, so a redelivered lift never acts on a referral twice.
        await records.append(row["case_id"], child_subject_id, Entry(
            Kind.REFERRAL_RELEASED, SYSTEM_RIGHTS, "restriction lifted: the held referral is acted on",
            today(), entry.category, entry.source, {}, supersedes=row["entry_id"]))
        await on_referral_accepted(session, casework, ReferralAccepted.model_validate(entry.detail["event"]))
    return len(rows)
