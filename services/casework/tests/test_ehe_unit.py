"""Elective home education (issue 14, item 2) and the children-not-in-school register (item 3): the domain rules,
each naming its source, and the handlers on in-memory repositories (fakes.py).

Sources: Education Act 1996 ss7, 437(1)-(3), 438, 442; SI 2024/208 reg 9(1)(e), (f); DfE "Elective home
education: departmental guidance for local authorities" (April 2019), section 6; DfE "Children missing
education" (8 Sep 2025); Education Act 1996 ss436B-436G (CWSA 2026 s38), s436C for the register's content.
"""

import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest

from cme_casework.domain import cnis_register, ehe
from cme_casework.domain.ehe import (
    DueKind,
    EheKind,
    EheRules,
    EheState,
    EheStatus,
    NoticeSource,
    add_months,
    add_working_days,
    s437_period_ends,
    s438_choice_ends,
)
from cme_casework.domain.errors import EvidenceRefused, RecordNotFound, TransitionRefused
from cme_casework.domain.permissions import Action, grant
from cme_casework.domain.restriction import ExceptionGround, RestrictionException, recorded
from cme_casework.service_layer import ehe as ehe_service
from cme_casework.service_layer.referrals import act_on_referral
from cme_casework.service_layer.rights import collect, on_rights_event
from cme_casework.service_layer.returns import cme_census
from cme_shared.auth import Role
from cme_shared.clock import FixedClock
from cme_shared.contracts.rights import SubjectRestricted

from .fakes import FakeCaseworkUnitOfWork

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 20, 10, tzinfo=UTC)
TODAY = date(2026, 11, 20)
OFFICER = grant(Action.RECORD_EHE, Role.OFFICER, ["westminster"])
KC_OFFICER = grant(Action.RECORD_EHE, Role.OFFICER, ["kensington_and_chelsea"])
CENSUS = grant(Action.EXPORT_CENSUS, Role.MANAGER, ["westminster", "kensington_and_chelsea"])
RULES = EheRules()


# --- domain: the clocks, each naming its source ---------------------------------------------------------

def test_the_s437_period_is_at_least_15_days_beginning_with_the_day_of_service():
    """Education Act 1996 s437(2): "not less than 15 days beginning with the day on which it is served"."""
    assert s437_period_ends(date(2026, 11, 2), 15) == date(2026, 11, 16)
    state = _assessed("unsuitable")
    with pytest.raises(EvidenceRefused) as refused:
        ehe.step_entry(state, {"kind": "s437_notice_served", "on": date(2026, 11, 12), "period_days": 14},
                       actor="officer:o1", today=TODAY, rules=RULES)
    assert [(p.loc, p.code) for p in refused.value.problems] == [(("period_days",), "s437_period_too_short")]


def test_the_s438_choice_runs_15_days_beginning_with_the_day_of_service():
    """Education Act 1996 s438(4): the parent may choose a school within 15 days beginning with service."""
    assert s438_choice_ends(date(2026, 12, 1)) == date(2026, 12, 15)


def test_the_local_clocks_count_england_working_days_over_christmas():
    """cme_shared.law.calendar: Christmas Day (Fri 25 Dec 2026) and Boxing Day's substitute (Mon 28 Dec)."""
    assert add_working_days(date(2026, 12, 24), 1) == date(2026, 12, 29)
    assert add_working_days(date(2026, 12, 26), 0) == date(2026, 12, 29)


def test_a_suitable_arrangement_is_reviewed_after_the_configured_months():
    """2019 EHE guidance, section 6: a suitable arrangement is reviewed, normally once a year."""
    assert add_months(date(2026, 11, 20), 12) == date(2027, 11, 20)
    assert add_months(date(2028, 2, 29), 12) == date(2029, 2, 28)
    state = _assessed("suitable")
    assert ehe.next_due(state, RULES) == ehe.EheDue(DueKind.REVIEW, date(2027, 11, 12))
    assert ehe.next_due(_assessed("suitable", rules=EheRules(review_months=6)),
                        EheRules(review_months=6)).on == date(2027, 5, 12)


