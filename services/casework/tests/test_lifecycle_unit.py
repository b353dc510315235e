"""The case state machine: each transition, what it refuses, and state derived from the history."""

import itertools
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from cme_casework.domain import commands, lifecycle, referral_entries
from cme_casework.domain.clocks import ClockPolicy, DueKind, next_due
from cme_casework.domain.closure import ClosureReason
from cme_casework.domain.enquiries import Agency, Fact, FactField, Outcome
from cme_casework.domain.errors import EvidenceRefused, RecordNotFound, TransitionRefused
from cme_casework.domain.history import Entry, Kind
from cme_casework.domain.lifecycle import Status
from cme_casework.domain.opening import decide
from cme_shared.contracts.categories import DataCategory

pytestmark = pytest.mark.unit

TODAY = date(2026, 11, 30)
REFERRED = date(2026, 11, 16)
ACTOR = "officer:o1"


class Case:
    """A case built the way the service builds one: each entry checked, numbered, then folded in."""

    def __init__(self, referral) -> None:
        self._ids = itertools.count(1)
        self.entries: list[Entry] = []
        self.state = lifecycle.CaseState()
        self.do(*referral_entries.open_case(referral, decide(referral), uuid.uuid4(), REFERRED))

    def do(self, *entries: Entry) -> "Case":
        for entry in entries:
            lifecycle.transition(self.state, entry)
            stored = replace(entry, entry_id=next(self._ids), recorded_at=datetime.now(UTC))
            self.state = lifecycle.transition(self.state, stored)
            self.entries.append(stored)
        return self

    def enquiry(self, whom: Agency = Agency.SCHOOL, **kw) -> Entry:
        return commands.make_enquiry(self.state, whom=whom, organisation=None, asked_on=kw.get("asked_on", REFERRED),
                                     purpose="where is the child?", answered_on=kw.get("answered_on"),
                                     outcome=kw.get("outcome"), facts=kw.get("facts", []), actor=ACTOR, today=TODAY)

    def close(self, reason: str, evidence: dict, closed_on: date = TODAY) -> Entry:
        return commands.close(self.state, closure_reason=ClosureReason(reason), evidence=evidence, closed_on=closed_on,
                              note=None, actor=ACTOR, today=TODAY)

    @property
    def escalation_id(self) -> str:
        return next(iter(self.state.escalations))

    def outcome(self, escalation_id: str | None = None) -> Entry:
        return commands.escalation_outcome(self.state, escalation_id or self.escalation_id, outcome="no_further_action",
                                           outcome_on=TODAY, summary=None, actor=ACTOR, today=TODAY)


@pytest.fixture
def case(make_referral) -> Case:
    return Case(make_referral(received_on=REFERRED))


@pytest.fixture
def high_risk(make_referral) -> Case:
    return Case(make_referral(received_on=REFERRED, flags={"child_protection_plan": True}))


def test_a_new_case_is_open_with_first_enquiries_due(case):
    assert case.state.status is Status.OPEN
    assert [e.kind for e in case.entries] == [Kind.CASE_OPENED]


def test_an_enquiry_moves_an_open_case_to_enquiries(case):
    case.do(case.enquiry())
    assert case.state.status is Status.ENQUIRIES
    assert case.state.agencies_asked() == {"school"}


def test_a_high_risk_case_opens_escalated_to_the_allocated_social_care_team(high_risk):
    assert [e.kind for e in high_risk.entries] == [Kind.CASE_OPENED, Kind.RISK_RAISED, Kind.ESCALATION_REQUIRED]
    assert high_risk.state.status is Status.ESCALATED
    assert high_risk.state.risk.value == "high"
    [escalation] = high_risk.state.escalations.values()
    assert (escalation.to, escalation.due_on) == ("childrens_social_care", REFERRED)


