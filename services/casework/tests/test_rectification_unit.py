"""Factual rectification of what casework holds (UK GDPR Art 16), as new entries keeping the old value."""

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from cme_casework.domain import commands, lifecycle, referral_entries
from cme_casework.domain.enquiries import Agency, Fact, FactField, Outcome
from cme_casework.domain.opening import decide
from cme_casework.domain.rectification import rectify

pytestmark = pytest.mark.unit
TODAY = date(2026, 11, 30)


@pytest.fixture
def state(make_referral) -> lifecycle.CaseState:
    referral = make_referral(sex="unknown", dob=date(2014, 3, 10), upn="A123456789012")
    state = lifecycle.CaseState()
    for number, entry in enumerate(referral_entries.open_case(referral, decide(referral), uuid.uuid4(), TODAY), 1):
        state = lifecycle.transition(state, replace(entry, entry_id=number, recorded_at=datetime.now(UTC)))
    return state


def apply(state, entry):
    return lifecycle.transition(state, replace(entry, entry_id=(state.last_entry_id or 0) + 1))


def rectified(state, field, value):
    return rectify(state, field=field, new_value=value, rights_request_id="r1", decided_by="dpo", today=TODAY)


@pytest.mark.parametrize(("field", "value", "attr", "expected"), [
    ("sex", "female", "sex", "female"),
    ("date_of_birth", "2014-03-11", "date_of_birth", date(2014, 3, 11)),
    ("upn", "B123456789012", "upn", "B123456789012"),
])
def test_a_fact_casework_holds_is_rectified_and_the_old_value_kept(state, field, value, attr, expected):
    before = getattr(state, attr)
    entry = rectified(state, field, value)
    after = apply(state, entry)
    assert getattr(after, attr) == expected
    assert entry.detail["previous_value"] == (before.isoformat() if isinstance(before, date) else before)


def test_nothing_to_rectify_when_the_value_is_already_right_or_not_held_here(state):
    assert rectified(state, "date_of_birth", "2014-03-10") is None
    assert rectified(state, "first_name", "Amira") is None  # names live in intake's identity index
    assert rectified(state, "address", {"line1": "2 New Road"}) is None  # no address confirmed on this case


def test_an_address_confirmed_by_an_enquiry_is_rectified_pointing_at_the_old(state):
    enquiry = commands.make_enquiry(state, whom=Agency.COUNCIL_TAX, organisation=None, asked_on=TODAY, purpose="p",
                                    answered_on=TODAY, outcome=Outcome.INFORMATION_PROVIDED,
                                    facts=[Fact(field=FactField.ADDRESS, value="1 Old Road",
                                                confirmed_by=Agency.COUNCIL_TAX)],
                                    actor="o", today=TODAY)
    state = apply(state, enquiry)
    entry = rectified(state, "address", {"line1": "1 Old Road, Flat 2"})
    assert entry.supersedes == state.last_entry_id
    assert apply(state, entry).facts[-1]["value"] == {"line1": "1 Old Road, Flat 2"}


@pytest.mark.parametrize(("field", "value"), [("sex", "woman"), ("date_of_birth", "31/02/2014"),
                                             ("date_of_birth", 20140311), ("upn", 12)])
def test_a_value_that_is_not_one_of_the_field_is_refused(state, field, value):
    with pytest.raises(ValueError):
        rectified(state, field, value)
