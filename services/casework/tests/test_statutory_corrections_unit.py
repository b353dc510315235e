"""The statutory review's corrections in casework (reviews/statutory-2026-12.md, D4, D5, section 3 items 2-5),
each test naming its source: compulsory school age, the census population and its "at any time" figure,
configurable escalation, per-borough deadlines, the untraced agency count and term-date coverage."""

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from cme_casework.adapters.calendars import load_calendars
from cme_casework.adapters.term_dates_health import HEALTH, TermDatesHealth, days_left, lapsing
from cme_casework.app import clock_policy
from cme_casework.domain import census, closure, commands, lifecycle, opening, referral_entries
from cme_casework.domain.clocks import BoroughClock, ClockPolicy, Due, DueKind, next_due
from cme_casework.domain.history import Entry, Kind
from cme_casework.domain.school_age import SchoolAge, compulsory_school_age_starts, school_age_on
from cme_casework.settings import CaseworkSettings

pytestmark = pytest.mark.unit

CALENDARS = load_calendars()


POLICY = ClockPolicy(calendars=CALENDARS)


def opened(referral, policy: ClockPolicy = POLICY) -> lifecycle.CaseState:
    on = opening.referred_on(referral)
    decision = opening.decide(referral, policy.opening_rules(referral.borough.value if referral.borough else None))
    state = lifecycle.CaseState()
    for number, entry in enumerate(referral_entries.open_case(referral, decision, uuid.uuid4(), on, policy), 1):
        state = lifecycle.transition(state, replace(entry, entry_id=number, recorded_at=datetime.now(UTC)))
    return state


# --- Compulsory school age starts (Education Act 1996 s8(2); SI 1998/1607 art 2) ---------------------

@pytest.mark.parametrize(
    ("born", "starts"),
    [
        (date(2021, 9, 1), date(2026, 12, 31)),  # 5 on 1 Sep 2026: the next prescribed day is 31 Dec
        (date(2021, 12, 31), date(2026, 12, 31)),  # 5 on a prescribed day: that day
        (date(2022, 1, 1), date(2027, 3, 31)),
        (date(2022, 4, 1), date(2027, 8, 31)),
        (date(2020, 2, 29), date(2025, 3, 31)),  # 29 Feb: 1 Mar 2025, next prescribed day 31 Mar
    ],
)
def test_compulsory_school_age_starts_on_the_prescribed_day_on_or_after_the_fifth_birthday(born, starts):
    assert compulsory_school_age_starts(born) == starts
    assert school_age_on(born, starts - timedelta(days=1)) is SchoolAge.BELOW
    assert school_age_on(born, starts) is SchoolAge.COMPULSORY


def test_casework_and_intake_read_the_one_compulsory_school_age_rule():
    """Review 1.8 found the rule written twice; it is now written once, in the kit (cme_shared.law.school_age,
    Education Act 1996 s8): both services must read that one, not a copy that could drift."""
    from cme_shared.law import school_age as kit

    intake = pytest.importorskip("cme_intake.domain.school_age")
    assert school_age_on is kit.school_age_on
    assert intake.school_age_on is kit.school_age_on


# --- The census population (s436A; review D4, D5) and "CME at any time in the academic year" ----------

def _state(make_referral, *, reason: str = "unexplained_absence_20_days", dob: date | None = date(2014, 3, 10),
           opened_on: date = date(2026, 9, 15), closed_on: date | None = None) -> lifecycle.CaseState:
    referral = make_referral(dob=dob, received_on=opened_on)
    [first, *_] = referral_entries.open_case(referral, opening.OpeningDecision(True, reason, opening.Risk.STANDARD),
                                             uuid.uuid4(), opened_on)
    entries = [replace(first, entry_id=1)]
    if closed_on is not None:
        entries.append(Entry(Kind.CASE_CLOSED, "officer:o", "closed", closed_on, first.category, "casework officer",
                             {"closure_reason": "on_roll_elsewhere", "evidence": {}}, entry_id=2))
    return lifecycle.fold(entries)