def test_a_safeguarding_concern_with_no_plan_goes_to_mash(make_referral):
    case = Case(make_referral(received_on=REFERRED, concern=True))
    assert [e.to for e in case.state.escalations.values()] == ["mash"]


def test_the_escalation_outcome_returns_the_case_to_where_it_stood(high_risk):
    high_risk.do(high_risk.outcome())
    assert high_risk.state.status is Status.OPEN
    high_risk.do(high_risk.enquiry())
    high_risk.do(commands.raise_escalation(high_risk.state, to="mash", reason="new concern", sent_on=None,
                                           reference=None, actor=ACTOR, today=TODAY))
    assert high_risk.state.status is Status.ESCALATED
    pending = [e.escalation_id for e in high_risk.state.pending_escalations]
    high_risk.do(high_risk.outcome(pending[0]))
    assert high_risk.state.status is Status.ENQUIRIES


def test_a_case_cannot_close_until_the_escalation_outcome_is_recorded(high_risk, evidence):
    with pytest.raises(TransitionRefused) as refused:
        high_risk.close("on_roll_elsewhere", evidence("on_roll_elsewhere"))
    assert refused.value.code == "escalation_outcome_required"
    # Even an entry built by hand is refused by the state machine itself.
    closing = Entry(Kind.CASE_CLOSED, ACTOR, "x", TODAY, DataCategory.EDUCATION, "x",
                    {"closure_reason": "deceased", "evidence": {}})
    with pytest.raises(TransitionRefused):
        lifecycle.transition(high_risk.state, closing)
    high_risk.do(high_risk.outcome())
    high_risk.do(high_risk.close("on_roll_elsewhere", evidence("on_roll_elsewhere")))
    assert high_risk.state.status is Status.CLOSED


def test_an_escalation_marked_sent_is_no_longer_due_but_still_blocks_closure(high_risk, evidence):
    policy = ClockPolicy()
    assert next_due(high_risk.state, policy).kind is DueKind.ESCALATION
    high_risk.do(commands.escalation_sent(high_risk.state, high_risk.escalation_id, sent_on=REFERRED,
                                          reference="MASH-1", actor=ACTOR, today=TODAY))
    assert next_due(high_risk.state, policy).kind is DueKind.FIRST_ENQUIRIES
    assert high_risk.state.status is Status.ESCALATED
    with pytest.raises(TransitionRefused, match="escalation_already_sent"):
        high_risk.do(commands.escalation_sent(high_risk.state, high_risk.escalation_id, sent_on=REFERRED,
                                              reference=None, actor=ACTOR, today=TODAY))


def test_an_outcome_is_recorded_once(high_risk):
    high_risk.do(high_risk.outcome())
    with pytest.raises(TransitionRefused, match="escalation_outcome_already_recorded"):
        high_risk.do(high_risk.outcome())


def test_an_unknown_escalation_is_not_found(case):
    with pytest.raises(RecordNotFound):
        case.outcome(str(uuid.uuid4()))


def test_closing_with_evidence_ends_the_clock(case, evidence):
    case.do(case.close("on_roll_elsewhere", evidence("on_roll_elsewhere")))
    assert case.state.status is Status.CLOSED
    assert case.state.period.closure_reason == "on_roll_elsewhere"
    assert next_due(case.state, ClockPolicy()) is None


def test_closing_without_the_evidence_is_refused_and_nothing_changes(case):
    with pytest.raises(EvidenceRefused) as refused:
        case.close("on_roll_elsewhere", {"school_urn": "123456", "confirmed_by": "admissions"})
    assert [p.loc for p in refused.value.problems] == [("evidence", "start_date")]
    assert case.state.status is Status.OPEN


