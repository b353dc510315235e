"""Which casework records fall due for disposal (domain/retention.py), each rule with its source.

Sources: DOMAIN section 3 ("default 7 years after case closure, configurable per category, with legal
hold; at disposal the content goes; a minimal tombstone (what, when, why disposed) stays"); UK GDPR Art
5(1)(e) (storage limitation); UK GDPR Art 18(2) (restricted data may only be stored); LGA 1972 s224 and
the FOI Act s46 Code of Practice (a record of what was destroyed, when and under which authority).
"""

import uuid
from datetime import UTC, date, datetime

import pytest

from cme_casework.domain.history import Entry, Kind
from cme_casework.domain.retention import (
    MISMATCH_HOLD,
    CaseFacts,
    EheFacts,
    HistoryClosure,
    LooseRecord,
    case_facts_from,
    history_closure,
    plan,
    restricted_keeps,
)
from cme_shared.contracts.categories import DataCategory
from cme_shared.contracts.retention import ClockStart, RecordType, RetentionRule, RetentionSchedule
from cme_shared.retention import DEFAULT_SCHEDULE

pytestmark = pytest.mark.unit

CLOSED_ON = date(2019, 7, 1)


def case(*, closed: bool = True, closed_on: date | None = CLOSED_ON, child: uuid.UUID | None = None,
         categories: tuple[DataCategory, ...] = (DataCategory.EDUCATION,), carers: tuple[uuid.UUID, ...] = (),
         intake_ids: tuple[str, ...] = ()) -> CaseFacts:
    return CaseFacts(case_id=uuid.uuid4(), child_subject_id=child or uuid.uuid4(), closed=closed,
                     closed_on=closed_on if closed else closed_on, carer_subject_ids=carers, categories=categories,
                     intake_ids=intake_ids)


def loose(*, child: uuid.UUID | None = None, recorded_on: date = date(2019, 3, 1)) -> LooseRecord:
    intake_id = str(uuid.uuid4())
    return LooseRecord(record_id=intake_id, child_subject_id=child or uuid.uuid4(), recorded_on=recorded_on,
                       entry_ids=(1, 2), categories=(DataCategory.EDUCATION,), intake_id=intake_id)


def due_ids(schedule: RetentionSchedule, as_of: date, cases=(), records=()) -> set[str]:
    return {c.record_id for c in plan(schedule, as_of, list(cases), list(records)).candidates}


def test_a_closed_case_falls_due_seven_years_after_its_closure_by_default():
    """DOMAIN section 3: default 7 years after case closure; UK GDPR Art 5(1)(e): not kept longer."""
    closed = case(intake_ids=("i-1", "i-2"))
    assert due_ids(DEFAULT_SCHEDULE, date(2026, 6, 30), [closed]) == set()
    result = plan(DEFAULT_SCHEDULE, date(2026, 7, 1), [closed])
    [candidate] = result.candidates
    assert (candidate.record_type, candidate.record_id, candidate.rule.rule_id) == (
        RecordType.CASE, str(closed.case_id), "case.7y")
    assert (candidate.clock_started_on, candidate.due_on) == (CLOSED_ON, date(2026, 7, 1))
    assert candidate.case_ids == (closed.case_id,)
    # The case's referrals are intake's to dispose of with it (SEC-18: a purge reaches the other copies).
    assert result.referrals[(RecordType.CASE, str(closed.case_id))] == ("i-1", "i-2")


def test_a_case_that_is_not_closed_never_falls_due_and_keeps_the_childs_other_records():
    """A reopened case is not closed (DOMAIN section 2: a further referral reopens it): its clock has not
    started, and the child's older closed case and recorded referrals stay with it."""
    child = uuid.uuid4()
    reopened = case(closed=False, closed_on=None, child=child)
    older = case(child=child, closed_on=date(2010, 1, 4))
    earlier_referral = loose(child=child, recorded_on=date(2009, 9, 1))
    assert due_ids(DEFAULT_SCHEDULE, date(2040, 1, 1), [reopened, older], [earlier_referral]) == set()


def test_the_subjects_of_a_case_are_the_child_and_the_carers_named_in_it():
    """A hold on any subject keeps the record (DOMAIN section 3: legal hold by subject or case)."""
    carer = uuid.uuid4()
    closed = case(carers=(carer,))
    [candidate] = plan(DEFAULT_SCHEDULE, date(2030, 1, 1), [closed]).candidates
    assert candidate.subject_ids == (closed.child_subject_id, carer)