def test_each_step_has_its_own_clock():
    notified = _notified()
    assert ehe.next_due(notified, RULES) == ehe.EheDue(DueKind.ENQUIRY, add_working_days(date(2026, 11, 2), 10))
    asked = _step(notified, "enquiry_made", date(2026, 11, 3), method="letter")
    assert ehe.next_due(asked, RULES) == ehe.EheDue(DueKind.PARENT_RESPONSE, add_working_days(date(2026, 11, 3), 15))
    answered = _step(asked, "parent_responded", date(2026, 11, 9), form="written_report")
    assert ehe.next_due(answered, RULES).kind is DueKind.ASSESSMENT
    unsuitable = _step(answered, "assessment_recorded", date(2026, 11, 12), outcome="unsuitable", assessed_by="EHE adviser")
    assert ehe.next_due(unsuitable, RULES) == ehe.EheDue(DueKind.S437_NOTICE, date(2026, 11, 26))
    served = _step(unsuitable, "s437_notice_served", date(2026, 11, 13), period_days=15)
    assert ehe.next_due(served, RULES) == ehe.EheDue(DueKind.S437_PERIOD_ENDS, date(2026, 11, 27))


def test_informal_enquiries_come_before_an_assessment():
    """2019 EHE guidance, section 6: the council makes informal enquiries of the parent first."""
    with pytest.raises(TransitionRefused) as refused:
        ehe.step_entry(_notified(), {"kind": "assessment_recorded", "on": date(2026, 11, 5), "outcome": "unsuitable",
                                     "assessed_by": "adviser"}, actor="officer:o1", today=TODAY, rules=RULES)
    assert refused.value.code == "enquiry_first"


def test_the_order_route_follows_the_act_step_by_step():
    """s437(1) only when education appears unsuitable; s438 only once the s437 period ended unanswered
    (s437(3)(a)); the order only after the s438 choice period (s438(4))."""
    with pytest.raises(TransitionRefused) as not_yet:
        ehe.step_entry(_assessed("suitable"), {"kind": "s437_notice_served", "on": date(2026, 11, 13)},
                       actor="o", today=TODAY, rules=RULES)
    assert not_yet.value.code == "s437_not_open"
    served = _step(_assessed("unsuitable"), "s437_notice_served", date(2026, 11, 2), period_days=15)
    with pytest.raises(TransitionRefused) as running:
        ehe.step_entry(served, {"kind": "s438_notice_served", "on": date(2026, 11, 16), "school_urn": "100001"},
                       actor="o", today=date(2026, 11, 16), rules=RULES)
    assert running.value.code == "s437_period_not_over"
    intention = _step(served, "s438_notice_served", date(2026, 11, 17), school_urn="100001", today=date(2026, 11, 17))
    assert intention.s438["choose_by"] == date(2026, 12, 1)
    with pytest.raises(EvidenceRefused) as choosing:
        ehe.step_entry(intention, {"kind": "school_attendance_order_made", "on": date(2026, 11, 30),
                                   "school_urn": "100001"}, actor="o", today=date(2026, 12, 5), rules=RULES)
    assert choosing.value.problems[0].code == "s438_choice_period_running"
    order = _step(intention, "school_attendance_order_made", date(2026, 12, 2), school_urn="100001",
                  today=date(2026, 12, 5))
    assert order.status is EheStatus.ORDER
    revoked = _step(order, "school_attendance_order_revoked", date(2026, 12, 4), ground="education_otherwise",
                    today=date(2026, 12, 5))
    assert revoked.status is EheStatus.SUITABLE and revoked.review_due_on == date(2027, 12, 4)


