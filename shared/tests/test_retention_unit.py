"""The kit's retention rules (issue 14, item 1; DOMAIN section 3: "default 7 years after case closure
(configurable per category), with legal hold. At disposal the content goes; a minimal tombstone stays";
UK GDPR Art 5(1)(e), storage limitation)."""

import json
import uuid
from datetime import date, datetime, timezone

import pytest
from pydantic import ValidationError

from cme_shared.contracts.categories import DataCategory
from cme_shared.contracts.retention import ClockStart, RecordType, RetentionRule, RetentionSchedule
from cme_shared.retention import (DEFAULT_SCHEDULE, DISPOSED_RECORD, Candidate, DisposalReport, Tombstone,
                                  disposed_event, due_on, load_schedule, statement, subject_digest,
                                  tombstone_item)

pytestmark = pytest.mark.unit


def test_the_default_keeps_a_case_seven_years_after_its_closure():
    """DOMAIN section 3: the council's default is 7 years after case closure."""
    rule = DEFAULT_SCHEDULE.rule_for(RecordType.CASE)
    assert (rule.starts, rule.years) == (ClockStart.CASE_CLOSED, 7)
    assert due_on(rule, date(2019, 3, 31)) == date(2026, 3, 31)


def test_a_leap_day_closure_falls_due_on_1_march_never_a_day_early():
    """The period must have run in full (Art 5(1)(e) sets no floor, the records policy does): 29 February plus
    7 years is 1 March of a common year, and 29 February of a leap year."""
    rule = DEFAULT_SCHEDULE.rule_for(RecordType.CASE)
    assert due_on(rule, date(2020, 2, 29)) == date(2027, 3, 1)
    assert due_on(rule.model_copy(update={"years": 8}), date(2020, 2, 29)) == date(2028, 2, 29)


def test_every_record_type_has_a_rule_in_the_default():
    for record_type in RecordType:
        assert DEFAULT_SCHEDULE.rule_for(record_type).category is None


def test_a_category_rule_overrides_its_record_type_rule_for_that_category_only(tmp_path):
    """DOMAIN section 3: retention is configurable per category."""
    rules = [r.model_dump(mode="json") for r in DEFAULT_SCHEDULE.rules]
    rules.append({"rule_id": "case.police.2y", "record_type": "case", "category": "police_probation",
                  "starts": "case_closed", "years": 2, "description": "police involvement: 2 years"})
    path = tmp_path / "schedule.json"
    path.write_text(json.dumps({"schedule_id": "council-2027", "rules": rules}))
    schedule = load_schedule(path)
    assert schedule.rule_for(RecordType.CASE, DataCategory.POLICE_PROBATION).years == 2
    assert schedule.rule_for(RecordType.CASE, DataCategory.EDUCATION).years == 7
    assert "police probation in a case: 2 years" in statement(schedule)


def test_a_schedule_without_a_general_rule_for_a_record_type_is_refused(tmp_path):
    rules = [r.model_dump(mode="json") for r in DEFAULT_SCHEDULE.rules if r.record_type is not RecordType.DEAD_LETTER]
    path = tmp_path / "schedule.json"
    path.write_text(json.dumps({"schedule_id": "partial", "rules": rules}))
    with pytest.raises(ValueError, match="dead_letter"):
        load_schedule(path)


def test_a_malformed_schedule_file_is_refused_with_the_field_named(tmp_path):
    path = tmp_path / "schedule.json"
    path.write_text(json.dumps({"schedule_id": "x", "rules": [{"rule_id": "BAD ID", "record_type": "case",
                                                                "starts": "case_closed", "description": "d"}]}))
    with pytest.raises(ValidationError, match="rule_id"):
        load_schedule(path)