def test_a_record_without_a_case_runs_from_the_day_it_was_recorded_and_never_before_the_childs_cases():
    """DEFAULT_SCHEDULE record-without-case.7y (ClockStart.RECORDED); kept as long as the child's cases, being
    part of the same child's record."""
    alone = loose(recorded_on=date(2018, 5, 2))
    assert due_ids(DEFAULT_SCHEDULE, date(2025, 5, 1), records=[alone]) == set()
    assert due_ids(DEFAULT_SCHEDULE, date(2025, 5, 2), records=[alone]) == {alone.record_id}
    child = uuid.uuid4()
    with_case = loose(child=child, recorded_on=date(2018, 5, 2))
    later_case = case(child=child, closed_on=date(2020, 2, 3))
    assert due_ids(DEFAULT_SCHEDULE, date(2026, 1, 1), [later_case], [with_case]) == set()
    assert due_ids(DEFAULT_SCHEDULE, date(2027, 2, 3), [later_case], [with_case]) == {
        with_case.record_id, str(later_case.case_id)}


def test_a_29_february_closure_falls_due_on_1_march():
    """cme_shared.retention.due_on: whole years from 29 February end on 1 March of a common year, never a
    day early (UK GDPR Art 5(1)(e) is met a day later; disposing a day early breaks the schedule, LGA 1972 s224)."""
    leap = case(closed_on=date(2024, 2, 29))
    assert due_ids(DEFAULT_SCHEDULE, date(2031, 2, 28), [leap]) == set()
    assert due_ids(DEFAULT_SCHEDULE, date(2031, 3, 1), [leap]) == {str(leap.case_id)}


SHORTER = RetentionSchedule(schedule_id="test-shorter", rules=tuple(
    RetentionRule(rule_id="case.3y", record_type=RecordType.CASE, starts=ClockStart.CASE_CLOSED, years=3,
                  description="a case: 3 years after closure") if r.record_type is RecordType.CASE else r
    for r in DEFAULT_SCHEDULE.rules) + (
    RetentionRule(rule_id="case.police.25y", record_type=RecordType.CASE, category=DataCategory.POLICE_PROBATION,
                  starts=ClockStart.CASE_CLOSED, years=25, description="police and probation information: 25 years after closure"),))


def test_a_schedule_from_a_file_changes_what_falls_due_per_record_type_and_category():
    """DOMAIN section 3: configurable per category. A case is disposed of whole, when the longest rule that
    applies to it has run: a category rule keeps a case longer, and is named in its tombstone."""
    plain = case(closed_on=date(2020, 1, 6))
    police = case(closed_on=date(2020, 1, 6), categories=(DataCategory.EDUCATION, DataCategory.POLICE_PROBATION))
    as_of = date(2023, 1, 6)
    assert due_ids(DEFAULT_SCHEDULE, as_of, [plain, police]) == set()  # default: 7 years
    result = plan(SHORTER, as_of, [plain, police])
    assert [(c.record_id, c.rule.rule_id) for c in result.candidates] == [(str(plain.case_id), "case.3y")]
    [late] = plan(SHORTER, date(2045, 1, 6), [police]).candidates
    assert late.rule.rule_id == "case.police.25y"


def test_a_restriction_in_force_keeps_the_record_as_a_hold_does():
    """UK GDPR Art 18(2): restricted data may, but for storage, only be processed with consent or for legal
    claims; Art 18(1)(b), (c): a restriction asked instead of erasure or for a legal claim asks to keep it."""
    carer, request = uuid.uuid4(), uuid.uuid4()
    kept, free = case(carers=(carer,)), case()
    candidates = plan(DEFAULT_SCHEDULE, date(2030, 1, 1), [kept, free]).candidates
    marked = {c.record_id: c.held_by for c in restricted_keeps(candidates, {carer: request})}
    assert marked == {str(kept.case_id): (request,), str(free.case_id): ()}


def ehe(*, closed: bool = True, closed_on: date | None = CLOSED_ON, child: uuid.UUID | None = None) -> EheFacts:
    return EheFacts(ehe_id=uuid.uuid4(), child_subject_id=child or uuid.uuid4(), closed=closed,
                    closed_on=closed_on if closed else None, categories=(DataCategory.EDUCATION,),
                    intake_ids=("i-ehe",))