def test_an_unanswered_enquiry_lets_the_s437_notice_be_served():
    """s437(1) "if it appears": a parent who does not answer the council's enquiry in time (2019 guidance)."""
    asked = _step(_notified(), "enquiry_made", date(2026, 11, 3), method="letter", response_due_on=date(2026, 11, 10))
    entry = ehe.step_entry(asked, {"kind": "s437_notice_served", "on": date(2026, 11, 12)}, actor="o", today=TODAY,
                           rules=RULES)
    assert entry.detail["period_ends_on"] == "2026-11-26"


def test_which_outcomes_make_the_child_cme():
    """DfE CME guidance (8 Sep 2025): EHE is not CME until the education is found unsuitable or absent."""
    def entry(kind: EheKind, **detail: Any) -> ehe.EheEntry:
        return ehe.EheEntry(kind, "o", "r", TODAY, ehe.DataCategory.EDUCATION, "s", detail)
    assert ehe.opens_cme_case(entry(EheKind.ASSESSMENT_RECORDED, outcome="unsuitable"))
    assert ehe.opens_cme_case(entry(EheKind.ASSESSMENT_RECORDED, outcome="no_education_evident"))
    assert not ehe.opens_cme_case(entry(EheKind.ASSESSMENT_RECORDED, outcome="suitable"))
    assert ehe.opens_cme_case(entry(EheKind.S437_RESPONSE_RECORDED, satisfied=False))
    assert not ehe.opens_cme_case(entry(EheKind.S437_RESPONSE_RECORDED, satisfied=True))
    assert not ehe.opens_cme_case(entry(EheKind.NOTICE_RECEIVED))


def test_a_step_cannot_be_dated_in_the_future_or_before_the_notice():
    for on, code in ((date(2026, 11, 21), "date_in_future"), (date(2026, 10, 1), "before_notice")):
        with pytest.raises(EvidenceRefused) as refused:
            ehe.step_entry(_notified(), {"kind": "enquiry_made", "on": on, "method": "letter"}, actor="o",
                           today=TODAY, rules=RULES)
        assert refused.value.problems[0].code == code


def test_the_register_holds_only_what_s436c_requires_or_allows():
    """Education Act 1996 s436C(1) mandatory and s436C(2) optional content; anything else is dropped."""
    kept = cnis_register.minimised({"child_name": "A Child", "nhs_number": "9434765919", "ethnicity": "x"})
    assert set(kept) == set(cnis_register.FIELD_NAMES) and "nhs_number" not in kept
    assert {f.name for f in cnis_register.FIELDS if f.mandatory} == {
        "child_name", "child_date_of_birth", "child_address", "parents", "education_by_parent", "other_providers"}
    assert all(f.source.startswith("s436C") for f in cnis_register.FIELDS)


# --- handlers on fakes ------------------------------------------------------------------------------------

def new_uow(at: datetime = NOW, share: FakeCaseworkUnitOfWork | None = None, **kwargs: Any) -> FakeCaseworkUnitOfWork:
    if share is not None:
        kwargs |= {"cases": share.cases, "ehe": share.ehe}
    return FakeCaseworkUnitOfWork(clock=FixedClock(at), **kwargs)


async def handled(uow: FakeCaseworkUnitOfWork, handler: Any, *args: Any, **kwargs: Any) -> Any:
    async with uow:
        result = await handler(uow, *args, **kwargs)
        await uow.commit()
    return result


def ground_f(make_referral: Any, child: uuid.UUID, on: date = date(2026, 11, 2), **kw: Any) -> Any:
    return make_referral(child=child, ground="9(1)(f)", received_on=on, deletion_date=on, **kw)


