"""Elective home education records: a notice of education otherwise makes (or is added to) the child's EHE
record, never a CME case; an officer records each step; an outcome that makes the child CME opens, joins or
reopens the child's CME case, linked both ways (domain/ehe.py has the rules and their sources).

Lock order, as everywhere: the child's cases first, then the child's EHE records (a referral locks the cases
before it reaches here). While the child or a carer is restricted (UK GDPR Art 18), a step needs an exception
ground as a case action does; a referral about a restricted child is held before it gets here.
"""

import uuid
from dataclasses import replace
from datetime import date
from typing import Any
from uuid import UUID

from cme_shared.contracts.categories import DataCategory
from cme_shared.contracts.events import ReferralAccepted

from ..adapters.unit_of_work import CaseworkUnitOfWork
from ..domain import cnis_register, ehe
from ..domain.ehe import EheEntry, EheKind, EheState, NoticeSource
from ..domain.errors import RecordNotFound, TransitionRefused
from ..domain.history import SYSTEM_CASEWORK, Entry, Kind
from ..domain.lifecycle import CaseState
from ..domain.opening import CaseReason, OpeningDecision, Risk
from ..domain.permissions import Grant
from ..domain.referral_entries import child_facts, referral_source
from .case_writes import append_entries

GROUND_SOURCES = {"9(1)(f)": NoticeSource.DELETION_GROUND_F, "9(1)(e)": NoticeSource.SAO_REVOKED_GROUND_E}


async def notice_from_referral(uow: CaseworkUnitOfWork, referral: ReferralAccepted, decision: OpeningDecision,
                               referred_on: date, exception: dict[str, Any] | None = None) -> EheState:
    """A ground (e)/(f) deletion return: the notice on the child's EHE record (the `routed_to_ehe` entry on the
    case history stays as it was). A redelivered or re-released referral adds nothing."""
    source = GROUND_SOURCES.get(referral.deletion_ground or "", NoticeSource.DELETION_GROUND_F)
    extra: dict[str, Any] = {"intake_id": str(referral.intake_id), "referral_id": referral.referral_id,
                             "deletion_ground": referral.deletion_ground,
                             "deletion_date": referral.deletion_date.isoformat() if referral.deletion_date else None,
                             "decision": decision.reason}
    if exception is not None:
        extra["restriction_exception"] = exception
    state, _ = await receive_notice(
        uow, child_subject_id=referral.child_subject_id,
        borough=referral.borough.value if referral.borough else None,
        notice_on=referral.deletion_date or referred_on, given_by="parent", source=source,
        actor="system:intake", origin=referral_source(referral), child=child_facts(referral),
        carer_subject_ids=referral.carer_subject_ids, extra=extra)
    return state


async def receive_notice(uow: CaseworkUnitOfWork, *, child_subject_id: UUID, borough: str | None, notice_on: date,
                         given_by: str, source: NoticeSource, actor: str, origin: str,
                         child: dict[str, Any] | None = None, carer_subject_ids: Any = (),
                         extra: dict[str, Any] | None = None) -> tuple[EheState, EheEntry | None]:
    """The notice on the child's open EHE record, or a new record: one open record per child."""
    rows = await uow.ehe.lock_child_records(child_subject_id)
    active = next((row for row in rows if row["status"] != ehe.EheStatus.CLOSED.value), None)
    intake_id = (extra or {}).get("intake_id")
    if active is not None:
        ehe_id = active["ehe_id"]
        state = await uow.ehe.state(ehe_id)
        if intake_id is not None and await uow.ehe.notice_seen(ehe_id, intake_id):
            return state, None
    else:
        ehe_id, state = uuid.uuid4(), EheState()
    entry = ehe.notice_entry(ehe_id=ehe_id, child_subject_id=child_subject_id, borough=borough, notice_on=notice_on,
                             given_by=given_by, source=source, actor=actor, origin=origin, child=child,
                             carer_subject_ids=carer_subject_ids, extra=extra)
    stored = await uow.ehe.append(ehe_id, child_subject_id, entry)
    state = ehe.transition(state, stored, uow.ehe_rules)
    await uow.ehe.project(state, ehe.next_due(state, uow.ehe_rules))
    if active is None and uow.cnis_register:
        await seed_register(uow, state)
    return state, stored


