"""The identity index on the real database: one subject per child whoever refers them, possible matches
that officers resolve over HTTP, merges that delete nothing."""

import json
import uuid

import pytest
from sqlalchemy import text

from cme_intake.app import create_app
from cme_shared.messaging.consumer import Delivery

pytestmark = pytest.mark.integration


def public_sighting(sample, first="Tomasz", last="Nowak", dob="2014-07-01", postcode="W2 1AA") -> dict:
    """A member of the public who knows the child's name, date of birth and postcode (no UPN)."""
    document = sample("accepted-public-anonymous.json")
    document["referral_id"] = f"PUB-{uuid.uuid4().hex[:8]}"
    document["child"] = {"first_name": first, "last_name": last, "date_of_birth": dob,
                         "address": {"line1": "12 Example Mews", "postcode": postcode}}
    return document


async def school_referral(intake, sample) -> dict:
    document = sample("accepted-school-deletion-ground-a-with-destination.json")  # Tomasz Nowak, with a UPN
    answer = await intake.client.post("/referrals", json=document, headers=intake.partner("101234"))
    assert answer.status_code == 202
    return answer.json()


async def public_referral(intake, document) -> dict:
    answer = await intake.client.post("/public/referrals", json=document)
    assert answer.status_code == 202
    intake_id = uuid.UUID(answer.json()["intake_id"])
    return {**answer.json(), "child_subject_id": str(await intake.scalar(
        "SELECT child_subject_id FROM referrals WHERE intake_id = :i", i=intake_id))}


async def test_a_child_referred_by_a_school_and_by_the_public_has_one_subject_id(intake, sample):
    school = await school_referral(intake, sample)
    public = await public_referral(intake, public_sighting(sample, first="TOMASZ", last="nowak", postcode="w21aa"))
    assert public["child_subject_id"] == school["child_subject_id"]
    assert await intake.scalar("SELECT count(*) FROM subjects WHERE subject_type = 'child'") == 1
    assert await intake.scalar("SELECT count(*) FROM possible_matches") == 0


async def test_the_same_in_the_other_order(intake, sample):
    public = await public_referral(intake, public_sighting(sample))
    school = await school_referral(intake, sample)
    assert school["child_subject_id"] == public["child_subject_id"]


async def test_a_valid_upn_matches_even_when_the_name_is_spelt_differently(intake, sample):
    first = await school_referral(intake, sample)
    document = sample("accepted-police-high-risk.json")
    document["child"].update(first_name="Tomas", last_name="Novak", upn="Z213200119101", date_of_birth="2014-07-01")
    document["child"]["address"]["postcode"] = "SW10 9ZZ"
    answer = await intake.client.post("/referrals", json=document, headers=intake.partner("MPS"))
    assert answer.json()["child_subject_id"] == first["child_subject_id"]


async def test_two_different_children_who_share_a_name_stay_two(intake, sample):
    school = await school_referral(intake, sample)
    other = await public_referral(intake, public_sighting(sample, dob="2016-02-02", postcode="SW10 9ZZ"))
    assert other["child_subject_id"] != school["child_subject_id"]
    assert await intake.scalar("SELECT count(*) FROM possible_matches") == 0


