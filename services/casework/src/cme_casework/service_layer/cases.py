"""Officers' actions on a case: one transaction each, scoped to the boroughs the officer may see.

Every action locks the case, folds its history into the current state, lets a domain command write the
entry, and records it (`casework.record`). While the child or a carer named on the case is restricted
(UK GDPR Art 18), an action is refused unless the officer records an exception ground.
"""

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import date
from uuid import UUID

from cme_shared.auth import CROSS_BOROUGH, Principal

from ..adapters.repository import CaseRecords
from ..domain.errors import RecordNotFound, TransitionRefused
from ..domain.history import Entry
from ..domain.lifecycle import CaseState
from ..domain.restriction import RestrictionException
from .casework import Casework, record, today

Command = Callable[[CaseState, date], Entry]
AfterCommit = Callable[[CaseRecords, CaseState, Entry], Awaitable[None]]


def visible_boroughs(principal: Principal) -> set[str | None]:
    """The boroughs whose cases this person may see; cross-borough roles also see cases not yet assigned."""
    boroughs: set[str | None] = {b.value for b in principal.boroughs()}
    if principal.roles & CROSS_BOROUGH:
        boroughs.add(None)
    return boroughs


async def check_visible(records: CaseRecords, principal: Principal, case_id: UUID, *, lock: bool) -> None:
    """404 when the case does not exist or is another borough's (never saying which)."""
    row = await (records.lock(case_id) if lock else records.row(case_id))
    if row is None or row["borough"] not in visible_boroughs(principal):
        raise RecordNotFound("case_not_found", "no such case in your boroughs")


async def act(casework: Casework, principal: Principal, case_id: UUID, command: Command, *,
              exception: RestrictionException | None = None, restriction_applies: bool = True,
              after: AfterCommit | None = None) -> tuple[CaseState, Entry]:
    async with casework.runtime.sessions.begin() as session:
        records = CaseRecords(session)
        await check_visible(records, principal, case_id, lock=True)
        state = await records.state(case_id)
        entry = command(state, today())
        if restriction_applies and await records.restricted(subjects_of(state)):
            if exception is None:
                raise TransitionRefused("subject_restricted",
                                        "processing of this subject is restricted (UK GDPR Art 18); record an "
                                        "exception ground to act")
            entry = replace(entry, detail={**entry.detail, "restriction_exception": exception.model_dump(mode="json")})
        state, [stored] = await record(casework, records, state, [entry], case_id=case_id,
                                       child_subject_id=state.child_subject_id)
        if after is not None:
            await after(records, state, stored)
    casework.runtime.relay.nudge()
    return state, stored


def subjects_of(state: CaseState) -> list[UUID]:
    """A case is about its child and the carers named in its referrals."""
    return [state.child_subject_id, *(UUID(c) for c in state.carer_subject_ids)]
