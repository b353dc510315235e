"""Which referrals open a case (DOMAIN section 2; SI 2024/208 reg 9)."""

from datetime import date

import pytest

from cme_casework.domain import opening

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
        ({"ground": "9(1)(f)"}, True, "education_otherwise_notified"),
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