async def record_parent_notice(uow: CaseworkUnitOfWork, grant: Grant, *, child_subject_id: UUID, borough: str,
                               notice_on: date, given_by: str, actor: str,
                               exception: dict[str, Any] | None) -> tuple[EheState, EheEntry]:
    """A parent's written notice to the council (an officer records it)."""
    if not grant.covers(borough):
        raise RecordNotFound("borough_not_visible", "that borough is not one of yours", ["body", "borough"])
    if notice_on > uow.clock.today():
        raise ehe.refuse(("notice_on",), "date_in_future", "this date is after today")
    await uow.cases.lock_child_cases(child_subject_id)
    rows = await uow.ehe.lock_child_records(child_subject_id)
    active = next((row for row in rows if row["status"] != ehe.EheStatus.CLOSED.value), None)
    if active is not None and not grant.covers(active["borough"]):
        raise RecordNotFound("ehe_record_not_found", "the child's open EHE record is not in your boroughs")
    carers = [UUID(c) for c in (await uow.ehe.state(active["ehe_id"])).carer_subject_ids] if active else []
    extra = await _restriction_detail(uow, [child_subject_id, *carers], exception)
    state, stored = await receive_notice(
        uow, child_subject_id=child_subject_id, borough=borough, notice_on=notice_on, given_by=given_by,
        source=NoticeSource.PARENT_WRITTEN_NOTICE, actor=actor, origin="parent", extra=extra)
    assert stored is not None
    return state, stored


async def _restriction_detail(uow: CaseworkUnitOfWork, subjects: list[UUID],
                              exception: dict[str, Any] | None) -> dict[str, Any]:
    """UK GDPR Art 18, as for a case action: while a subject is restricted, only under a recorded exception."""
    if not await uow.cases.restricted(subjects):
        return {}
    if exception is None:
        raise TransitionRefused("subject_restricted", "processing of this subject is restricted (UK GDPR Art 18); "
                                "record an exception ground to act")
    return {"restriction_exception": exception}


async def reached(uow: CaseworkUnitOfWork, grant: Grant, ehe_id: UUID) -> Any:
    """The record's row; 404 when it does not exist or the grant does not reach it (never saying which)."""
    row = await uow.ehe.row(ehe_id)
    if row is None or not grant.covers(row["borough"]):
        raise RecordNotFound("ehe_record_not_found", "no such EHE record in your boroughs")
    return row


async def record_step(uow: CaseworkUnitOfWork, grant: Grant, ehe_id: UUID, step: dict[str, Any], *, actor: str,
                      exception: dict[str, Any] | None) -> tuple[EheState, EheEntry]:
    """An officer's step on the record; an outcome that makes the child CME opens (or joins) a CME case."""
    row = await reached(uow, grant, ehe_id)
    child = row["child_subject_id"]
    await uow.cases.lock_child_cases(child)
    await uow.ehe.lock_child_records(child)
    state = await uow.ehe.state(ehe_id)
    entry = ehe.step_entry(state, step, actor=actor, today=uow.clock.today(), rules=uow.ehe_rules)
    extra = await _restriction_detail(uow, [child, *(UUID(c) for c in state.carer_subject_ids)], exception)
    if extra:
        entry = replace(entry, detail={**entry.detail, **extra})
    stored = await uow.ehe.append(ehe_id, child, entry)
    state = ehe.transition(state, stored, uow.ehe_rules)
    if ehe.opens_cme_case(stored):
        state = await link_cme_case(uow, state, stored)
    await uow.ehe.project(state, ehe.next_due(state, uow.ehe_rules))
    return state, stored


async def lapse_unanswered_s437_notices(uow: CaseworkUnitOfWork) -> tuple[int, int]:
    """The s437(1) periods that ended unanswered: each is recorded and makes the child CME (a CME case opens,
    reopens or is linked), without waiting for an officer's next step. A restricted child is left alone (UK
    GDPR Art 18: stored, not processed) for the officer to act on under an exception. Returns (lapsed, left)."""
    today = uow.clock.today()
    lapsed = left = 0
    for candidate in await uow.ehe.s437_periods_ended(today):
        child = candidate["child_subject_id"]
        await uow.cases.lock_child_cases(child)
        await uow.ehe.lock_child_records(child)
        state = await uow.ehe.state(candidate["ehe_id"])
        entry = ehe.lapse_entry(state, today)
        if entry is None:
            continue
        if await uow.cases.restricted([child, *(UUID(c) for c in state.carer_subject_ids)]):
            left += 1
            continue
        stored = await uow.ehe.append(candidate["ehe_id"], child, entry)
        state = await link_cme_case(uow, ehe.transition(state, stored, uow.ehe_rules), stored)
        await uow.ehe.project(state, ehe.next_due(state, uow.ehe_rules))
        lapsed += 1
    return lapsed, left


