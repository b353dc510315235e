"""Officers' actions on a case, on a case the caller's grant reaches, in the route's unit of work.

Every action locks the case, folds its history into the current state, lets a domain command write the
entry, and appends it (`case_writes.append_entries`). While the child or a carer named on the case is
restricted (UK GDPR Art 18), an action is refused unless the officer records an exception ground.
"""

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import date
from uuid import UUID

from ..adapters.unit_of_work import CaseworkUnitOfWork
from ..domain.errors import RecordNotFound, TransitionRefused
from ..domain.history import Entry
from ..domain.lifecycle import CaseState
from ..domain.permissions import Grant
from ..domain.restriction import RestrictionException
from .case_writes import append_entries

Command = Callable[[CaseState, date], Entry]
AfterAppend = Callable[[CaseworkUnitOfWork, CaseState, Entry], Awaitable[None]]


async def check_reached(uow: CaseworkUnitOfWork, grant: Grant, case_id: UUID, *, lock: bool) -> None:
    """404 when the case does not exist or the grant does not reach it (never saying which)."""
    row = await (uow.cases.lock(case_id) if lock else uow.cases.row(case_id))
    if row is None or not grant.covers(row["borough"]):
        raise RecordNotFound("case_not_found", "no such case in your boroughs")


async def run_case_action(uow: CaseworkUnitOfWork, grant: Grant, case_id: UUID, command: Command, *,
                          exception: RestrictionException | None = None, restriction_applies: bool = True,
                          after: AfterAppend | None = None) -> tuple[CaseState, Entry]:
    """Run `command` on the case and append its entry; while a subject is restricted the entry needs an
    exception ground, given with the request or carried by the entry itself (a share decided on the
    ground its proposal recorded). `after` runs in the same transaction (a share's event)."""
    await check_reached(uow, grant, case_id, lock=True)
    state = await uow.cases.state(case_id)
    entry = command(state, uow.clock.today())
    if restriction_applies and await uow.cases.restricted(subjects_of(state)):
        if exception is not None:
            entry = replace(entry, detail={**entry.detail,
                                           "restriction_exception": exception.model_dump(mode="json")})
        elif not entry.detail.get("restriction_exception"):
            raise TransitionRefused("subject_restricted",
                                    "processing of this subject is restricted (UK GDPR Art 18); record an "
                                    "exception ground to act")
    state, [stored] = await append_entries(uow, state, [entry], case_id=case_id,
                                           child_subject_id=state.child_subject_id)
    if after is not None:
        await after(uow, state, stored)
    return state, stored


def subjects_of(state: CaseState) -> list[UUID]:
    """A case is about its child and the carers named in its referrals."""
    return [state.child_subject_id, *(UUID(c) for c in state.carer_subject_ids)]