async def test_a_ground_f_notice_makes_an_ehe_record_and_no_cme_case(make_referral):
    uow = new_uow()
    child = uuid.uuid4()
    referral = ground_f(make_referral, child)
    assert await handled(uow, act_on_referral, referral) is None
    assert uow.cases.cases == {}
    assert "routed_to_ehe" in uow.cases.kinds(child)  # the hand-off entry stays
    [record] = uow.ehe.records.values()
    assert (record["status"], record["borough"], record["notice_on"], record["next_due_kind"]) == (
        "notified", "westminster", date(2026, 11, 2), "enquiry")
    # The same referral again (a redelivery, a release run twice) changes nothing; a new notice is added.
    await handled(new_uow(share=uow), act_on_referral, referral)
    assert len(uow.ehe.history) == 1
    await handled(new_uow(share=uow), act_on_referral, ground_f(make_referral, child, date(2026, 11, 9)))
    assert len(uow.ehe.records) == 1
    assert [e.kind for e, _ in uow.ehe.history] == [EheKind.NOTICE_RECEIVED, EheKind.NOTICE_RECEIVED]


async def test_a_ground_e_revocation_is_an_ehe_notice_too(make_referral):
    uow = new_uow()
    child = uuid.uuid4()
    await handled(uow, act_on_referral, make_referral(child=child, ground="9(1)(e)"))
    [(entry, _)] = uow.ehe.history
    assert entry.detail["source"] == NoticeSource.SAO_REVOKED_GROUND_E.value and uow.cases.cases == {}


async def test_an_open_cme_case_stays_when_a_notice_arrives(make_referral):
    uow = new_uow()
    child = uuid.uuid4()
    case_id = await handled(uow, act_on_referral, make_referral(child=child, received_on=date(2026, 11, 2)))
    assert await handled(new_uow(share=uow), act_on_referral, ground_f(make_referral, child, date(2026, 11, 5))) == case_id
    assert uow.cases.cases[case_id]["status"] == "open" and len(uow.ehe.records) == 1


async def record_step(uow: FakeCaseworkUnitOfWork, ehe_id: uuid.UUID, g: Any = OFFICER, exception: Any = None,
                      **step: Any) -> Any:
    return await handled(uow, ehe_service.record_step, g, ehe_id, step, actor="officer:o1", exception=exception)


async def assessed(make_referral: Any, outcome: str) -> tuple[FakeCaseworkUnitOfWork, uuid.UUID, uuid.UUID]:
    uow = new_uow()
    child = uuid.uuid4()
    await handled(uow, act_on_referral, ground_f(make_referral, child))
    [ehe_id] = uow.ehe.records
    await record_step(new_uow(share=uow), ehe_id, kind="enquiry_made", on=date(2026, 11, 3), method="letter")
    await record_step(new_uow(share=uow), ehe_id, kind="parent_responded", on=date(2026, 11, 9), form="written_report")
    await record_step(new_uow(share=uow), ehe_id, kind="assessment_recorded", on=date(2026, 11, 12), outcome=outcome,
                      assessed_by="EHE adviser")
    return uow, child, ehe_id


async def test_an_unsuitable_assessment_opens_a_cme_case_linked_both_ways_cme_from_that_day(make_referral):
    uow, child, ehe_id = await assessed(make_referral, "unsuitable")
    [case] = uow.cases.cases.values()
    assert (case["reason"], case["status"], case["borough"]) == ("ehe_education_unsuitable", "open", "westminster")
    assert uow.ehe.records[ehe_id]["cme_case_id"] == case["case_id"]
    opened = next(e for e, _ in uow.cases.history if e.kind.value == "case_opened")
    assert opened.detail["ehe_id"] == str(ehe_id) and opened.effective_on == date(2026, 11, 12)
    # Counted in the DfE census as CME from the assessment's day, not before.
    async with new_uow(share=uow) as reading:
        before, _ = await cme_census(reading, date(2026, 11, 11), CENSUS)
        after, counted = await cme_census(reading, date(2026, 11, 13), CENSUS)
    assert before == [] and [k.reason for k, _ in after] == ["ehe_education_unsuitable"] and counted == [child]


