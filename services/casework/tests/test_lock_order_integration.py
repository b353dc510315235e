"""Every path that locks several cases locks them in case_id order, so two never deadlock.

A child with two cases: another transaction holds the lower case_id. A path locking in case_id order
waits for that one before it locks anything else, so while it waits the higher case_id stays free. A path
locking by age (a referral newest first, a restriction oldest first) would already hold the higher one.
"""

import asyncio
import uuid
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from cme_casework.adapters.tables import cases
from cme_casework.domain import commands, referral_entries
from cme_casework.domain.closure import ClosureReason
from cme_casework.domain.lifecycle import CaseState
from cme_casework.domain.opening import decide
from cme_casework.service_layer.case_writes import append_entries
from cme_casework.service_layer.referrals import on_referral_accepted
from cme_casework.service_layer.rights import on_restriction
from cme_shared.contracts.rights import SubjectRestricted
from cme_shared.testing.kafka import eventually

pytestmark = pytest.mark.integration

LOW, HIGH = uuid.UUID(int=1), uuid.UUID(int=2**128 - 1)


async def closed_case(stack, make_referral, case_id: uuid.UUID, child: uuid.UUID) -> None:
    """A case opened now (so later cases are newer) and closed, as the service records both."""
    referral = make_referral(child=child, received_on=date(2026, 11, 2))
    async with stack.unit_of_work() as uow:
        entries = referral_entries.open_case(referral, decide(referral), case_id, date(2026, 11, 2))
        state, _ = await append_entries(uow, CaseState(), entries, case_id=case_id, child_subject_id=child)
        closure = commands.close(state, closure_reason=ClosureReason.DECEASED, closed_on=date(2026, 11, 5), note=None,
                                 evidence={"date_of_death": "2026-11-04", "confirmed_by": "registrar"},
                                 actor="officer:o1", today=date(2026, 11, 6))
        await append_entries(uow, state, [closure], case_id=case_id, child_subject_id=child)
        await uow.commit()


async def waiting_for_a_lock(sessions) -> bool:
    async with sessions() as session:
        query = text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                     "AND wait_event_type = 'Lock'")
        return bool((await session.execute(query)).scalar_one())


async def high_is_free(sessions) -> bool:
    async with sessions.begin() as session:
        try:
            await session.execute(select(cases.c.case_id).where(cases.c.case_id == HIGH).with_for_update(nowait=True))
        except DBAPIError:
            return False
    return True


@pytest.mark.parametrize(("path", "oldest"), [
    ("referral", LOW),  # a referral used to lock the child's cases newest first: HIGH before LOW
    ("restriction", HIGH),  # a restriction used to lock them oldest first: HIGH before LOW
])
async def test_a_childs_cases_are_locked_in_case_id_order(stack, make_referral, path, oldest):
    child = uuid.uuid4()
    for case_id in (oldest, HIGH if oldest == LOW else LOW):
        await closed_case(stack, make_referral, case_id, child)
    sessions = stack.runtime.sessions

    async def operation() -> None:
        async with stack.unit_of_work() as uow:
            if path == "referral":
                await on_referral_accepted(uow, make_referral(child=child, received_on=date(2026, 11, 16)))
            else:
                await on_restriction(uow, SubjectRestricted(
                    event_id=uuid.uuid4(), occurred_at=datetime.now(UTC), rights_request_id=uuid.uuid4(),
                    subject_ids=[child], reason="accuracy contested"))
            await uow.commit()

    async with sessions.begin() as holder:
        await holder.execute(select(cases.c.case_id).where(cases.c.case_id == LOW).with_for_update())
        running = asyncio.create_task(operation())
        try:
            await eventually(lambda: waiting_for_a_lock(sessions), timeout=10, interval=0.05)
            free = await high_is_free(sessions)
        finally:
            await holder.rollback()
    await asyncio.wait_for(running, timeout=10)
    assert free, f"the {path} path locked the higher case_id while waiting for the lower one"
