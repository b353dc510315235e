"""Which referrals open a case (DOMAIN section 2; SI 2024/208 reg 9)."""

from datetime import date

import pytest

from cme_casework.adapters.calendars import load_calendars
from cme_casework.domain import opening
from cme_casework.domain.clocks import ClockPolicy

pytestmark = pytest.mark.unit

DEST = ("654321", date(2026, 11, 23))


@pytest.mark.parametrize(
    ("kwargs", "opens", "reason"),
    [
        ({"ground": "9(1)(a)", "destination": DEST}, False, "on_roll_elsewhere"),
        ({"ground": "9(1)(a)"}, True, "unknown_destination"),  # ground (a) but destination unknown
        ({"ground": "9(1)(a)", "destination": ("654321", None)}, True, "unknown_destination"),  # no start date
        ({"ground": "9(1)(g)"}, True, "unknown_destination"),  # moved away (abroad included), destination unknown
        ({"ground": None}, True, "unknown_destination"),  # incomplete return: no ground given
        ({"ground": "9(1)(h)"}, True, "not_returned_after_leave"),
        ({"ground": "9(1)(i)"}, True, "unexplained_absence_20_days"),
        # D4 (statutory review 2026-12): DfE CME guidance (updated 8 Sep 2025), "Who are children missing
        # education": EHE not yet assessed, and suitable education otherwise, are not CME.
        ({"ground": "9(1)(f)"}, False, "education_otherwise"),
        ({"ground": "9(1)(e)"}, False, "education_otherwise"),
        # Item 6: ground (d), the SAO amended names the school: destination known, check the start.
        ({"ground": "9(1)(d)"}, True, "destination_known_check_start"),
        ({"ground": "9(1)(o)"}, True, "permanently_excluded"),
        ({"ground": "9(1)(k)"}, False, "not_cme_ground"),  # died
        ({"ground": "9(1)(l)"}, False, "not_cme_ground"),  # over compulsory school age
        ({"ground": "9(1)(j)"}, False, "not_cme_ground"),  # detained
        ({"ground": "9(1)(c)"}, False, "not_cme_ground"),  # still registered at the other school
        ({"kind": "failed_to_start"}, True, "failed_to_start"),
        ({"kind": "moved_no_forwarding_address"}, True, "moved_no_forwarding_address"),
        ({"kind": "new_arrival_not_in_school", "source": "other_local_authority"}, True, "new_arrival_not_in_school"),
        ({"kind": "child_not_in_school_concern", "source": "public"}, True, "concern_reported"),
        ({"kind": "child_not_in_school_concern", "source": "nhs"}, True, "concern_reported"),
        ({"kind": "not_attending", "source": "police"}, True, "concern_reported"),
        ({"kind": "not_attending", "source": "school"}, False, "attendance_matter"),  # on roll: not CME yet
        ({"kind": "new_pupil_registered"}, False, "new_pupil_registered"),
        ({"kind": "change_of_circumstances"}, False, "change_of_circumstances"),
    ],
)
def test_which_referrals_open_a_case(make_referral, kwargs, opens, reason):
    decision = opening.decide(make_referral(**kwargs))
    assert (decision.opens_case, decision.reason, decision.risk) == (opens, reason, opening.Risk.STANDARD)


@pytest.mark.parametrize("flags", [{"child_protection_plan": True}, {"child_in_need": True}, {"looked_after": True}])
def test_a_safeguarding_flag_makes_a_case_high_risk_and_opens_one_even_for_a_ground_a_move(make_referral, flags):
    decision = opening.decide(make_referral(ground="9(1)(a)", destination=DEST, flags=flags))
    assert decision == opening.OpeningDecision(True, "safeguarding_flag", opening.Risk.HIGH)


def test_a_safeguarding_concern_is_high_risk_and_keeps_the_referrals_own_reason(make_referral):
    decision = opening.decide(make_referral(ground="9(1)(h)", concern=True))
    assert decision == opening.OpeningDecision(True, "not_returned_after_leave", opening.Risk.HIGH)


def test_flags_that_are_not_safeguarding_do_not_raise_risk(make_referral):
    decision = opening.decide(make_referral(flags={"young_carer": True, "gypsy_roma_traveller": True}))
    assert decision.risk is opening.Risk.STANDARD


@pytest.mark.parametrize(
    ("kwargs", "proposes"),
    [
        ({"kind": "new_pupil_registered"}, True),
        ({"ground": "9(1)(a)", "destination": DEST}, True),
        ({"ground": "9(1)(a)"}, False),
        ({"kind": "change_of_circumstances"}, False),
        ({"ground": "9(1)(h)"}, False),
    ],
)
def test_a_return_that_puts_the_child_on_a_roll_proposes_closure(make_referral, kwargs, proposes):
    assert opening.proposes_closure(make_referral(**kwargs)) is proposes


# --- D4, D5 and items 6-7 of the statutory review (2026-12), each with its source ---------------------


def test_ground_f_and_e_are_recorded_and_routed_to_elective_home_education(make_referral):
    """SI 2024/208 reg 9(1)(e), (f); DfE "Children missing education" (updated 8 Sep 2025): children in
    elective home education the LA has not yet assessed are not CME, nor those educated suitably otherwise."""
    for ground in ("9(1)(f)", "9(1)(e)"):
        decision = opening.decide(make_referral(ground=ground))
        assert decision == opening.OpeningDecision(False, "education_otherwise", opening.Risk.STANDARD,
                                                   (opening.Route.ELECTIVE_HOME_EDUCATION,))