async def test_a_suitable_assessment_schedules_a_review_and_opens_nothing(make_referral):
    uow, _, ehe_id = await assessed(make_referral, "suitable")
    assert uow.cases.cases == {}
    record = uow.ehe.records[ehe_id]
    assert (record["status"], record["next_due_kind"], record["review_due_on"]) == (
        "suitable", "review", date(2027, 11, 12))


async def test_an_unsatisfied_s437_notice_opens_the_cme_case_once(make_referral):
    uow = new_uow(at=datetime(2026, 12, 10, 10, tzinfo=UTC))
    child = uuid.uuid4()
    await handled(uow, act_on_referral, ground_f(make_referral, child))
    [ehe_id] = uow.ehe.records
    later = lambda: new_uow(at=datetime(2026, 12, 10, 10, tzinfo=UTC), share=uow)  # noqa: E731
    await record_step(later(), ehe_id, kind="enquiry_made", on=date(2026, 11, 3), method="letter",
                      response_due_on=date(2026, 11, 10))
    await record_step(later(), ehe_id, kind="s437_notice_served", on=date(2026, 11, 12), period_days=15)
    assert uow.cases.cases == {}  # no outcome yet: not CME
    await record_step(later(), ehe_id, kind="s437_response_recorded", on=date(2026, 11, 26), satisfied=False)
    [case] = uow.cases.cases.values()
    await record_step(later(), ehe_id, kind="s438_notice_served", on=date(2026, 11, 27), school_urn="100001")
    assert len(uow.cases.cases) == 1 and uow.ehe.records[ehe_id]["cme_case_id"] == case["case_id"]
    assert uow.ehe.records[ehe_id]["next_due_kind"] == "s438_school_choice"


async def test_ehe_children_are_counted_apart_never_as_cme(make_referral):
    """Statutory review 2026-12, D4: the census fixture with EHE children excluded from CME."""
    uow = new_uow()
    missing, home_educated, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await handled(uow, act_on_referral, make_referral(child=missing, received_on=date(2026, 11, 2)))
    await handled(new_uow(share=uow), act_on_referral, ground_f(make_referral, home_educated))
    await handled(new_uow(share=uow), act_on_referral, ground_f(make_referral, other, borough="kensington_and_chelsea"))
    async with new_uow(share=uow) as reading:
        rows, counted = await cme_census(reading, date(2026, 11, 19), CENSUS)
        states = await reading.ehe.states_as_at(date(2026, 11, 19))
    assert counted == [missing] and sum(n for _, n in rows) == 1
    assert ehe.count_open(states, date(2026, 11, 19)) == [("kensington_and_chelsea", 1, 0), ("westminster", 1, 0)]
    assert ehe.count_open(states, date(2026, 11, 1)) == []


async def test_another_boroughs_record_is_not_found(make_referral):
    uow = new_uow()
    await handled(uow, act_on_referral, ground_f(make_referral, uuid.uuid4()))
    [ehe_id] = uow.ehe.records
    with pytest.raises(RecordNotFound):
        await record_step(new_uow(share=uow), ehe_id, KC_OFFICER, kind="enquiry_made", on=date(2026, 11, 3),
                          method="letter")


async def test_a_restricted_childs_record_needs_an_exception_ground(make_referral):
    uow = new_uow()
    child = uuid.uuid4()
    await handled(uow, act_on_referral, ground_f(make_referral, child))
    [ehe_id] = uow.ehe.records
    await handled(new_uow(share=uow), on_rights_event, SubjectRestricted(
        event_id=uuid.uuid4(), occurred_at=NOW, rights_request_id=uuid.uuid4(), subject_ids=[child],
        reason="accuracy contested"))
    with pytest.raises(TransitionRefused) as refused:
        await record_step(new_uow(share=uow), ehe_id, kind="enquiry_made", on=date(2026, 11, 3), method="letter")
    assert refused.value.code == "subject_restricted" and len(uow.ehe.history) == 1
    exception = recorded(RestrictionException(ground=ExceptionGround.LEGAL_CLAIMS, reason="statutory duty s437 route"),
                         "officer:o1")
    await record_step(new_uow(share=uow), ehe_id, exception=exception, kind="enquiry_made", on=date(2026, 11, 3),
                      method="letter")
    assert uow.ehe.history[-1][0].detail["restriction_exception"]["ground"] == "legal_claims"
    # A notice arriving by referral while restricted is held, as every referral is.
    await handled(new_uow(share=uow), act_on_referral, ground_f(make_referral, child, date(2026, 11, 9)))
    assert len([e for e, _ in uow.ehe.history if e.kind is EheKind.NOTICE_RECEIVED]) == 1