def test_the_census_counts_only_children_of_compulsory_school_age_who_are_cme(make_referral):
    """Education Act 1996 s436A (CME: of compulsory school age, not a registered pupil, not educated
    otherwise); DfE CME guidance (8 Sep 2025): EHE not yet assessed is not CME. A case opened for an EHE
    notice under the old rule, a child who passed the school leaving date while their case stayed open,
    and a two-year-old are not counted; an unknown date of birth is."""
    day = date(2026, 10, 1)
    counted = _state(make_referral)
    legacy_ehe = _state(make_referral, reason="education_otherwise_notified")
    left_school = _state(make_referral, dob=date(2010, 6, 1), opened_on=date(2026, 5, 1))  # left 26 Jun 2026
    toddler = _state(make_referral, dob=date(2024, 6, 1))
    unknown = _state(make_referral, dob=None)
    assert census.census_key(counted, day) is not None and census.census_key(unknown, day) is not None
    assert [census.census_key(s, day) for s in (legacy_ehe, left_school, toddler)] == [None, None, None]
    assert sum(n for _, n in census.count([counted, legacy_ehe, left_school, toddler, unknown], day)) == 2


def test_cme_at_any_time_in_the_academic_year_counts_each_child_once(make_referral):
    """The DfE CME return's "CME at any time in the academic year" figure: 1 Sep 2025-31 Aug 2026."""
    first, last = census.academic_year(2025)
    assert (first, last) == (date(2025, 9, 1), date(2026, 8, 31))
    child = uuid.uuid4()
    closed_in_year = _state(make_referral, opened_on=date(2025, 10, 1), closed_on=date(2025, 11, 1))
    same_child_again = replace(_state(make_referral, opened_on=date(2026, 1, 5)), child_subject_id=child)
    closed_in_year = replace(closed_in_year, child_subject_id=child)
    before_year = _state(make_referral, opened_on=date(2025, 6, 1), closed_on=date(2025, 9, 1))  # closed 1 Sep
    over_age_all_year = _state(make_referral, dob=date(2008, 1, 1), opened_on=date(2025, 10, 1))
    left_in_june = _state(make_referral, dob=date(2010, 6, 1), opened_on=date(2026, 5, 1))  # CME until 26 Jun
    ehe = _state(make_referral, reason="education_otherwise_notified", opened_on=date(2025, 10, 1))
    states = [closed_in_year, same_child_again, before_year, over_age_all_year, left_in_june, ehe]
    assert census.any_time(states, first, last) == [("westminster", 2)]


# --- Escalation timing and per-borough deadlines (DOMAIN section 2, configurable; review items 2, 3) ---

def test_escalation_is_due_the_same_working_day_by_default_and_as_configured(make_referral):
    """DOMAIN section 2: escalate the same working day (Sat 28 Nov 2026: Mon 30 Nov); one council may allow
    a working day more (CME_ESCALATION_WORKING_DAYS), another borough its own (CME_BOROUGH_CLOCKS)."""
    flagged = {"received_on": date(2026, 11, 28), "flags": {"looked_after": True}}
    assert next_due(opened(make_referral(**flagged)), ClockPolicy()) == Due(date(2026, 11, 30), DueKind.ESCALATION)
    one_more = ClockPolicy(escalation_working_days=1)
    assert next_due(opened(make_referral(**flagged), one_more), one_more).on == date(2026, 12, 1)
    rbkc = ClockPolicy(boroughs={"kensington_and_chelsea": BoroughClock(escalation_working_days=2)})
    assert next_due(opened(make_referral(borough="kensington_and_chelsea", **flagged), rbkc), rbkc).on == date(
        2026, 12, 2)
    assert next_due(opened(make_referral(**flagged), rbkc), rbkc).on == date(2026, 11, 30)  # Westminster: default
    later = commands.raise_escalation(opened(make_referral()), to="mash", reason="new concern", sent_on=None,
                                      reference=None, actor="officer:o", today=date(2026, 12, 4), policy=one_more)
    assert later.detail["due_on"] == "2026-12-07"  # Fri 4 Dec + 1 working day