async def test_a_weak_match_is_never_merged_silently_and_an_officer_resolves_it(intake, sample):
    school = await school_referral(intake, sample)
    # Same name and date of birth, another postcode (moved?): a new subject and a possible match.
    moved = await public_referral(intake, public_sighting(sample, postcode="W9 3XX"))
    assert moved["child_subject_id"] != school["child_subject_id"]
    [match] = (await intake.client.get("/possible-matches", headers=intake.officer())).json()
    assert match["subject"]["subject_id"] == moved["child_subject_id"]
    assert match["candidate"]["subject_id"] == school["child_subject_id"]
    assert match["matched_on"] == ["name", "date_of_birth"] and match["decision"] is None
    assert match["candidate"]["upn"] == "Z213200119101" and match["subject"]["current_postcode"] == "W9 3XX"

    decided = await intake.client.post(f"/possible-matches/{match['match_id']}/resolve",
                                       json={"decision": "merge", "reason": "Same child: mother confirmed the move"},
                                       headers=intake.officer(sub="officer-7"))
    assert decided.status_code == 200
    assert decided.json()["subject_id"] == decided.json()["candidate_subject_id"] == school["child_subject_id"]
    [decision] = await intake.rows("SELECT decision, reason, decided_by, decided_at FROM possible_match_decisions")
    assert (decision.decision, decision.reason, decision.decided_by) == (
        "merge", "Same child: mother confirmed the move", "officer-7")
    # A merge pointer, nothing deleted: both subjects are still there, the newer points at the older.
    assert await intake.scalar("SELECT count(*) FROM subjects WHERE subject_type = 'child'") == 2
    [pointer] = await intake.rows("SELECT subject_id, merged_into FROM subject_merges")
    assert (str(pointer.subject_id), str(pointer.merged_into)) == (moved["child_subject_id"], school["child_subject_id"])
    view = (await intake.client.get(f"/referrals/{moved['intake_id']}", headers=intake.officer())).json()
    assert view["child_subject_id"] == school["child_subject_id"]

    again = await intake.client.post(f"/possible-matches/{match['match_id']}/resolve",
                                     json={"decision": "keep_apart", "reason": "second thoughts"},
                                     headers=intake.officer())
    assert again.status_code == 409 and again.json()["errors"][0]["code"] == "already_decided"
    assert (await intake.client.get("/possible-matches", headers=intake.officer())).json() == []
    decided_list = (await intake.client.get("/possible-matches?status=decided", headers=intake.officer())).json()
    assert decided_list[0]["decision"]["decided_by"] == "officer-7"

    # Having merged, a referral at the new postcode finds the one child.
    later = await public_referral(intake, public_sighting(sample, postcode="W9 3XX"))
    assert later["child_subject_id"] == school["child_subject_id"]


async def test_keeping_apart_records_the_decision_and_merges_nothing(intake, sample):
    await school_referral(intake, sample)
    await public_referral(intake, public_sighting(sample, postcode="W9 3XX"))
    [match] = (await intake.client.get("/possible-matches", headers=intake.manager())).json()
    answer = await intake.client.post(f"/possible-matches/{match['match_id']}/resolve",
                                      json={"decision": "keep_apart", "reason": "Different parents, different school"},
                                      headers=intake.manager(sub="manager-2"))
    assert answer.status_code == 200 and answer.json()["subject_id"] != answer.json()["candidate_subject_id"]
    assert await intake.scalar("SELECT count(*) FROM subject_merges") == 0
    bad = await intake.client.post(f"/possible-matches/{match['match_id']}/resolve",
                                   json={"decision": "maybe", "reason": "x"}, headers=intake.manager())
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"][-1] == "decision"


async def test_possible_matches_are_borough_scoped(intake, sample):
    await school_referral(intake, sample)  # W2: Westminster
    await public_referral(intake, public_sighting(sample, postcode="W9 3XX"))  # W9: Westminster
    assert len((await intake.client.get("/possible-matches", headers=intake.officer("westminster"))).json()) == 1
    rbkc = intake.officer("kensington_and_chelsea")
    assert (await intake.client.get("/possible-matches", headers=rbkc)).json() == []
    [match] = (await intake.client.get("/possible-matches", headers=intake.manager())).json()
    answer = await intake.client.post(f"/possible-matches/{match['match_id']}/resolve",
                                      json={"decision": "merge", "reason": "x"}, headers=rbkc)
    assert answer.status_code == 404
    partner = await intake.client.get("/possible-matches", headers=intake.partner("101234"))
    assert partner.status_code == 403


async def test_siblings_share_one_mother(intake, sample):
    first = sample("accepted-school-deletion-no-destination.json")  # Amira, mother Leila Haddad
    sibling = sample("accepted-school-deletion-no-destination.json")
    sibling["referral_id"] = "SCH-2026-0009"
    sibling["child"].update(first_name="Yusuf", upn=None, nhs_number=None, date_of_birth="2018-01-05")
    for document in (first, sibling):
        assert (await intake.client.post("/referrals", json=document, headers=intake.partner("101234"))).status_code == 202
    carers = await intake.rows("SELECT DISTINCT carer_subject_id FROM care_links")
    assert len(carers) == 1  # same name and the same phone number: one carer subject
    assert await intake.scalar("SELECT count(*) FROM subjects WHERE subject_type = 'child'") == 2