def test_an_ehe_record_falls_due_seven_years_after_it_is_closed_and_not_while_the_child_has_live_casework():
    """DEFAULT_SCHEDULE ehe.7y (ClockStart.CASE_CLOSED: the record's closure); an unsuitable education opens a
    CME case that may draw on the EHE record (Education Act 1996 s437; issue 14 item 2), so a live case
    keeps it, and a live EHE record keeps the child's closed cases."""
    closed = ehe()
    result = plan(DEFAULT_SCHEDULE, date(2026, 7, 1), [], ehe=[closed])
    [candidate] = result.candidates
    assert (candidate.record_type, candidate.rule.rule_id, candidate.due_on) == (
        RecordType.EHE_RECORD, "ehe.7y", date(2026, 7, 1))
    assert result.referrals[(RecordType.EHE_RECORD, str(closed.ehe_id))] == ("i-ehe",)
    assert plan(DEFAULT_SCHEDULE, date(2026, 6, 30), [], ehe=[closed]).candidates == []
    child = uuid.uuid4()
    open_case, old_ehe = case(closed=False, closed_on=None, child=child), ehe(child=child)
    assert plan(DEFAULT_SCHEDULE, date(2040, 1, 1), [open_case], ehe=[old_ehe]).candidates == []
    other = uuid.uuid4()
    old_case, open_ehe = case(child=other), ehe(closed=False, child=other)
    assert plan(DEFAULT_SCHEDULE, date(2040, 1, 1), [old_case], ehe=[open_ehe]).candidates == []


def test_a_production_disposal_run_cannot_be_dated_ahead_of_today(monkeypatch):
    """LGA 1972 s224 / FOI Act s46 Code: records are destroyed under the schedule, not before it: in production
    `dispose --as-of` a future day is refused (a dry run may look ahead), before anything is opened."""
    from typer.testing import CliRunner

    from cme_casework.__main__ import cli
    from cme_shared.testing.signing import TEST_KEYS

    for name, value in {"CME_ENV": "production", "CME_JWKS_URL": "https://idp.example/keys",
                        "CME_JWT_SECRET": "production-secret-" + "z" * 40, "CME_JWT_ISSUER": "https://idp.example",
                        "CME_JWT_AUDIENCE": "cme", "CME_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                        "CME_KAFKA_USERNAME": "casework", "CME_KAFKA_PASSWORD": "x",
                        "CME_DATABASE_URL": "postgresql+asyncpg://cme_casework:x@127.0.0.1:1/cme_casework",
                        **TEST_KEYS.env_for("casework")}.items():
        monkeypatch.setenv(name, value)
    refused = CliRunner().invoke(cli, ["dispose", "--as-of", "2099-01-01"])
    assert refused.exit_code == 2 and "cannot be dated after today in production" in refused.output


# --- C1: closure decided from the append-only history, never from the runtime-writable projection -----

def entry(kind: Kind, on: date, written: date, **detail) -> Entry:
    return Entry(kind=kind, actor="officer:x", reason="synthetic", effective_on=on, category=DataCategory.EDUCATION,
                 source="casework", detail={"reason": "synthetic", "closure_reason": "on_roll_elsewhere",
                                            "evidence": {}, **detail},
                 recorded_at=datetime(written.year, written.month, written.day, 12, tzinfo=UTC))


def history(*entries: Entry) -> HistoryClosure:
    case_id = uuid.uuid4()
    opened = entry(Kind.CASE_OPENED, date(2019, 1, 10), date(2019, 1, 10), case_id=str(case_id),
                   child_subject_id=str(uuid.uuid4()))
    return history_closure([opened, *entries])


def test_a_case_is_closed_only_when_its_history_says_so_and_on_the_history_s_day():
    """DOMAIN section 3 (7 years after case closure) read with LGA 1972 s224 (records as they happened):
    the closure is the history's, a reopening undoes it."""
    closed = history(entry(Kind.CASE_CLOSED, CLOSED_ON, date(2019, 7, 3)))
    assert (closed.closed, closed.closed_on, closed.problem) == (True, CLOSED_ON, None)
    reopened = history(entry(Kind.CASE_CLOSED, CLOSED_ON, date(2019, 7, 3)),
                       entry(Kind.CASE_REOPENED, date(2020, 1, 5), date(2020, 1, 5)))
    assert (reopened.closed, reopened.closed_on) == (False, None)


