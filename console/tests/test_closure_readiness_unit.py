"""The case page's "what the closure still lacks" is casework's closure readiness put into words: each
blocker, and per reason each lacking piece by the closure form's own field names, never the console's own
reckoning; a reason a pending proposal holds is confirmed, not closed afresh."""

import pytest

from cme_console.pages.cases import closure_view, lack_words

pytestmark = pytest.mark.unit

READINESS = {  # the shape of GET /cases/{id}/closure-readiness (casework README, "What a closure still lacks")
    "case_id": "6f1c1e0a-0000-4000-8000-000000000001", "status": "escalated", "risk": "high", "as_of": "2027-01-04",
    "can_close": False, "restricted": True, "agencies_asked": ["school"], "min_agencies_for_untraced": 3,
    "blocked_by": [{"code": "escalation_outcome_required", "message": "a case cannot close until every "
                    "escalation's outcome is recorded", "escalation_id": "e-1", "to": "mash", "due_on": "2027-01-05"}],
    "reasons": [
        {"reason": "on_roll_elsewhere", "ready": False, "submit": "closure_proposal_confirm",
         "evidence_on_file": ["school_urn"],
         "lacks": [{"loc": ["evidence", "start_date"], "code": "missing", "message": "start_date is required"}]},
        {"reason": "duplicate_or_not_cme", "ready": False, "submit": "closure", "evidence_on_file": [],
         "lacks": [{"loc": ["evidence"], "code": "one_of_missing",
                    "message": "give one of duplicate_of_case_id, not_cme_explanation"}]},
        {"reason": "untraced_enquiries_exhausted", "ready": False, "submit": "closure", "evidence_on_file": [],
         "lacks": [{"loc": ["evidence"], "code": "enquiries_not_exhausted", "message": "enquiries of at least 3 "
                    "different agencies must be recorded first (1 so far)"}]},
    ],
}


def test_blockers_and_lacks_are_casework_s_answer_in_words():
    view = closure_view(READINESS)
    assert view["blocked_by"] == ["The outcome of the escalation to MASH, due 5 January 2027."]
    assert view["restricted"] and not view["can_close"]
    on_roll, duplicate, untraced = view["reasons"]
    assert on_roll["lacks"] == ["Start date"] and on_roll["on_file"] == ["School URN"]
    assert on_roll["submit"] == "closure_proposal_confirm"
    assert duplicate["lacks"] == ["One of: Case it duplicates; Why this is not a CME case"]
    assert untraced["lacks"] == ["Enquiries of at least 3 different agencies must be recorded first (1 so far)"]


def test_a_piece_the_form_does_not_name_is_still_words():
    assert lack_words({"loc": ["evidence", "confirmed_by"], "code": "missing"}) == "Who confirmed it"
    assert lack_words({"loc": ["evidence", "new_piece"], "code": "missing"}) == "New piece"
    assert closure_view(None) is None
