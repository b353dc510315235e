"""Receiving referrals on the real broker and database: duplicates, the public form, third parties,
boroughs, changes of circumstances."""

import json
import uuid

import pytest
from sqlalchemy import text

from cme_intake.app import create_app
from cme_intake.service_layer import reception
from cme_shared.contracts import topics
from cme_shared.messaging.consumer import Delivery
from cme_shared.testing.kafka import produce

pytestmark = pytest.mark.integration

COUNTS = """SELECT (SELECT count(*) FROM referrals), (SELECT count(*) FROM subjects),
                   (SELECT count(*) FROM subject_observations), (SELECT count(*) FROM subject_addresses),
                   (SELECT count(*) FROM possible_matches), (SELECT count(*) FROM care_links),
                   (SELECT count(*) FROM outbox WHERE event_type = 'ReferralAccepted')"""


async def test_redelivering_a_referral_three_times_changes_nothing(intake, sample):
    document = sample("accepted-school-deletion-no-destination.json")
    async with intake.reader(topics.REFERRAL_OUTCOMES) as outcomes, \
            intake.reader(topics.REFERRAL_ACCEPTED) as accepted:
        await intake.produce(document, key=b"first")
        await outcomes.wait_for(lambda rs: len(rs) >= 1)
        await accepted.wait_for(lambda rs: len(rs) >= 1)
        before = (await intake.rows(COUNTS))[0]
        for attempt in range(3):
            await intake.produce(document, key=f"again-{attempt}".encode())
        await outcomes.wait_for(lambda rs: len(rs) >= 4)
        await accepted.settle(1.0)
    first, *again = [json.loads(r.value) for r in outcomes.records]
    assert first["status"] == "accepted"
    assert [o["status"] for o in again] == ["duplicate"] * 3
    assert {(o["intake_id"], o["child_subject_id"]) for o in again} == {(first["intake_id"], first["child_subject_id"])}
    assert (await intake.rows(COUNTS))[0] == before  # nothing in the database changed
    assert len(accepted.records) == 1  # casework heard of it once

    response = await intake.client.post("/referrals", content=json.dumps(document),
                                        headers=intake.partner(document["source"]["org_id"]))
    assert response.status_code == 202 and response.json()["status"] == "duplicate"
    assert (await intake.rows(COUNTS))[0] == before


async def test_a_partners_own_event_id_header_does_not_hide_a_referral(intake, sample):
    """The inbox keys partner records by their place in the log, not by headers the partner chose."""
    first, second = sample("accepted-police-high-risk.json"), sample("accepted-nhs-new-arrival.json")
    async with intake.reader(topics.REFERRAL_OUTCOMES) as outcomes:
        for document in (first, second):
            await produce(intake.infra.kafka, intake.names(topics.REFERRALS), json.dumps(document).encode(),
                          headers=[("event_id", b"partner-batch-7")])
        await outcomes.wait_for(lambda rs: len(rs) >= 2)
    assert sorted(json.loads(r.value)["status"] for r in outcomes.records) == ["accepted", "accepted"]


async def test_the_partner_api_checks_the_token(intake, sample):
    document = json.dumps(sample("accepted-police-high-risk.json"))
    assert (await intake.client.post("/referrals", content=document)).status_code == 401
    wrong_org = await intake.client.post("/referrals", content=document, headers=intake.partner("OTHER"))
    assert wrong_org.status_code == 403
    assert wrong_org.json()["errors"][0] == {"loc": ["source", "org_id"], "code": "org_mismatch",
                                             "message": "source.org_id must match the token's org_id"}
    officer = await intake.client.post("/referrals", content=document, headers=intake.officer())
    assert officer.status_code == 403
    assert await intake.scalar("SELECT count(*) FROM referrals") == 0


def public_referral(sample, **source) -> dict:
    document = sample("accepted-public-anonymous.json")
    document["referral_id"] = f"PUB-{uuid.uuid4().hex[:8]}"
    document["source"] = {"type": "public", "org_id": None, "org_name": None, "anonymous": False,
                          "contact": {"name": "Pat Neighbour", "role": None, "email": "pat@neighbour.example",
                                      "phone": "07700 900777"}, **source}
    return document


async def test_the_public_form_is_rate_limited_per_client(start_intake, sample):
    async with start_intake(public_burst=2, public_rate_per_minute=1, trusted_proxies=["127.0.0.1/32"]) as intake:
        post = intake.client.post
        ip_a, ip_b = {"X-Forwarded-For": "198.51.100.7"}, {"X-Forwarded-For": "203.0.113.9, 198.51.100.8"}
        answers = [await post("/public/referrals", json=public_referral(sample), headers=ip_a) for _ in range(3)]
        assert [a.status_code for a in answers] == [202, 202, 429]
        assert answers[2].json() == {"errors": [{"loc": [], "code": "rate_limited",
                                                 "message": "too many referrals from this address; please try again later"}]}
        assert int(answers[2].headers["retry-after"]) >= 1
        assert (await post("/public/referrals", json=public_referral(sample), headers=ip_b)).status_code == 202
        assert await intake.scalar("SELECT count(*) FROM referrals") == 3