@pytest.mark.parametrize(("entries", "problem"), [
    # a closure dated after the day it was written (a clock start in the future)
    ([entry(Kind.CASE_CLOSED, date(2019, 8, 1), date(2019, 7, 3))], "closed_after_written"),
    # a closure before the case was opened
    ([entry(Kind.CASE_CLOSED, date(2018, 1, 1), date(2019, 7, 3))], "closed_before_opened"),
    # a history that goes back in time: a reopening dated before the closure it reopens, closed at once
    ([entry(Kind.CASE_CLOSED, CLOSED_ON, date(2019, 7, 3)), entry(Kind.CASE_REOPENED, date(2010, 1, 1), date(2019, 7, 4)),
      entry(Kind.CASE_CLOSED, date(2010, 1, 2), date(2019, 7, 4))], "reopened_before_closed"),
])
def test_impossible_closure_dates_never_start_a_clock(entries, problem):
    """Fix C1 (hostile review): a clock start in the future, or before the record existed, is refused."""
    assert history(*entries).problem == problem


def test_a_projection_that_disagrees_with_the_history_is_reported_held_never_disposed():
    """Fix C1: the `cases` projection is the running service's (writable); the history is append-only.
    A closure the projection claims and the history does not (or on another day) keeps the case, reported
    as held under MISMATCH_HOLD; it also keeps the child's other records (the child may be live)."""
    child = uuid.uuid4()
    open_in_history = case_facts_from(uuid.uuid4(), child, HistoryClosure(False, None), True, date(2010, 1, 1))
    other_day = case_facts_from(uuid.uuid4(), uuid.uuid4(), HistoryClosure(True, CLOSED_ON), True, date(2010, 1, 1))
    agreeing = case_facts_from(uuid.uuid4(), uuid.uuid4(), HistoryClosure(True, CLOSED_ON), True, CLOSED_ON)
    record = loose(child=child)
    result = plan(DEFAULT_SCHEDULE, date(2030, 1, 1), [open_in_history, other_day, agreeing], [record])
    held = {c.record_id: c.held_by for c in result.candidates if c.held_by}
    assert held == {str(open_in_history.case_id): (MISMATCH_HOLD,), str(other_day.case_id): (MISMATCH_HOLD,)}
    assert {c.record_id for c in result.candidates if not c.held_by} == {str(agreeing.case_id)}
    impossible = case_facts_from(uuid.uuid4(), uuid.uuid4(), HistoryClosure(True, CLOSED_ON, "closed_after_written"),
                                 True, CLOSED_ON)
    [kept] = plan(DEFAULT_SCHEDULE, date(2030, 1, 1), [impossible]).candidates
    assert kept.held_by == (MISMATCH_HOLD,)


def test_a_carer_the_history_names_is_a_subject_whatever_the_projection_says():
    """A hold on a carer keeps every case naming them (DOMAIN section 3, legal hold): the history's carers
    count even when the projection has lost them."""
    carer = uuid.uuid4()
    facts = case_facts_from(uuid.uuid4(), uuid.uuid4(), HistoryClosure(True, CLOSED_ON, carer_subject_ids=(carer,)),
                            True, CLOSED_ON, carer_subject_ids=())
    [candidate] = plan(DEFAULT_SCHEDULE, date(2030, 1, 1), [facts]).candidates
    assert carer in candidate.subject_ids


def test_an_ehe_record_is_closed_only_as_its_history_says_and_on_a_possible_day():
    """Fix C1 for EHE records (DOMAIN section 3; the ehe_record rule runs from the record's closure)."""
    from cme_casework.domain.ehe import EheEntry, EheKind
    from cme_casework.domain.retention import ehe_history_closure

    def ehe(kind: EheKind, on: date, written: date, **detail) -> EheEntry:
        return EheEntry(kind=kind, actor="officer:x", reason="synthetic", effective_on=on,
                        category=DataCategory.EDUCATION, source="casework", detail=detail,
                        recorded_at=datetime(written.year, written.month, written.day, 12, tzinfo=UTC))

    notice = ehe(EheKind.NOTICE_RECEIVED, date(2019, 1, 10), date(2019, 1, 10), ehe_id=str(uuid.uuid4()),
                 child_subject_id=str(uuid.uuid4()))
    assert ehe_history_closure([notice]).closed is False
    closed = ehe_history_closure([notice, ehe(EheKind.RECORD_CLOSED, CLOSED_ON, date(2019, 7, 2), ground="moved")])
    assert (closed.closed, closed.closed_on, closed.problem) == (True, CLOSED_ON, None)
    ahead = ehe_history_closure([notice, ehe(EheKind.RECORD_CLOSED, CLOSED_ON, date(2019, 6, 1), ground="moved")])
    before = ehe_history_closure([notice, ehe(EheKind.RECORD_CLOSED, date(2018, 1, 1), date(2019, 6, 1), ground="moved")])
    assert (ahead.problem, before.problem) == ("closed_after_written", "closed_before_opened")