def test_a_closed_case_takes_no_enquiries_but_still_takes_notes_and_answers(case, evidence):
    made = case.enquiry()
    case.do(made)
    case.do(case.close("on_roll_elsewhere", evidence("on_roll_elsewhere")))
    with pytest.raises(TransitionRefused, match="transition_refused"):
        case.do(case.enquiry())
    case.do(commands.answer_enquiry(case.state, made.detail["enquiry_id"], answered_on=TODAY,
                                    outcome=Outcome.FOUND_IN_EDUCATION, facts=[], actor=ACTOR, today=TODAY))
    case.do(commands.add_note(case.state, note_kind="fact", category=DataCategory.EDUCATION, text="letter filed",
                              source=None, actor=ACTOR, today=TODAY))
    assert case.state.status is Status.CLOSED


def test_reopening_a_closed_case_restarts_its_clock(case, evidence):
    case.do(case.enquiry())
    case.do(case.close("on_roll_elsewhere", evidence("on_roll_elsewhere")))
    case.do(commands.reopen(case.state, reason="re-check: not on roll", case_reason=None, actor=ACTOR, today=TODAY))
    assert case.state.status is Status.OPEN
    assert len(case.state.periods) == 2 and case.state.clock_anchor == TODAY
    assert case.state.enquiries_this_period() == []  # the first-enquiries clock runs again
    assert next_due(case.state, ClockPolicy()).kind is DueKind.FIRST_ENQUIRIES


def test_only_a_closed_case_reopens_and_a_case_opens_once(case):
    with pytest.raises(TransitionRefused):
        case.do(commands.reopen(case.state, reason="x", case_reason=None, actor=ACTOR, today=TODAY))
    with pytest.raises(TransitionRefused):
        case.do(case.entries[0])


def test_a_closure_proposal_is_confirmed_or_rejected(case, make_referral):
    new_pupil = make_referral(kind="new_pupil_registered", received_on=date(2026, 11, 20),
                              child=case.state.child_subject_id)
    entries = referral_entries.join_case(case.state, new_pupil, decide(new_pupil), date(2026, 11, 20))
    case.do(*entries)
    assert case.state.status is Status.CLOSURE_PROPOSED
    assert case.state.proposal["evidence"]["school_urn"] == "100001"  # the school that made the return
    case.do(commands.reject_proposal(case.state, reason="the return was for a sibling", actor=ACTOR, today=TODAY))
    assert case.state.status is Status.OPEN
    with pytest.raises(TransitionRefused, match="no_closure_proposed"):
        case.do(commands.reject_proposal(case.state, reason="again", actor=ACTOR, today=TODAY))
    case.do(*referral_entries.join_case(case.state, new_pupil, decide(new_pupil), date(2026, 11, 20)))
    case.do(commands.confirm_proposal(case.state, evidence={}, closed_on=TODAY, actor=ACTOR, today=TODAY))
    assert case.state.status is Status.CLOSED
    assert case.state.closure["closure_reason"] == "on_roll_elsewhere"


def test_a_proposal_made_while_escalated_waits_for_the_outcome(high_risk, make_referral):
    new_pupil = make_referral(kind="new_pupil_registered", received_on=REFERRED, child=high_risk.state.child_subject_id)
    high_risk.do(*referral_entries.join_case(high_risk.state, new_pupil, decide(new_pupil), REFERRED))
    assert high_risk.state.status is Status.ESCALATED and high_risk.state.proposal is not None
    with pytest.raises(TransitionRefused, match="escalation_outcome_required"):
        commands.confirm_proposal(high_risk.state, evidence={}, closed_on=TODAY, actor=ACTOR, today=TODAY)
    high_risk.do(high_risk.outcome())
    assert high_risk.state.status is Status.CLOSURE_PROPOSED


def test_a_new_escalation_takes_precedence_over_a_pending_proposal(case, make_referral):
    new_pupil = make_referral(kind="new_pupil_registered", received_on=REFERRED, child=case.state.child_subject_id)
    case.do(*referral_entries.join_case(case.state, new_pupil, decide(new_pupil), REFERRED))
    case.do(commands.raise_escalation(case.state, to="mash", reason="concern", sent_on=None, reference=None,
                                      actor=ACTOR, today=TODAY))
    assert case.state.status is Status.ESCALATED
    case.do(case.outcome())
    assert case.state.status is Status.CLOSURE_PROPOSED