def test_each_borough_may_set_its_own_enquiry_and_review_days(make_referral, monkeypatch):
    monkeypatch.setenv("CME_BOROUGH_CLOCKS", '{"kensington_and_chelsea": {"first_enquiries_school_days": 5, '
                                             '"review_school_days": 15}}')
    policy = replace(clock_policy(CaseworkSettings()), calendars=CALENDARS)
    on = date(2026, 11, 16)
    assert next_due(opened(make_referral(received_on=on), policy), policy) == Due(date(2026, 11, 30),
                                                                                 DueKind.FIRST_ENQUIRIES)
    rbkc = opened(make_referral(received_on=on, borough="kensington_and_chelsea"), policy)
    assert next_due(rbkc, policy) == Due(date(2026, 11, 23), DueKind.FIRST_ENQUIRIES)
    assert policy.review_due("kensington_and_chelsea", on) == date(2026, 12, 8)  # 15 school days (27 Nov INSET)


def test_destination_known_is_due_a_check_on_the_start_date(make_referral):
    """Review D4 and item 6: the case of a child due to start later is checked on the start date."""
    state = opened(make_referral(ground="9(1)(a)", destination=("654321", date(2026, 11, 23)),
                                 deletion_date=date(2026, 11, 2), received_on=date(2026, 11, 2)))
    assert (state.reason, next_due(state, ClockPolicy(calendars=CALENDARS))) == (
        "destination_known_check_start", Due(date(2026, 11, 23), DueKind.CHECK_START))  # before the 30 Nov review


def test_the_untraced_agency_count_is_a_configured_local_rule(evidence):
    """Review item 5: no statutory number; default 3 (CME_UNTRACED_MIN_AGENCIES)."""
    def problems(minimum):
        context = closure.ClosureContext(uuid.uuid4(), date(2026, 11, 2), frozenset({"school", "health"}),
                                         date(2026, 11, 30), min_agencies_for_untraced=minimum)
        return [p.code for p in closure.check(closure.ClosureReason.UNTRACED_ENQUIRIES_EXHAUSTED,
                                              evidence("untraced_enquiries_exhausted"), date(2026, 11, 30),
                                              context)[1]]
    assert problems(3) == ["enquiries_not_exhausted"] and problems(2) == []
    assert CaseworkSettings().untraced_min_agencies == 3


# --- Term dates: 2027/28 bundled, and a warning before they run out (review item 4) ------------------

def test_the_bundled_term_dates_cover_2027_28():
    for borough in ("westminster", "kensington_and_chelsea"):
        calendar = CALENDARS[borough]
        assert calendar.covers(date(2028, 7, 20)) and not calendar.is_school_day(date(2027, 10, 27))  # half term
        assert calendar.is_school_day(date(2027, 9, 3)) and not calendar.is_school_day(date(2027, 8, 20))


def test_a_warning_and_a_metric_before_the_term_dates_run_out():
    assert days_left(CALENDARS, date(2028, 6, 1)) == {"kensington_and_chelsea": 50, "westminster": 50}
    assert lapsing(CALENDARS, date(2028, 5, 1), 60) == {}
    assert lapsing(CALENDARS, date(2028, 7, 31), 60) == {"kensington_and_chelsea": -10, "westminster": -10}
    health = TermDatesHealth()
    with capture_logs() as logs:
        health.watch(CALENDARS, 60, lambda: date(2028, 6, 1))
        health.warn()  # at most once a day per borough
    assert [(e["event"], e["borough"], e["days_left"]) for e in logs] == [
        ("term_dates_running_out", "kensington_and_chelsea", 50), ("term_dates_running_out", "westminster", 50)]
    [family] = list(health.collect())
    assert {s.labels["borough"]: s.value for s in family.samples} == {"kensington_and_chelsea": 50,
                                                                      "westminster": 50}
    HEALTH.watch(CALENDARS, 60, lambda: date(2028, 7, 31))  # what create_app does, with the service's calendars
    assert REGISTRY.get_sample_value("cme_casework_term_dates_days_left", {"borough": "westminster"}) == -10