async def test_the_public_form_takes_only_public_and_parent_referrals(intake, sample):
    school = sample("accepted-school-deletion-no-destination.json")
    answer = await intake.client.post("/public/referrals", json=school)
    assert answer.status_code == 422 and answer.json()["errors"][0]["code"] == "source_type_not_public"
    parent = public_referral(sample, type="parent")
    accepted = await intake.client.post("/public/referrals", json=parent)
    assert accepted.status_code == 202 and accepted.json()["status"] == "accepted"
    assert accepted.json()["child_subject_id"] is None  # the public learn nothing of the index
    assert await intake.scalar("SELECT count(*) FROM referrals") == 1


async def test_the_public_form_cannot_take_a_school_s_referral_ids(intake, sample):
    """The duplicate key is (source.org_id, referral_id): an org id on the open form is refused, so nobody
    without a partner's token can make a school's next referral come back a duplicate."""
    school = sample("accepted-school-deletion-no-destination.json")
    squatter = public_referral(sample, type="parent")
    squatter["source"]["org_id"], squatter["referral_id"] = school["source"]["org_id"], school["referral_id"]
    refused = await intake.client.post("/public/referrals", json=squatter)
    assert refused.status_code == 422 and refused.json()["errors"][0]["code"] == "org_id_not_for_public_form"
    genuine = await intake.client.post("/referrals", json=school, headers=intake.partner(school["source"]["org_id"]))
    assert genuine.status_code == 202 and genuine.json()["status"] != "duplicate"


async def test_a_public_referrers_details_are_sealed_apart_and_never_leave_intake(intake, sample):
    document = public_referral(sample)
    async with intake.reader(topics.REFERRAL_ACCEPTED) as accepted, intake.reader(topics.REFERRAL_OUTCOMES) as outcomes:
        answer = await intake.client.post("/public/referrals", json=document)
        assert answer.status_code == 202
        await outcomes.wait_for(lambda rs: len(rs) >= 1)
        # The public form's referrals wait for an officer before casework hears of them.
        taken = await intake.client.post(f"/referrals/{answer.json()['intake_id']}/accept", json={},
                                         headers=intake.manager())
        assert taken.status_code == 200, taken.text
        await accepted.wait_for(lambda rs: len(rs) >= 1)
    [referral] = await intake.rows("SELECT payload, raw, intake_id FROM referrals")
    assert referral.payload["source"]["contact"] is None and referral.raw is None
    [detail] = await intake.rows("SELECT reason, third_party, sealed, intake_id FROM third_party_details")
    assert (detail.reason, detail.third_party, detail.intake_id) == ("public_referrer", True, referral.intake_id)
    for secret in ("Pat Neighbour", "pat@neighbour.example", "07700 900777"):
        assert secret.encode() not in detail.sealed
        assert secret not in json.dumps(referral.payload)
        for record in (*accepted.records, *outcomes.records):
            assert secret.encode() not in record.value
    event = json.loads(accepted.records[0].value)
    assert event["source_type"] == "public" and event["source_org_name"] is None
    officer_view = (await intake.client.get(f"/referrals/{referral.intake_id}", headers=intake.manager())).json()
    assert officer_view["referrer"]["third_party_details_sealed"] == [{"reason": "public_referrer"}]
    assert "Pat Neighbour" not in json.dumps(officer_view)


async def test_an_anonymous_referral_keeps_no_referrer_data_at_all(intake, sample):
    document = public_referral(sample, anonymous=True)  # anonymous, yet naming a contact
    answer = await intake.client.post("/public/referrals", json=document)
    assert answer.status_code == 202
    assert {"loc": ["source", "contact"], "code": "anonymous_contact_discarded"}.items() <= answer.json()["warnings"][0].items()
    assert await intake.scalar("SELECT count(*) FROM third_party_details") == 0
    [row] = await intake.rows("SELECT payload, raw FROM referrals")
    assert row.raw is None and "Pat Neighbour" not in json.dumps(row.payload)
    plain = await intake.client.post("/public/referrals", json=sample("accepted-public-anonymous.json"))
    assert plain.status_code == 202 and plain.json()["warnings"] == []
    assert await intake.scalar("SELECT count(*) FROM third_party_details") == 0