async def link_cme_case(uow: CaseworkUnitOfWork, state: EheState, cause: EheEntry) -> EheState:
    """The child is CME from the cause's day: open a case (reason `ehe_education_unsuitable`), reopen the child's
    closed one, or link the open one; the case names the EHE record and the record the case."""
    assert state.child_subject_id is not None and state.ehe_id is not None
    child = state.child_subject_id
    rows = await uow.cases.lock_child_cases(child)
    active = next((r for r in rows if r["status"] != "closed"), None)
    if active is not None and state.cme_case_id == str(active["case_id"]):
        return state  # already linked to the open case
    day = cause.effective_on
    link = {"ehe_id": str(state.ehe_id), "ehe_entry_id": cause.entry_id, "ehe_step": cause.kind.value}
    if "restriction_exception" in cause.detail:
        link["restriction_exception"] = cause.detail["restriction_exception"]
    why = f"EHE record: {cause.kind.value} ({cause.detail.get('outcome', 'not satisfied')}): CME from {day.isoformat()}"
    reason = CaseReason.EHE_EDUCATION_UNSUITABLE.value
    period = {"reason": reason, "risk": Risk.STANDARD.value, "child": dict(state.child),
              "carer_subject_ids": list(state.carer_subject_ids), "missing_since": day.isoformat(), **link}
    if active is not None:
        case_id, how = active["case_id"], "joined"
        entry = Entry(Kind.EHE_LINKED, SYSTEM_CASEWORK, why, day, DataCategory.EDUCATION, "ehe_record", link)
        case_state = await uow.cases.state(case_id)
    elif rows:
        case_id, how = rows[0]["case_id"], "reopened"
        entry = Entry(Kind.CASE_REOPENED, SYSTEM_CASEWORK, why, day, DataCategory.EDUCATION, "ehe_record", period)
        case_state = await uow.cases.state(case_id)
    else:
        case_id, how = uuid.uuid4(), "opened"
        entry = Entry(Kind.CASE_OPENED, SYSTEM_CASEWORK, why, day, DataCategory.EDUCATION, "ehe_record",
                      {"case_id": str(case_id), "child_subject_id": str(child), "borough": state.borough, **period})
        case_state = CaseState()
    await append_entries(uow, case_state, [entry], case_id=case_id, child_subject_id=child)
    linked = EheEntry(EheKind.CME_CASE_LINKED, SYSTEM_CASEWORK, f"CME case {how}: the child is CME from {day.isoformat()}",
                      day, DataCategory.EDUCATION, "casework", {"case_id": str(case_id), "how": how,
                                                               "cause_entry_id": cause.entry_id})
    stored = await uow.ehe.append(state.ehe_id, child, linked)
    return ehe.transition(state, stored, uow.ehe_rules)


# --- the children-not-in-school register (only with uow.cnis_register) ------------------------------------

async def seed_register(uow: CaseworkUnitOfWork, state: EheState) -> None:
    """An EHE record starts the child's register entry (subject id, date of birth, borough), unless one exists."""
    assert state.child_subject_id is not None and state.ehe_id is not None
    if await uow.ehe.register_latest(state.child_subject_id) is not None:
        return
    await uow.ehe.register_add(child_subject_id=state.child_subject_id, ehe_id=state.ehe_id, borough=state.borough,
                               content=cnis_register.seeded(state.child.get("date_of_birth")),
                               entered_by=SYSTEM_CASEWORK, reason="seeded from the EHE record")


async def enter_register_details(uow: CaseworkUnitOfWork, grant: Grant, child_subject_id: UUID,
                                 content: dict[str, Any], *, actor: str, reason: str,
                                 exception: dict[str, Any] | None) -> Any:
    """An officer's entry of the register details: a new version with only the s436C fields (those not given
    keep what the entry held)."""
    rows = await uow.ehe.lock_child_records(child_subject_id)
    row = next((r for r in rows if grant.covers(r["borough"])), None)
    if row is None:
        raise RecordNotFound("register_entry_not_found", "no such child on the register in your boroughs")
    state = await uow.ehe.state(row["ehe_id"])
    extra = await _restriction_detail(uow, [child_subject_id, *(UUID(c) for c in state.carer_subject_ids)], exception)
    why = reason + (" (under a restriction exception)" if extra else "")
    latest = await uow.ehe.register_latest(child_subject_id)
    merged = {**(latest["content"] if latest is not None else {}), **content}
    return await uow.ehe.register_add(child_subject_id=child_subject_id, ehe_id=row["ehe_id"], borough=row["borough"],
                                      content=cnis_register.minimised(merged), entered_by=actor, reason=why)