def test_ground_a_with_a_start_a_month_after_the_deletion_opens_a_case_to_check_the_start(make_referral):
    """DfE CME guidance (8 Sep 2025): CME includes a child offered a place for a future date who has not yet
    started (review case opens_case-031). Deleted Mon 2 Nov 2026, starting Tue 1 Dec 2026."""
    referral = make_referral(ground="9(1)(a)", destination=("654321", date(2026, 12, 1)),
                             deletion_date=date(2026, 11, 2), received_on=date(2026, 11, 2))
    decision = opening.decide(referral, ClockPolicy(calendars=load_calendars()).opening_rules("westminster"))
    assert decision == opening.OpeningDecision(True, "destination_known_check_start", opening.Risk.STANDARD,
                                               check_start_on=date(2026, 12, 1))


@pytest.mark.parametrize(
    ("deleted", "starts", "gap", "opens"),
    [
        (date(2026, 11, 13), date(2026, 11, 16), 0, False),  # Fri to Mon: no school day missed
        (date(2026, 11, 12), date(2026, 11, 16), 0, True),  # Thu to Mon: Friday missed, strict setting
        (date(2026, 11, 16), date(2026, 11, 23), 5, False),  # a week: 4 school days missed, within the default 5
        (date(2026, 11, 16), date(2026, 11, 25), 5, True),  # 6 school days missed
        (date(2026, 10, 23), date(2026, 11, 2), 0, False),  # over the autumn half term: no school day missed
        (date(2027, 7, 21), date(2027, 9, 3), 0, False),  # summer: the 2027/28 terms start 1 Sep (2 training days)
    ],
)
def test_ground_a_opens_no_case_when_the_child_misses_no_more_school_days_than_the_setting(
        make_referral, deleted, starts, gap, opens):
    """DOMAIN section 2 ("normally not a CME case") read with the DfE definition: a local rule, configurable
    (CME_GROUND_A_START_GAP_SCHOOL_DAYS), counted in the borough's school days."""
    policy = ClockPolicy(calendars=load_calendars(), ground_a_start_gap_school_days=gap)
    referral = make_referral(ground="9(1)(a)", destination=("654321", starts), deletion_date=deleted,
                             received_on=deleted)
    assert opening.decide(referral, policy.opening_rules("westminster")).opens_case is opens


@pytest.mark.parametrize(
    ("dob", "reason", "follow_up"),
    [
        (date(2024, 6, 1), "below_compulsory_school_age", date(2029, 8, 31)),  # a 2-year-old (opens_case-033)
        (date(2021, 12, 31), "below_compulsory_school_age", date(2026, 12, 31)),  # 5 on a prescribed day
        (date(2009, 6, 1), "over_compulsory_school_age", None),  # a 17-year-old (opens_case-032)
    ],
)
def test_a_child_outside_compulsory_school_age_is_recorded_never_opened(make_referral, dob, reason, follow_up):
    """Education Act 1996 s436A covers children of compulsory school age only; s8(2) and the Education (Start
    of Compulsory School Age) Order 1998 (SI 1998/1607): it starts on the prescribed day (31 Mar, 31 Aug,
    31 Dec) on or after the fifth birthday; s8(3)-(4), SI 1997/1970: it ends on the school leaving date.
    A child below it gets a follow-up on the day they reach it. Referred 16 Nov 2026."""
    for kwargs in ({"ground": "9(1)(i)"}, {"kind": "child_not_in_school_concern", "source": "public"}):
        decision = opening.decide(make_referral(dob=dob, **kwargs))
        assert decision == opening.OpeningDecision(False, reason, opening.Risk.STANDARD, (), follow_up)


def test_a_child_whose_date_of_birth_is_unknown_is_not_taken_to_be_outside_school_age(make_referral):
    assert opening.decide(make_referral(dob=None)).opens_case


@pytest.mark.parametrize("ground", ["9(1)(k)", "9(1)(l)", "9(1)(c)", "9(1)(j)"])
def test_a_flagged_child_who_is_not_cme_goes_to_safeguarding_without_a_cme_case(make_referral, ground):
    """Statutory review item 7: a ground (k) (died) or (l) (over school age) deletion with a child protection
    flag is a safeguarding matter (DOMAIN section 2: escalate the same working day), not CME (s436A);
    the same decision for (c) and (j), whose ground also says where the child is."""
    decision = opening.decide(make_referral(ground=ground, flags={"child_protection_plan": True}))
    assert decision == opening.OpeningDecision(False, "not_cme_ground", opening.Risk.HIGH,
                                               (opening.Route.SAFEGUARDING,))


def test_a_flagged_ehe_notice_is_routed_to_ehe_and_to_safeguarding(make_referral):
    decision = opening.decide(make_referral(ground="9(1)(f)", concern=True))
    assert (decision.opens_case, decision.routes) == (
        False, (opening.Route.ELECTIVE_HOME_EDUCATION, opening.Route.SAFEGUARDING))


def test_a_flagged_child_over_school_age_goes_to_safeguarding_without_a_case(make_referral):
    decision = opening.decide(make_referral(dob=date(2009, 6, 1), flags={"looked_after": True}))
    assert (decision.opens_case, decision.reason, decision.routes) == (
        False, "over_compulsory_school_age", (opening.Route.SAFEGUARDING,))
