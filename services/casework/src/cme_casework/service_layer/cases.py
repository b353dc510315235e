"""Officers' actions on a case: one transaction each, on a case the caller's grant reaches.

Every action locks the case, folds its history into the current state, lets a domain command write the
entry, and records it (`casework.record`). While the child or a carer named on the case is restricted
(UK GDPR Art 18), an action is refused unless the officer records an exception ground.
"""

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import date
from uuid import UUID

from ..adapters.repository import CaseRecords
from ..domain.errors import RecordNotFound, TransitionRefused
from ..domain.history import Entry
from ..domain.lifecycle import CaseState
from ..domain.permissions import Grant
from ..domain.restriction import RestrictionException
from .casework import Casework, record, today

Command = Callable[[CaseState, date], Entry]
AfterCommit = Callable[[CaseRecords, CaseState, Entry], Awaitable[None]]


async def check_reached(records: CaseRecords, grant: Grant, case_id: UUID, *, lock: bool) -> None:
    """404 when the case does not exist or the grant does not reach it (never saying which)."""
    row = await (records.lock(case_id) if lock else records.row(case_id))
    if row is None or not grant.covers(row["borough"]):
        raise RecordNotFound("case_not_found", "no such case in your boroughs")


async def act(casework: Casework, grant: Grant, case_id: UUID, command: Command, *,
              exception: RestrictionException | None = None, restriction_applies: bool = True,
              after: AfterCommit | None = None) -> tuple[CaseState, Entry]:
    """Run `command` on the case and record its entry; while a subject is restricted the entry needs an
    exception ground, given with the request or carried by the entry itself (a share decided on the
    ground its proposal recorded)."""
    async with casework.runtime.sessions.begin() as session:
        records = CaseRecords(session)
        await check_reached(records, grant, case_id, lock=True)
        state = await records.state(case_id)
        entry = command(state, today())
        if restriction_applies and await records.restricted(subjects_of(state)):
            if exception is not None:
                entry = replace(entry, detail={**entry.detail,
                                               "restriction_exception": exception.model_dump(mode="json")})
            elif not entry.detail.get("restriction_exception"):
                raise TransitionRefused("subject_restricted",
                                        "processing of this subject is restricted (UK GDPR Art 18); record an "
                                        "exception ground to act")
        state, [stored] = await record(casework, records, state, [entry], case_id=case_id,
                                       child_subject_id=state.child_subject_id)
        if after is not None:
            await after(records, state, stored)
    casework.runtime.relay.nudge()
    return state, stored


def subjects_of(state: CaseState) -> list[UUID]:
    """A case is about its child and the carers named in its referrals."""
    return [state.child_subject_id, *(UUID(c) for c in state.carer_subject_ids)]
