"""The caseload's grouping: each open case falls in the one group its deadline says."""

from datetime import date

import pytest

from cme_console.urgency import Urgency, grouped, urgency

pytestmark = pytest.mark.unit

TODAY = date(2027, 1, 20)


def case(due: str | None, kind: str = "first_enquiries", risk: str = "standard", status: str = "open") -> dict:
    return {"case_id": f"c-{due}-{kind}", "next_due_date": due, "next_due_kind": kind, "risk": risk, "status": status,
            "opened_at": "2027-01-01T09:00:00+00:00"}


@pytest.mark.parametrize(("due", "kind", "risk", "expected"), [
    ("2027-01-05", "first_enquiries", "standard", Urgency.CRITICALLY_OVERDUE),  # 15 days late
    ("2027-01-10", "review", "standard", Urgency.OVERDUE),  # exactly 10 days late: overdue, not yet critical
    ("2027-01-19", "escalation", "high", Urgency.CRITICALLY_OVERDUE),  # a high-risk escalation missed by a day
    ("2027-01-19", "first_enquiries", "high", Urgency.OVERDUE),
    ("2027-01-20", "review", "standard", Urgency.DUE_SOON),  # due today
    ("2027-01-25", "review", "standard", Urgency.DUE_SOON),
    ("2027-01-26", "review", "standard", Urgency.NOT_DUE),
    (None, "review", "standard", Urgency.NOT_DUE),
])
def test_each_case_falls_in_the_group_its_deadline_says(due, kind, risk, expected):
    assert urgency(case(due, kind, risk), TODAY) is expected


def test_groups_come_most_urgent_first_with_closed_cases_left_out_and_empty_groups_kept():
    cases = [case("2027-01-24"), case("2027-01-02"), case("2027-01-01"), case("2027-01-02", status="closed")]
    groups = grouped(cases, TODAY)
    assert [g.urgency for g in groups] == list(Urgency)
    assert [c["next_due_date"] for c in groups[0].cases] == ["2027-01-01", "2027-01-02"]  # earliest first
    assert groups[1].cases == [] and len(groups[2].cases) == 1 and groups[3].cases == []