async def test_a_parents_notice_to_the_council_starts_the_record(make_referral):
    uow = new_uow()
    child = uuid.uuid4()
    state, entry = await handled(uow, ehe_service.record_parent_notice, OFFICER, child_subject_id=child,
                                 borough="westminster", notice_on=date(2026, 11, 18), given_by="parent",
                                 actor="officer:o1", exception=None)
    assert entry.detail["source"] == "parent_written_notice" and state.status is EheStatus.NOTIFIED
    with pytest.raises(RecordNotFound):
        await handled(new_uow(share=uow), ehe_service.record_parent_notice, KC_OFFICER, child_subject_id=child,
                      borough="westminster", notice_on=date(2026, 11, 18), given_by="parent", actor="o", exception=None)


async def test_subject_access_includes_the_ehe_record_and_its_history(make_referral):
    uow, child, ehe_id = await assessed(make_referral, "suitable")
    async with new_uow(share=uow) as reading:
        items = await collect(reading, [child])
    ehe_items = [i for i in items if i.record_type in ("ehe_record", "ehe_history")]
    assert {i.record_type for i in ehe_items} == {"ehe_record", "ehe_history"}
    assert all(i.category.value == "education" and i.subject_id == child for i in ehe_items)
    assert [i.data["kind"] for i in ehe_items if i.record_type == "ehe_history"] == [
        "notice_received", "enquiry_made", "parent_responded", "assessment_recorded"]
    assert not [i for i in items if i.record_type == "cnis_register_entry"]


async def test_the_register_is_written_only_with_the_feature_on(make_referral):
    off = new_uow()
    await handled(off, act_on_referral, ground_f(make_referral, uuid.uuid4()))
    assert off.ehe.register == []
    on = new_uow(cnis_register=True)
    child = uuid.uuid4()
    await handled(on, act_on_referral, ground_f(make_referral, child))
    [seed] = on.ehe.register
    assert seed["content"] == cnis_register.seeded("2014-03-10") and seed["borough"] == "westminster"
    async with new_uow(share=on, cnis_register=True) as reading:
        items = await collect(reading, [child])
    assert [i.record_type for i in items if i.record_type == "cnis_register_entry"] == ["cnis_register_entry"]


# --- helpers ------------------------------------------------------------------------------------------------

def _notified(on: date = date(2026, 11, 2)) -> EheState:
    entry = ehe.notice_entry(ehe_id=uuid.uuid4(), child_subject_id=uuid.uuid4(), borough="westminster", notice_on=on,
                             given_by="parent", source=NoticeSource.DELETION_GROUND_F, actor="system:intake",
                             origin="school:x")
    return ehe.fold([entry])


def _step(state: EheState, kind: str, on: date, today: date = TODAY, rules: EheRules = RULES, **fields: Any) -> EheState:
    entry = ehe.step_entry(state, {"kind": kind, "on": on, **fields}, actor="officer:o1", today=today, rules=rules)
    return ehe.transition(state, entry, rules)


def _assessed(outcome: str, rules: EheRules = RULES) -> EheState:
    asked = _step(_notified(), "enquiry_made", date(2026, 11, 3), method="letter", rules=rules)
    return _step(asked, "assessment_recorded", date(2026, 11, 12), outcome=outcome, assessed_by="adviser", rules=rules)