def test_the_statement_says_the_schedule_in_force_and_what_remains_after_disposal():
    """Art 15(1)(d): the period, or the criteria used to determine it; written from the schedule."""
    text = statement(DEFAULT_SCHEDULE)
    assert "cme-default-2026" in text and "7 years after the case is closed" in text
    assert "a referral as received: as long as the case it led to (7 years after the case is closed)" in text
    # a file whose words and numbers disagree still tells the requester the numbers in force
    wrong = RetentionSchedule(schedule_id="wrong-words", rules=tuple(
        r.model_copy(update={"years": 10}) if r.record_type is RecordType.CASE else r for r in DEFAULT_SCHEDULE.rules))
    assert "7 years after the case is closed (10 years after the case is closed)" in statement(wrong)
    assert "legal hold" in text and "minimal note" in text
    changed = RetentionSchedule(schedule_id="short", rules=tuple(
        r.model_copy(update={"years": 3, "description": "a case: 3 years after closure"})
        if r.record_type is RecordType.CASE else r for r in DEFAULT_SCHEDULE.rules))
    assert "a case: 3 years after closure" in statement(changed)
    assert "a case and its history" not in statement(changed)


def test_a_subject_digest_matches_the_same_person_however_written_and_needs_the_key():
    one = subject_digest(b"k1", "Zoë", "O'Brien", date(2014, 5, 1))
    assert one == subject_digest(b"k1", "zoe ", "o'brien", "2014-05-01")
    assert one != subject_digest(b"k2", "Zoë", "O'Brien", date(2014, 5, 1))
    assert one != subject_digest(b"k1", "Zoë", "O'Brien", date(2014, 5, 2))
    assert "zo" not in one  # a hex digest, not the name


def _candidate(record_id: str, held: tuple[uuid.UUID, ...] = ()) -> Candidate:
    return Candidate(record_type=RecordType.CASE, record_id=record_id, rule=DEFAULT_SCHEDULE.rule_for(RecordType.CASE),
                     clock_started_on=date(2018, 7, 20), subject_ids=(uuid.UUID(int=1),),
                     case_ids=(uuid.UUID(int=9),), held_by=held)


def test_the_report_separates_what_is_disposed_from_what_a_hold_keeps():
    report = DisposalReport.of("casework", uuid.uuid4(), DEFAULT_SCHEDULE, date(2026, 12, 2), True,
                               [_candidate("a"), _candidate("b", held=(uuid.uuid4(),))])
    assert [r.record_id for r in report.disposed] == ["a"] and [r.record_id for r in report.held] == ["b"]
    assert report.disposed[0].due_on == date(2025, 7, 20)


def test_one_event_per_rule_and_record_type_with_ids_only():
    now = datetime(2026, 12, 2, 2, 30, tzinfo=timezone.utc)
    event = disposed_event("casework", DEFAULT_SCHEDULE, uuid.uuid4(), now, [_candidate("a"), _candidate("b")],
                           related={RecordType.REFERRAL: ["r1"]})
    assert event.record_ids == ["a", "b"] and event.subject_ids == [uuid.UUID(int=1)]
    assert event.related_record_ids == {RecordType.REFERRAL: ["r1"]} and event.rule_id == "case.7y"
    other = Candidate(**{**_candidate("c").__dict__, "record_type": RecordType.REFERRAL,
                         "rule": DEFAULT_SCHEDULE.rule_for(RecordType.REFERRAL)})
    with pytest.raises(ValueError):
        disposed_event("casework", DEFAULT_SCHEDULE, uuid.uuid4(), now, [_candidate("a"), other])


def test_a_tombstone_answers_a_subject_access_request_without_content():
    stone = Tombstone(record_type="case", record_id="c1", subject_ids=[uuid.UUID(int=1)], case_ids=[],
                      categories=["education"], schedule_id="cme-default-2026", rule_id="case.7y",
                      clock_started_on=date(2018, 7, 20), due_on=date(2025, 7, 20), reason="schedule",
                      disposed_at=datetime(2026, 12, 2, 2, 30, tzinfo=timezone.utc), run_id=uuid.uuid4())
    item = tombstone_item("casework", stone, uuid.UUID(int=1), DEFAULT_SCHEDULE)
    assert item.record_type == DISPOSED_RECORD
    assert item.data["disposed_at"].startswith("2026-12-02") and item.data["rule"].startswith("a case")
    assert set(item.data) == {"disposed_record_type", "disposed_at", "schedule_id", "rule_id", "rule",
                              "clock_started_on"}


def test_a_rule_period_is_bounded():
    with pytest.raises(ValidationError):
        RetentionRule(rule_id="x", record_type=RecordType.CASE, starts=ClockStart.CASE_CLOSED, years=-1,
                      description="d")
