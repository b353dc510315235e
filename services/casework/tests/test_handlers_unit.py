"""Casework's handlers against in-memory repositories (fakes.py): the service's rules, without PostgreSQL.

Each test runs the real handler in a fake unit of work and looks at what a user would: the child's
history, the case as projected, and what went out through the outbox.
"""

import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest

from cme_casework.domain import commands
from cme_casework.domain.closure import ClosureReason
from cme_casework.domain.errors import EvidenceRefused, NotPermitted, RecordNotFound, TransitionRefused
from cme_casework.domain.history import SYSTEM_CASEWORK, officer
from cme_casework.domain.permissions import Action, grant
from cme_casework.domain.restriction import ExceptionGround, RestrictionException, recorded
from cme_casework.service_layer.cases import run_case_action
from cme_casework.service_layer.referrals import act_on_referral, on_referral_accepted, release_held
from cme_casework.service_layer.rights import on_data_collection, on_rights_event
from cme_casework.service_layer.shares import publish_share_made
from cme_shared.auth import Role
from cme_shared.clock import FixedClock
from cme_shared.contracts import topics
from cme_shared.contracts.categories import DataCategory
from cme_shared.contracts.rights import (
    DataCollectionRequest,
    FactualRectification,
    RestrictionLifted,
    SubjectRestricted,
)

from .fakes import FakeCaseworkUnitOfWork

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 20, 10, tzinfo=UTC)
OFFICER = grant(Action.ACT_ON_CASE, Role.OFFICER, ["westminster"])
KC_OFFICER = grant(Action.ACT_ON_CASE, Role.OFFICER, ["kensington_and_chelsea"])
MANAGER = grant(Action.DECIDE_SHARE, Role.MANAGER, ["westminster", "kensington_and_chelsea"])
SAFEGUARDING = RestrictionException(ground=ExceptionGround.PROTECTION_OF_ANOTHER_PERSON,
                                    reason="the child must be tracked for safeguarding")


def new_uow(at: datetime = NOW, **kwargs: Any) -> FakeCaseworkUnitOfWork:
    return FakeCaseworkUnitOfWork(clock=FixedClock(at), **kwargs)