async def test_officers_see_their_boroughs_referrals_and_managers_the_triage_list(intake, sample):
    west = await school_referral(intake, sample)  # W2
    police = sample("accepted-police-high-risk.json")  # W8: Kensington and Chelsea
    rbkc = (await intake.client.post("/referrals", json=police, headers=intake.partner("MPS"))).json()
    stray = sample("accepted-with-warnings-bad-upn-postcode.json")  # malformed postcode: triage
    triaged = (await intake.client.post("/referrals", json=stray, headers=intake.partner("101234"))).json()

    westminster, kensington = intake.officer("westminster"), intake.officer("kensington_and_chelsea")
    seen = await intake.client.get(f"/referrals/{west['intake_id']}", headers=westminster)
    assert seen.status_code == 200
    body = seen.json()
    assert body["borough"] == "westminster" and body["referral"]["child"]["upn"] == "Z213200119101"
    assert body["referral"]["source"]["contact"]["name"] == "A. Registrar"  # a professional in role
    assert (await intake.client.get(f"/referrals/{west['intake_id']}", headers=kensington)).status_code == 404
    assert (await intake.client.get(f"/referrals/{rbkc['intake_id']}", headers=westminster)).status_code == 404
    # The triage list is for those who see both boroughs (as casework's triage cases): officers see none of it.
    for headers in (westminster, kensington):
        assert (await intake.client.get(f"/referrals/{triaged['intake_id']}", headers=headers)).status_code == 404
        assert (await intake.client.get("/triage", headers=headers)).status_code == 403
    assert (await intake.client.get(f"/referrals/{triaged['intake_id']}", headers=intake.manager())).status_code == 200
    assert (await intake.client.get(f"/referrals/{rbkc['intake_id']}", headers=intake.manager())).status_code == 200
    assert (await intake.client.get(f"/referrals/{uuid.uuid4()}", headers=intake.manager())).status_code == 404
    assert (await intake.client.get(f"/referrals/{west['intake_id']}", headers=intake.partner("101234"))).status_code == 403
    assert (await intake.client.get(f"/referrals/{west['intake_id']}")).status_code == 401

    [item] = (await intake.client.get("/triage", headers=intake.manager())).json()
    assert item["intake_id"] == triaged["intake_id"] and item["postcode_well_formed"] is False
    assert set(item["warnings"]) == {"upn_allocated_before_birth", "below_compulsory_school_age", "postcode_format"}


async def test_one_batch_matches_within_itself_as_one_referral_after_another_would(make_settings, engine, sample):
    """A batch reads the names it needs once, then adds what it records as it goes: a child or carer
    first seen earlier in the same batch is found just as one seen in an earlier batch would be."""
    school = sample("accepted-school-deletion-ground-a-with-destination.json")  # Tomasz Nowak, with a UPN
    public = public_sighting(sample, first="TOMASZ", last="nowak", postcode="w21aa")
    namesake = public_sighting(sample, dob="2016-02-02", postcode="SW10 9ZZ")
    amira = sample("accepted-school-deletion-no-destination.json")  # mother Leila Haddad
    yusuf = sample("accepted-school-deletion-no-destination.json")
    yusuf["referral_id"] = "SCH-2026-0009"
    yusuf["child"].update(first_name="Yusuf", upn=None, nhs_number=None, date_of_birth="2018-01-05")
    app = create_app(make_settings())
    consumer = next(c for c in app.state.runtime.consumers if c.name == "referrals")
    batch = [Delivery(topic=consumer.topic, partition=0, offset=i, key=None, value=json.dumps(d).encode())
             for i, d in enumerate((school, public, namesake, amira, yusuf))]
    try:
        assert await consumer.process_batch(batch) == ["handled"] * 5
    finally:
        await app.state.runtime.engine.dispose()
    rows = await _rows(engine, "SELECT referral_id, child_subject_id FROM referrals")
    child_of = {referral_id: child for referral_id, child in rows}
    assert child_of[public["referral_id"]] == child_of[school["referral_id"]]
    assert child_of[namesake["referral_id"]] != child_of[school["referral_id"]]
    assert await _rows(engine, "SELECT count(*) FROM subjects WHERE subject_type = 'child'") == [(4,)]
    assert await _rows(engine, "SELECT count(DISTINCT carer_subject_id) FROM care_links "
                               "WHERE child_subject_id IN (SELECT child_subject_id FROM referrals "
                               "WHERE referral_id IN ('SCH-2026-0009', :amira))", amira=amira["referral_id"]) == [(1,)]
    assert await _rows(engine, "SELECT count(*) FROM possible_matches") == [(0,)]


async def _rows(engine, sql, **params):
    async with engine.connect() as conn:
        return [tuple(row) for row in (await conn.execute(text(sql), params)).all()]