async def boroughs_of(intake, sample) -> dict[str, str | None]:
    found = {}
    for name, postcode in (("west", "W2 1AA"), ("rbkc", "SW10 9ZZ"), ("bad", "W2 9"), ("away", "M1 1AE")):
        document = sample("accepted-police-high-risk.json")
        document["referral_id"] = name
        document["child"]["address"]["postcode"] = postcode
        answer = await intake.client.post("/referrals", json=document, headers=intake.partner("MPS"))
        found[name] = await intake.scalar("SELECT borough FROM referrals WHERE intake_id = :i",
                                          i=uuid.UUID(answer.json()["intake_id"]))
    named = sample("accepted-other-la-moved-in.json")  # names its borough itself
    answer = await intake.client.post("/referrals", json=named, headers=intake.partner("202"))
    found["named"] = await intake.scalar("SELECT borough FROM referrals WHERE intake_id = :i",
                                         i=uuid.UUID(answer.json()["intake_id"]))
    return found


async def test_the_borough_comes_from_the_referral_else_the_postcode_district_else_triage(intake, sample):
    assert await boroughs_of(intake, sample) == {
        "west": "westminster", "rbkc": "kensington_and_chelsea", "bad": None, "away": None,
        "named": "kensington_and_chelsea",
    }
    triage = (await intake.client.get("/triage", headers=intake.manager())).json()
    assert sorted(t["referral_id"] for t in triage) == ["away", "bad"]
    assert {t["postcode_district"] for t in triage} == {"M1", None}


async def test_the_postcode_district_table_is_configurable(start_intake, sample):
    async with start_intake(postcode_districts={"W2": "kensington_and_chelsea", "M1": "westminster"}) as intake:
        assert await boroughs_of(intake, sample) == {
            "west": "kensington_and_chelsea", "rbkc": None, "bad": None, "away": "westminster",
            "named": "kensington_and_chelsea",
        }


async def test_a_change_of_circumstances_adds_the_new_address_from_its_date_and_tells_casework(intake, sample):
    moved_in, change = sample("accepted-other-la-moved-in.json"), sample("accepted-change-of-circumstances.json")
    async with intake.reader(topics.REFERRAL_ACCEPTED) as accepted:
        first = (await intake.client.post("/referrals", json=moved_in, headers=intake.partner("202"))).json()
        second = (await intake.client.post("/referrals", json=change, headers=intake.partner("202"))).json()
        await accepted.wait_for(lambda rs: len(rs) >= 2)
    assert first["child_subject_id"] == second["child_subject_id"]  # the same child in the index
    addresses = await intake.rows(
        "SELECT postcode, valid_from::text AS valid_from, source FROM subject_addresses WHERE subject_id = :s "
        "ORDER BY address_id", s=uuid.UUID(first["child_subject_id"]))
    assert [(a.postcode, a.valid_from) for a in addresses] == [
        ("W10 5AB", None), ("W10 5AB", None), ("W11 1ZZ", "2026-11-20")]  # history kept, nothing overwritten
    assert all(a.source == "other local authority 202 (Camden Council)" for a in addresses)
    event = json.loads(accepted.records[1].value)
    assert event["notification_kind"] == "change_of_circumstances"
    assert (event["new_address_from"], event["new_address_borough"]) == ("2026-11-20", "kensington_and_chelsea")
    assert "Example Court" not in accepted.records[1].value.decode()  # the address itself stays in intake


async def test_an_incomplete_deletion_return_is_accepted_and_flagged_for_casework(intake, sample):
    document = sample("accepted-school-deletion-no-destination.json")
    document["carers"][0]["phones"] = []
    async with intake.reader(topics.REFERRAL_ACCEPTED) as accepted:
        answer = await intake.client.post("/referrals", json=document, headers=intake.partner("101234"))
        await accepted.wait_for(lambda rs: len(rs) >= 1)
    assert answer.json()["status"] == "accepted"
    assert [(w["loc"], w["code"]) for w in answer.json()["warnings"]] == [(["carers", 0, "phones"], "return_incomplete")]
    event = json.loads(accepted.records[0].value)
    assert event["incomplete_return"] is True and event["missing_return_fields"] == ["carers.0.phones"]
    view = (await intake.client.get(f"/referrals/{answer.json()['intake_id']}", headers=intake.officer())).json()
    assert view["incomplete_return"] is True and view["missing_return_fields"] == ["carers.0.phones"]