async def handled(uow: FakeCaseworkUnitOfWork, handler: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a handler as the kit or a route does: in the unit of work, committed when it returns."""
    async with uow:
        result = await handler(uow, *args, **kwargs)
        await uow.commit()
    return result


def restricted(*subjects: uuid.UUID, request: uuid.UUID | None = None) -> SubjectRestricted:
    return SubjectRestricted(event_id=uuid.uuid4(), occurred_at=NOW, rights_request_id=request or uuid.uuid4(),
                             subject_ids=list(subjects), reason="accuracy contested")


def lifted(request: uuid.UUID, *subjects: uuid.UUID) -> RestrictionLifted:
    return RestrictionLifted(event_id=uuid.uuid4(), occurred_at=NOW, rights_request_id=request,
                             subject_ids=list(subjects), reason="accuracy verified")


def add_note(state: Any, today: date) -> Any:
    return commands.add_note(state, note_kind="fact", category=DataCategory.CONTACT, text="seen at the door",
                             source="neighbour", actor="officer:o1", today=today)


# --- referrals ------------------------------------------------------------------------------------

async def test_a_first_referral_opens_a_case_on_the_clock_and_says_so(make_referral):
    uow = new_uow()
    referral = make_referral(received_on=date(2026, 11, 16))
    await handled(uow, on_referral_accepted, referral)
    [case] = uow.cases.cases.values()
    assert (case["status"], case["borough"], case["next_due_kind"]) == ("open", "westminster", "first_enquiries")
    assert uow.cases.kinds(referral.child_subject_id)[0] == "case_opened"
    [changed] = uow.outbox.events(topics.CASE_EVENTS)
    assert (changed.case_id, changed.status, changed.change) == (case["case_id"], "open", "case_opened")
    assert uow.committed


async def test_a_further_referral_joins_the_open_case_without_telling_anyone(make_referral):
    uow = new_uow()
    child = uuid.uuid4()
    first = await handled(uow, act_on_referral, make_referral(child=child, received_on=date(2026, 11, 2)))
    again = new_uow(cases=uow.cases)
    joined = await handled(again, act_on_referral, make_referral(child=child, kind="child_not_in_school_concern",
                                                                 source="nhs", received_on=date(2026, 11, 5)))
    assert joined == first and len(uow.cases.cases) == 1
    assert "referral_joined" in uow.cases.kinds(child)
    assert again.outbox.sent == []  # the status stayed open: no CaseChanged


async def test_a_referral_about_a_child_whose_case_closed_reopens_that_case(make_referral, evidence):
    uow = new_uow()
    child = uuid.uuid4()
    case_id = await handled(uow, act_on_referral, make_referral(child=child, received_on=date(2026, 11, 2)))
    await handled(new_uow(cases=uow.cases), run_case_action, OFFICER, case_id, lambda state, today: commands.close(
        state, closure_reason=ClosureReason.DECEASED, evidence=evidence("deceased", date_of_death="2026-11-04"),
        closed_on=date(2026, 11, 5), note=None, actor="officer:o1", today=today, policy=uow.policy))
    assert uow.cases.cases[case_id]["status"] == "closed"
    again = new_uow(cases=uow.cases)
    assert await handled(again, act_on_referral, make_referral(child=child, received_on=date(2026, 11, 16))) == case_id
    assert uow.cases.cases[case_id]["status"] == "open" and "case_reopened" in uow.cases.kinds(child)
    assert [e.change for e in again.outbox.events(topics.CASE_EVENTS)] == ["case_reopened"]


async def test_a_referral_about_a_restricted_child_is_stored_and_not_acted_on(make_referral):
    uow = new_uow()
    child = uuid.uuid4()
    await handled(uow, on_rights_event, restricted(child))
    held = new_uow(cases=uow.cases)
    assert await handled(held, act_on_referral, make_referral(child=child)) is None
    assert uow.cases.kinds(child) == ["referral_held_restricted"] and uow.cases.cases == {}
    assert held.outbox.sent == []


async def test_a_carer_restricted_on_the_childs_case_holds_the_next_referral(make_referral):
    uow = new_uow()
    child, carer = uuid.uuid4(), uuid.uuid4()
    case_id = await handled(uow, act_on_referral, make_referral(child=child, carers=[carer],
                                                                received_on=date(2026, 11, 2)))
    await handled(new_uow(cases=uow.cases), on_rights_event, restricted(carer))
    # The next referral names no carer, but the case it would join does.
    assert await handled(new_uow(cases=uow.cases), act_on_referral, make_referral(child=child)) == case_id
    assert uow.cases.kinds(child)[-1] == "referral_held_restricted"


async def test_a_high_risk_referral_is_acted_on_at_once_under_the_safeguarding_exception(make_referral):
    uow = new_uow()
    child = uuid.uuid4()
    await handled(uow, on_rights_event, restricted(child))
    case_id = await handled(new_uow(cases=uow.cases), act_on_referral, make_referral(
        child=child, kind="child_not_in_school_concern", source="police", concern=True, received_on=date(2026, 11, 2)))
    assert case_id is not None and uow.cases.cases[case_id]["risk"] == "high"
    entries = await uow.cases.entries(case_id)
    assert entries and all(e.detail["restriction_exception"]["actor"] == SYSTEM_CASEWORK for e in entries)
    assert all(e.detail["restriction_exception"]["ground"] == "protection_of_another_person" for e in entries)


async def test_a_lifted_restriction_acts_on_the_held_referral_once_however_often_it_is_delivered(make_referral):
    uow = new_uow()
    child, request = uuid.uuid4(), uuid.uuid4()
    await handled(uow, on_rights_event, restricted(child, request=request))
    await handled(new_uow(cases=uow.cases), act_on_referral, make_referral(child=child))
    lift = lifted(request, child)
    await handled(new_uow(cases=uow.cases), on_rights_event, lift)
    await handled(new_uow(cases=uow.cases), on_rights_event, lift)  # redelivered
    assert uow.cases.kinds(child).count("referral_released") == 1
    assert uow.cases.kinds(child).count("case_opened") == 1 and len(uow.cases.cases) == 1


async def test_an_officer_releases_a_held_referral_under_a_recorded_exception_once(make_referral):
    uow = new_uow()
    child = uuid.uuid4()
    await handled(uow, on_rights_event, restricted(child))
    await handled(new_uow(cases=uow.cases), act_on_referral, make_referral(child=child))
    [(held, _)] = [(e, c) for e, c in uow.cases.history if e.kind.value == "referral_held_restricted"]
    exception = recorded(SAFEGUARDING, officer("o1"))
    case_id, release = await handled(new_uow(cases=uow.cases), release_held, held.entry_id, OFFICER, exception)
    assert case_id is not None and release.supersedes == held.entry_id
    opened = (await uow.cases.entries(case_id))[0]
    assert opened.detail["restriction_exception"]["actor"] == "officer:o1"
    with pytest.raises(TransitionRefused) as again:
        await handled(new_uow(cases=uow.cases), release_held, held.entry_id, OFFICER, exception)
    assert (again.value.status, again.value.code) == (409, "referral_already_released")


async def test_a_held_referral_of_another_borough_is_not_found(make_referral):
    uow = new_uow()
    child = uuid.uuid4()
    await handled(uow, on_rights_event, restricted(child))
    await handled(new_uow(cases=uow.cases), act_on_referral, make_referral(child=child))
    [held] = [e for e, _ in uow.cases.history if e.kind.value == "referral_held_restricted"]
    refusing = new_uow(cases=uow.cases)
    with pytest.raises(RecordNotFound) as missing:
        await handled(refusing, release_held, held.entry_id, KC_OFFICER, recorded(SAFEGUARDING, officer("o2")))
    assert (missing.value.status, missing.value.code) == (404, "held_referral_not_found")
    assert refusing.rolled_back and not refusing.committed


# --- officers' actions ----------------------------------------------------------------------------

async def test_a_case_of_another_borough_answers_as_a_missing_one(make_referral):
    uow = new_uow()
    case_id = await handled(uow, act_on_referral, make_referral())
    for case in (case_id, uuid.uuid4()):
        with pytest.raises(RecordNotFound) as missing:
            await handled(new_uow(cases=uow.cases), run_case_action, KC_OFFICER, case, add_note)
        assert (missing.value.status, missing.value.code) == (404, "case_not_found")


async def test_acting_on_a_restricted_childs_case_needs_an_exception_ground(make_referral):
    uow = new_uow()
    child = uuid.uuid4()
    case_id = await handled(uow, act_on_referral, make_referral(child=child, received_on=date(2026, 11, 2)))
    await handled(new_uow(cases=uow.cases), on_rights_event, restricted(child))
    with pytest.raises(TransitionRefused) as refused:
        await handled(new_uow(cases=uow.cases), run_case_action, OFFICER, case_id, add_note)
    assert (refused.value.status, refused.value.code) == (409, "subject_restricted")
    _, entry = await handled(new_uow(cases=uow.cases), run_case_action, OFFICER, case_id, add_note,
                             exception=SAFEGUARDING)
    assert entry.detail["restriction_exception"]["ground"] == "protection_of_another_person"


async def test_a_share_is_made_only_when_another_manager_approves_it(make_referral):
    uow = new_uow()
    case_id = await handled(uow, act_on_referral, make_referral(received_on=date(2026, 11, 2)))
    _, proposal = await handled(new_uow(cases=uow.cases), run_case_action, OFFICER, case_id,
                                lambda state, today: commands.propose_share(
                                    state, recipient={"type": "school", "org_name": "St Mary's"},
                                    purpose="cme_tracking", legal_gateway="Education Act 1996 s436A",
                                    categories=[DataCategory.CONTACT], fields_released=["child.address"],
                                    reason="the school is asked to admit", actor="officer:ana", proposer_sub="ana",
                                    today=today))
    share_id = proposal.detail["share_id"]

    def decide(sub: str, approve: bool) -> Any:
        return lambda state, today: commands.decide_share(state, share_id, approve=approve, reason="routine",
                                                          actor=f"manager:{sub}", decider_sub=sub, today=today)

    with pytest.raises(NotPermitted) as own:
        await handled(new_uow(cases=uow.cases), run_case_action, MANAGER, case_id, decide("ana", True),
                      after=publish_share_made)
    assert (own.value.status, own.value.code) == (403, "two_person_rule")
    approving = new_uow(cases=uow.cases)
    await handled(approving, run_case_action, MANAGER, case_id, decide("mo", True), after=publish_share_made)
    [share] = approving.outbox.events(topics.SHARE_EVENTS)
    assert (share.share_ref, share.decided_by, share.proposed_by) == (f"casework:{share_id}", "manager:mo",
                                                                      "officer:ana")
    assert share.occurred_at == NOW


async def test_closing_without_the_evidence_is_refused_with_every_problem_in_the_body(make_referral):
    uow = new_uow()
    case_id = await handled(uow, act_on_referral, make_referral(received_on=date(2026, 11, 2)))
    with pytest.raises(EvidenceRefused) as refused:
        await handled(new_uow(cases=uow.cases), run_case_action, OFFICER, case_id, lambda state, today: commands.close(
            state, closure_reason=ClosureReason.ON_ROLL_ELSEWHERE, evidence={}, closed_on=today, note=None,
            actor="officer:o1", today=today, policy=uow.policy))
    errors = refused.value.errors()
    assert refused.value.status == 422 and len(errors) >= 2
    assert all(loc[:2] == ["body", "evidence"] for loc, _, _ in errors)
    assert uow.cases.cases[case_id]["status"] == "open"


async def test_an_action_is_dated_by_londons_day_not_utcs(make_referral):
    uow = new_uow()
    case_id = await handled(uow, act_on_referral, make_referral(received_on=date(2026, 6, 29)))
    late_evening = new_uow(at=datetime(2026, 6, 30, 23, 30, tzinfo=UTC), cases=uow.cases)  # 00:30 BST, 1 July
    _, entry = await handled(late_evening, run_case_action, OFFICER, case_id, add_note)
    assert entry.effective_on == date(2026, 7, 1)


# --- the rights service's requests ----------------------------------------------------------------

async def test_a_rectified_sex_is_recorded_and_answered_with_the_records_changed(make_referral):
    uow = new_uow()
    child = uuid.uuid4()
    await handled(uow, act_on_referral, make_referral(child=child, sex="female"))
    rectifying = new_uow(cases=uow.cases)
    event = FactualRectification(event_id=uuid.uuid4(), occurred_at=NOW, rights_request_id=uuid.uuid4(),
                                 subject_id=child, field="sex", new_value="male", decided_by="dpo-1")
    await handled(rectifying, on_rights_event, event)
    [case] = uow.cases.cases.values()
    assert case["child_sex"] == "male" and uow.cases.kinds(child)[-1] == "fact_rectified"
    [reply] = rectifying.outbox.events(topics.replies_of("casework"))
    assert (reply.rights_request_id, reply.records_changed) == (event.rights_request_id, 1)


async def test_a_rectification_casework_cannot_apply_changes_nothing_and_says_so(make_referral):
    uow = new_uow()
    child = uuid.uuid4()
    await handled(uow, act_on_referral, make_referral(child=child))
    rectifying = new_uow(cases=uow.cases)
    await handled(rectifying, on_rights_event, FactualRectification(
        event_id=uuid.uuid4(), occurred_at=NOW, rights_request_id=uuid.uuid4(), subject_id=child,
        field="date_of_birth", new_value="not a date", decided_by="dpo-1"))
    [reply] = rectifying.outbox.events(topics.replies_of("casework"))
    assert reply.records_changed == 0 and "fact_rectified" not in uow.cases.kinds(child)


async def test_a_kind_of_rights_event_casework_does_not_handle_changes_nothing():
    uow = new_uow()
    await handled(uow, on_rights_event, None)
    await handled(uow, on_data_collection, None)
    assert uow.outbox.sent == [] and uow.cases.history == []


async def test_a_data_collection_is_answered_only_when_addressed_to_casework(make_referral):
    uow = new_uow()
    child, carer = uuid.uuid4(), uuid.uuid4()
    await handled(uow, act_on_referral, make_referral(child=child, carers=[carer]))
    elsewhere = new_uow(cases=uow.cases)
    ask = dict(event_id=uuid.uuid4(), occurred_at=NOW, collection_id=uuid.uuid4(), rights_request_id=uuid.uuid4(),
               subject_ids=[child, carer])
    await handled(elsewhere, on_data_collection, DataCollectionRequest(**ask, services=["intake"]))
    assert elsewhere.outbox.sent == []
    answering = new_uow(cases=uow.cases)
    await handled(answering, on_data_collection, DataCollectionRequest(**ask))
    replies = answering.outbox.events(topics.replies_of("casework"))
    assert replies[-1].last and replies[-1].total_items == sum(len(r.items) for r in replies)
    items = [item for reply in replies for item in reply.items]
    assert {i.record_type for i in items if i.subject_id == child} >= {"case", "case_child_details", "case_history"}
    assert [i.record_type for i in items if i.subject_id == carer] == ["case_link"]