def test_a_further_referral_joins_and_a_high_risk_one_escalates(case, make_referral):
    further = make_referral(child=case.state.child_subject_id, kind="child_not_in_school_concern", source="police",
                            concern=True)
    case.do(*referral_entries.join_case(case.state, further, decide(further), TODAY))
    assert [e.kind for e in case.entries[1:]] == [Kind.REFERRAL_JOINED, Kind.RISK_RAISED, Kind.ESCALATION_REQUIRED]
    assert case.state.status is Status.ESCALATED


def test_a_note_correction_is_a_new_version_and_the_old_one_stays(case):
    case.do(commands.add_note(case.state, note_kind="professional_opinion", category=DataCategory.EDUCATION,
                              text="mother seemed evasive", source=None, actor=ACTOR, today=TODAY))
    note_id = next(iter(case.state.notes))
    first_entry = case.entries[-1].entry_id
    case.do(commands.correct_note(case.state, note_id, text="mother was unsure of dates", reason="better wording",
                                  actor=ACTOR, today=TODAY))
    note = case.state.notes[note_id]
    assert [v.text for v in note.versions] == ["mother seemed evasive", "mother was unsure of dates"]
    assert case.entries[-1].supersedes == first_entry


def test_an_addendum_attaches_to_an_opinion_never_to_a_fact(case):
    case.do(commands.add_note(case.state, note_kind="fact", category=DataCategory.CONTACT, text="visited address",
                              source=None, actor=ACTOR, today=TODAY))
    fact_id = list(case.state.notes)[-1]
    case.do(commands.add_note(case.state, note_kind="professional_opinion", category=DataCategory.EDUCATION,
                              text="home education unsuitable", source=None, actor=ACTOR, today=TODAY))
    opinion_id = list(case.state.notes)[-1]
    with pytest.raises(TransitionRefused, match="addendum_needs_opinion"):
        case.do(commands.attach_addendum(case.state, fact_id, text="I disagree", rights_request_id=None,
                                         actor="dpo:d1", today=TODAY))
    case.do(commands.attach_addendum(case.state, opinion_id, text="I disagree", rights_request_id=None,
                                     actor="dpo:d1", today=TODAY))
    assert [a["text"] for a in case.state.notes[opinion_id].addenda] == ["I disagree"]
    with pytest.raises(RecordNotFound):
        commands.correct_note(case.state, str(uuid.uuid4()), text="x", reason="y", actor=ACTOR, today=TODAY)


def test_facts_record_their_source_and_last_in_education_sets_time_missing(case):
    facts = [Fact(field=FactField.ADDRESS, value="1 Example Street", confirmed_by=Agency.COUNCIL_TAX),
             Fact(field=FactField.LAST_IN_EDUCATION_ON, value="2026-09-30", confirmed_by=Agency.SCHOOL)]
    case.do(case.enquiry(Agency.COUNCIL_TAX, answered_on=REFERRED, outcome=Outcome.INFORMATION_PROVIDED, facts=facts))
    assert [(f["field"], f["confirmed_by"]) for f in case.state.facts] == [("address", "council_tax"),
                                                                          ("last_in_education_on", "school")]
    assert case.state.missing_since == date(2026, 9, 30)
    assert case.entries[-1].category is DataCategory.COUNCIL_TAX


def test_dates_in_the_future_are_refused(case):
    with pytest.raises(EvidenceRefused):
        case.enquiry(asked_on=date(2026, 12, 25))
    with pytest.raises(EvidenceRefused):
        case.enquiry(asked_on=REFERRED, answered_on=date(2026, 11, 1), outcome=Outcome.NOT_KNOWN)