def test_a_cme_case_may_close_as_ehe_suitable_citing_the_record():
    """DOMAIN section 2: "elective home education assessed suitable" needs the assessment (domain/closure.py)."""
    from cme_casework.domain.closure import ClosureContext, ClosureReason, check

    context = ClosureContext(case_id=uuid.uuid4(), period_opened_on=date(2026, 11, 2), agencies_asked=frozenset(),
                             today=TODAY)
    proof, problems = check(ClosureReason.ELECTIVE_HOME_EDUCATION_SUITABLE, {
        "assessed_on": "2026-11-12", "assessed_by": "EHE adviser", "confirmed_by": "EHE team",
        "ehe_id": str(uuid.uuid4())}, TODAY, context)
    assert problems == [] and proof is not None


def test_an_s437_period_that_ends_unanswered_lapses_the_day_after():
    """Education Act 1996 s437(3)(a): the parent fails to satisfy the council within the period."""
    served = _step(_assessed("unsuitable"), "s437_notice_served", date(2026, 11, 2), period_days=15)
    assert ehe.lapse_entry(served, date(2026, 11, 16)) is None  # the last day of the period
    lapse = ehe.lapse_entry(served, date(2026, 11, 17))
    assert lapse is not None and lapse.effective_on == date(2026, 11, 17) and ehe.opens_cme_case(lapse)
    after = ehe.transition(served, lapse)
    assert ehe.lapse_entry(after, date(2026, 11, 20)) is None  # recorded once
    assert ehe.next_due(after, RULES) == ehe.EheDue(DueKind.S438_NOTICE, add_working_days(date(2026, 11, 16), 10))
    answered = _step(served, "s437_response_recorded", date(2026, 11, 10), satisfied=True)
    assert ehe.lapse_entry(answered, date(2026, 11, 30)) is None


async def test_the_sweep_opens_a_cme_case_for_an_unanswered_s437_notice_and_leaves_a_restricted_child(make_referral):
    uow = new_uow(at=datetime(2026, 11, 10, 10, tzinfo=UTC))
    children = [uuid.uuid4(), uuid.uuid4()]
    for child in children:
        await handled(uow, act_on_referral, ground_f(make_referral, child))
    served_on = lambda: new_uow(at=datetime(2026, 11, 10, 10, tzinfo=UTC), share=uow)  # noqa: E731
    for ehe_id in list(uow.ehe.records):
        await record_step(served_on(), ehe_id, kind="enquiry_made", on=date(2026, 11, 3), method="letter",
                          response_due_on=date(2026, 11, 5))
        await record_step(served_on(), ehe_id, kind="s437_notice_served", on=date(2026, 11, 6), period_days=15)
    await handled(new_uow(share=uow), on_rights_event, SubjectRestricted(
        event_id=uuid.uuid4(), occurred_at=NOW, rights_request_id=uuid.uuid4(), subject_ids=[children[1]],
        reason="accuracy contested"))
    early = new_uow(at=datetime(2026, 11, 20, 10, tzinfo=UTC), share=uow)
    assert await handled(early, ehe_service.lapse_unanswered_s437_notices) == (0, 0)  # the period ends on the 20th
    later = new_uow(at=datetime(2026, 11, 23, 10, tzinfo=UTC), share=uow)
    assert await handled(later, ehe_service.lapse_unanswered_s437_notices) == (1, 1)
    [case] = uow.cases.cases.values()
    assert (case["child_subject_id"], case["reason"], case["period_opened_on"]) == (
        children[0], "ehe_education_unsuitable", date(2026, 11, 21))
    again = new_uow(at=datetime(2026, 11, 24, 10, tzinfo=UTC), share=uow)
    assert await handled(again, ehe_service.lapse_unanswered_s437_notices) == (0, 1)
    assert len(uow.cases.cases) == 1
