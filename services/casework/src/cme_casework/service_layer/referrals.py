"""What an accepted referral does to casework: open a case, join or reopen the child's case, or only record it.

While the child or a carer is restricted (UK GDPR Art 18) a referral is stored, not acted on, unless it is
high risk (processed at once under the Art 18(2) safeguarding exception) or an officer records an
exception for it (`release_held`); a lifted restriction acts on every referral it held.
"""

import uuid
from typing import Any

from sqlalchemy.engine import RowMapping

from cme_shared.clock import london_date
from cme_shared.contracts.events import ReferralAccepted

from ..adapters.unit_of_work import CaseworkUnitOfWork
from ..domain import opening, referral_entries
from ..domain.errors import RecordNotFound, TransitionRefused
from ..domain.history import SYSTEM_RIGHTS, Entry, Kind
from ..domain.lifecycle import CaseState
from ..domain.opening import Route
from ..domain.permissions import Grant
from ..domain.restriction import SAFEGUARDING_EXCEPTION
from .case_writes import append_entries
from .ehe import notice_from_referral


async def on_referral_accepted(uow: CaseworkUnitOfWork, event: ReferralAccepted) -> None:
    """The `referral-accepted` consumer's handler (cme.referrals.accepted.v1 from intake)."""
    await act_on_referral(uow, event)


async def act_on_referral(uow: CaseworkUnitOfWork, referral: ReferralAccepted, *,
                          exception: dict[str, Any] | None = None) -> uuid.UUID | None:
    """Returns the case the referral now belongs to, or None when it is only recorded.

    `exception`: an officer's recorded restriction exception, under which a held referral is processed.
    """
    cases = uow.cases
    referred_on = london_date(referral.received_at)
    child = referral.child_subject_id
    rows = await cases.lock_child_cases(child)
    active = next((row for row in rows if row["status"] != "closed"), None)
    latest = rows[0] if rows else None

    if await cases.restricted([*_subjects(child, rows), *referral.carer_subject_ids]):
        if exception is None and opening.is_high_risk(referral):
            # UK GDPR Art 18(2): protection of another person; DOMAIN section 2: same-working-day escalation.
            exception = SAFEGUARDING_EXCEPTION
        if exception is None:
            target = (active or latest or {}).get("case_id")
            await cases.append(target, child, referral_entries.hold_restricted(referral, referred_on))
            return target
    else:
        exception = None  # nothing is restricted (any longer): no exception is needed
    excepted = lambda entries: referral_entries.with_exception(entries, exception)  # noqa: E731

    policy = uow.policy
    decision = opening.decide(referral, policy.opening_rules(referral.borough.value if referral.borough else None))
    if active is not None:
        state = await cases.state(active["case_id"])
        entries = referral_entries.join_case(state, referral, decision, referred_on, policy)
        await append_entries(uow, state, excepted(entries), case_id=active["case_id"], child_subject_id=child)
        if Route.ELECTIVE_HOME_EDUCATION in decision.routes:
            # The case stays open (it may close as EHE assessed suitable); the notice goes on the EHE record.
            await notice_from_referral(uow, referral, decision, referred_on, exception)
        return active["case_id"]
    if decision.opens_case and latest is not None:
        state = await cases.state(latest["case_id"])
        entries = referral_entries.reopen_case(state, referral, decision, referred_on, policy)
        await append_entries(uow, state, excepted(entries), case_id=latest["case_id"], child_subject_id=child)
        return latest["case_id"]
    if decision.opens_case:
        case_id = uuid.uuid4()
        entries = referral_entries.open_case(referral, decision, case_id, referred_on, policy)
        await append_entries(uow, CaseState(), excepted(entries), case_id=case_id, child_subject_id=child)
        return case_id
    # Recorded without a case (and routed on: EHE, safeguarding); kept with the child's last case, if any,
    # so officers see it there.
    for recorded in excepted(referral_entries.record_only(referral, decision, referred_on, policy)):
        await cases.append(latest["case_id"] if latest else None, child, recorded)
    if Route.ELECTIVE_HOME_EDUCATION in decision.routes:
        # Ground (e)/(f): the child's EHE record, not a CME case (statutory review 2026-12, D4).
        await notice_from_referral(uow, referral, decision, referred_on, exception)
    return None


def _subjects(child: uuid.UUID, rows: list[RowMapping]) -> list[uuid.UUID]:
    """Whom the child's casework is about: the child and every carer named on the child's cases."""
    return [child, *(carer for row in rows for carer in row["carer_subject_ids"])]


async def release_held(uow: CaseworkUnitOfWork, entry_id: int, grant: Grant,
                       exception: dict[str, Any]) -> tuple[uuid.UUID | None, Entry]:
    """Act on one held referral under an officer's recorded exception, as it would have been acted on."""
    found = await uow.cases.held_referral(entry_id, grant)
    if found is None:
        raise RecordNotFound("held_referral_not_found", "no such held referral in your boroughs")
    held, child, released = found
    await uow.cases.lock_child_cases(child)
    if released:
        raise TransitionRefused("referral_already_released", "this held referral has already been acted on")
    release = await uow.cases.append_once(held.case_id, child, Entry(
        Kind.REFERRAL_RELEASED, exception["actor"], "restriction exception recorded: the held referral is acted on",
        uow.clock.today(), held.category, held.source, {"restriction_exception": exception}, supersedes=entry_id))
    if release is None:  # released by someone else since it was read
        raise TransitionRefused("referral_already_released", "this held referral has already been acted on")
    case_id = await act_on_referral(uow, ReferralAccepted.model_validate(held.detail["event"]), exception=exception)
    return case_id, release


async def release_held_referrals(uow: CaseworkUnitOfWork, child_subject_id: uuid.UUID) -> int:
    """Once no restriction remains, act on the referrals stored while one lasted, in the order they came."""
    cases = uow.cases
    if await cases.restricted(_subjects(child_subject_id, await cases.lock_child_cases(child_subject_id))):
        return 0
    held = await cases.unreleased_held_referrals(child_subject_id)
    for entry in held:
        # The release points at the held entry, so a redelivered lift never acts on a referral twice.
        await cases.append(entry.case_id, child_subject_id, Entry(
            Kind.REFERRAL_RELEASED, SYSTEM_RIGHTS, "restriction lifted: the held referral is acted on",
            uow.clock.today(), entry.category, entry.source, {}, supersedes=entry.entry_id))
        await act_on_referral(uow, ReferralAccepted.model_validate(entry.detail["event"]))
    return len(held)