def test_the_state_is_what_the_history_adds_up_to(high_risk, evidence):
    high_risk.do(high_risk.enquiry(), high_risk.outcome())
    high_risk.do(commands.review(high_risk.state, reviewed_on=TODAY, summary="still missing", next_steps=None,
                                 actor=ACTOR, today=TODAY))
    high_risk.do(high_risk.close("deceased", evidence("deceased")))
    assert lifecycle.fold(high_risk.entries) == high_risk.state


def test_every_status_changing_kind_has_its_allowed_states():
    changing = {Kind.CASE_OPENED, Kind.CASE_REOPENED, Kind.ENQUIRY_MADE, Kind.ESCALATION_REQUIRED,
                Kind.ESCALATION_OUTCOME_RECORDED, Kind.CLOSURE_PROPOSED, Kind.CLOSURE_REJECTED, Kind.CASE_CLOSED}
    assert changing <= set(lifecycle.ALLOWED_IN)
    assert Status.ESCALATED not in lifecycle.ALLOWED_IN[Kind.CASE_CLOSED]


def test_time_missing_runs_from_the_last_day_attended_else_the_deletion_date(make_referral):
    attended = Case(make_referral(deletion_date=date(2026, 10, 20), last_attended=date(2026, 9, 18)))
    assert attended.state.missing_since == date(2026, 9, 18)
    assert Case(make_referral(deletion_date=date(2026, 10, 20))).state.missing_since == date(2026, 10, 20)
    assert Case(make_referral()).state.missing_since is None


def test_an_incomplete_return_and_possible_matches_are_kept_with_the_referral(make_referral):
    other = uuid.uuid4()
    case = Case(make_referral(possible_matches=[other]))
    referral = case.entries[0].detail["referral"]
    assert referral["possible_match_subject_ids"] == [str(other)]
    assert referral["incomplete_return"] is False and referral["missing_return_fields"] == []


def test_a_case_without_a_borough_takes_the_borough_a_further_referral_names(make_referral):
    case = Case(make_referral(borough=None))
    further = make_referral(child=case.state.child_subject_id, kind="change_of_circumstances",
                            borough="kensington_and_chelsea")
    case.do(*referral_entries.join_case(case.state, further, decide(further), TODAY))
    assert case.state.borough == "kensington_and_chelsea"
    assert case.entries[-1].kind is Kind.BOROUGH_ASSIGNED


def test_an_over_age_closure_rests_on_the_cases_own_date_of_birth(make_referral):
    # The case's child turned 16 on 31 Aug 2026 (left on 26 Jun 2026); evidence about someone born in 2009
    # is not evidence about this child, even though it would also be over age.
    case = Case(make_referral(received_on=REFERRED, dob=date(2010, 8, 31)))
    with pytest.raises(EvidenceRefused) as refused:
        case.close("over_compulsory_school_age", {"date_of_birth": "2009-06-01", "confirmed_by": "passport"})
    assert [(p.loc, p.code) for p in refused.value.problems] == [(("evidence", "date_of_birth"),
                                                                 "date_of_birth_mismatch")]
    assert "2009" not in refused.value.problems[0].message  # never echoes the evidence
    case.do(case.close("over_compulsory_school_age", {"date_of_birth": "2010-08-31", "confirmed_by": "passport"}))
    assert case.state.status is Status.CLOSED


def test_an_over_age_closure_of_a_case_without_a_date_of_birth_records_the_one_it_rests_on(make_referral):
    case = Case(make_referral(received_on=REFERRED, dob=None))
    case.do(case.close("over_compulsory_school_age", {"date_of_birth": "2009-06-01", "confirmed_by": "passport"}))
    assert (case.state.status, case.state.date_of_birth) == (Status.CLOSED, date(2009, 6, 1))
    assert lifecycle.fold(case.entries).date_of_birth == date(2009, 6, 1)  # recorded in the history itself