async def test_nul_characters_neither_lose_a_referral_nor_stop_the_partition(intake, sample):
    """U+0000 is valid JSON but PostgreSQL text refuses it: such a referral is accepted with the
    character replaced (and a warning), a reject quoting it still gets its outcome, and what follows
    on the same partition is processed."""
    accepted = sample("accepted-police-high-risk.json")
    accepted["referral_id"] = "MPS-\u0000-1"
    accepted["child"]["first_name"] = "Ru\u0000by"
    rejected = sample("accepted-police-high-risk.json") | {"unknown\u0000field": 1, "referral_id": "MPS-\u0000-2"}
    after = sample("accepted-nhs-new-arrival.json")
    async with intake.reader(topics.REFERRAL_OUTCOMES) as outcomes:
        for key, document in ((b"nul-ok", accepted), (b"nul-bad", rejected), (b"after", after)):
            await produce(intake.infra.kafka, intake.names(topics.REFERRALS), json.dumps(document).encode(),
                          key=key, partition=0)
        await outcomes.wait_for(lambda rs: len(rs) >= 3)
    by_key = {r.key: json.loads(r.value) for r in outcomes.records}
    assert by_key[b"nul-ok"]["status"] == "accepted" and by_key[b"nul-ok"]["referral_id"] == "MPS-\ufffd-1"
    assert {(tuple(w["loc"]), w["code"]) for w in by_key[b"nul-ok"]["warnings"]} >= {
        (("referral_id",), "nul_character_replaced"), (("child", "first_name"), "nul_character_replaced")}
    assert by_key[b"nul-bad"]["status"] == "rejected"
    assert by_key[b"nul-bad"]["errors"][0]["loc"] == ["unknown\u0000field"]  # the partner sees their own field
    assert by_key[b"after"]["status"] == "accepted"


async def test_a_referral_the_handler_keeps_failing_on_still_gets_its_outcome(intake, sample, monkeypatch):
    original = reception.receive

    async def failing_for_poison(uow, referral, **kw):
        if referral.referral_id == "POISON":
            raise RuntimeError("downstream refused")
        return await original(uow, referral, **kw)

    monkeypatch.setattr(reception, "receive", failing_for_poison)
    poison = sample("accepted-police-high-risk.json") | {"referral_id": "POISON"}
    async with intake.reader(topics.REFERRAL_OUTCOMES) as outcomes, \
            intake.reader(topics.dlq(topics.REFERRALS)) as dead_letters:
        await intake.produce(poison, key=b"poison")
        await intake.produce(sample("accepted-nhs-new-arrival.json"), key=b"good")
        await outcomes.wait_for(lambda rs: len(rs) >= 2)
        [letter] = await dead_letters.wait_for(lambda rs: len(rs) >= 1)
    by_key = {r.key: json.loads(r.value) for r in outcomes.records}
    assert by_key[b"good"]["status"] == "accepted"
    assert by_key[b"poison"]["status"] == "rejected"
    assert [e["code"] for e in by_key[b"poison"]["errors"]] == ["handler_failed"]
    assert letter.value == json.dumps(poison).encode() and dict(letter.headers)["x-dlq-kind"] == b"handler_failed"
    assert await intake.scalar("SELECT count(*) FROM referrals") == 1


async def test_a_batch_finds_duplicates_stored_before_and_within_itself(make_settings, engine, sample):
    """In a batch the duplicate check is one query for the batch, plus the referrals the batch holds back
    for one insert at its end: both kinds of duplicate are still found, whether the batch is settled at
    once or record by record."""
    app = create_app(make_settings())
    consumer = next(c for c in app.state.runtime.consumers if c.name == "referrals")
    before, twice, once = (sample(name) for name in (
        "accepted-police-high-risk.json", "accepted-nhs-new-arrival.json", "accepted-school-deletion-no-destination.json"))

    def batch(documents, first_offset):
        return [Delivery(topic=consumer.topic, partition=0, offset=first_offset + i, key=None,
                         value=json.dumps(d).encode()) for i, d in enumerate(documents)]

    try:
        assert await consumer.process_batch(batch([before], 0)) == ["handled"]
        assert await consumer.process_batch(batch([twice, before, twice, once], 1)) == ["handled"] * 4
        # A batch a record fails in is settled record by record, each in its own unit of work: found too.
        handle = consumer.on
        failed: list[int] = []

        async def fails_first_time(uow, referral):
            if uow.delivery.offset == 7 and not failed:
                failed.append(uow.delivery.offset)
                raise RuntimeError("a transient refusal downstream")
            await handle(uow, referral)

        consumer.on = fails_first_time
        assert await consumer.process_batch(batch([once, twice, before], 5)) == ["handled"] * 3
        assert failed == [7]
    finally:
        await app.state.runtime.engine.dispose()
    statuses = [row[0] for row in await _outcome_statuses(engine)]
    assert statuses == ["accepted", "accepted", "duplicate", "duplicate", "accepted",
                        "duplicate", "duplicate", "duplicate"]
    assert await _scalar(engine, "SELECT count(*) FROM referrals") == 3


async def _outcome_statuses(engine):
    async with engine.connect() as conn:
        return (await conn.execute(text(
            "SELECT convert_from(payload, 'UTF8')::jsonb ->> 'status' FROM outbox "
            "WHERE event_type = 'ReferralOutcome' ORDER BY id"))).all()


async def _scalar(engine, sql):
    async with engine.connect() as conn:
        return (await conn.execute(text(sql))).scalar()
