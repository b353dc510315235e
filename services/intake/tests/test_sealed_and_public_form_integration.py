"""Sealed stays sealed, and the public form waits for an officer (issue 13 items 4 and 6; SEC-05, SEC-11), on
the real broker and database.

- A named member of the public's contact appears in no Kafka record intake sends, no outbox row and no table
  of intake outside the seal, after a subject access request's collection about the child they referred, and
  after a dead letter of theirs; the DPO alone opens it, with a reason, and the access log records it.
- The public form's referrals are kept and answered but reach casework only once someone who sees them
  accepts them (an officer of their borough, a manager; the triage list's, a manager); lookups name the
  boroughs of accepted referrals only.
- The throttle: one bucket per IPv6 /64, X-Forwarded-For only from a trusted proxy, a global ceiling.
"""

import json
import uuid
from datetime import UTC, datetime

import pytest

from cme_intake.adapters.sealing import SEALED_HEADER, Seal
from cme_shared.contracts import topics
from cme_shared.contracts.rights import DataCollectionRequest, PersonHint, SubjectLookup
from cme_shared.testing.kafka import produce
from cme_shared.testing.signing import signed_headers

pytestmark = pytest.mark.integration

REFERRER = {"name": "Pat Neighbour", "role": None, "email": "pat@neighbour.example", "phone": "07700 900777"}
SECRETS = ("Pat Neighbour", "pat@neighbour.example", "07700 900777", "07700900777", "Neighbour")
AMIRA = {"first_name": "Amira", "last_name": "Haddad", "date_of_birth": "2016-03-14",
         "address": {"line1": "12 Example Mews", "postcode": "W2 1AA"}}
INTAKE_TOPICS = (topics.REFERRAL_OUTCOMES, topics.REFERRAL_ACCEPTED, topics.dlq(topics.REFERRALS),
                 topics.replies_of("intake"))


def named_public(sample, child: dict | None = None, **changes) -> dict:
    document = sample("accepted-public-anonymous.json")
    document.update(referral_id=f"PUB-{uuid.uuid4().hex[:8]}",
                    source={"type": "public", "anonymous": False, "contact": REFERRER}, **changes)
    if child is not None:
        document["child"] = child
    return document


def anonymous_public(sample, **changes) -> dict:
    document = sample("accepted-public-anonymous.json")
    document.update(referral_id=f"ANON-{uuid.uuid4().hex[:8]}", **changes)
    return document


async def send_rights(intake, event) -> None:
    """As rights sends it: signed with its key."""
    value = event.model_dump_json().encode()
    topic = topics.DATA_COLLECTION_REQUESTS
    await produce(intake.infra.kafka, intake.names(topic), value, key=b"rights",
                  headers=signed_headers(topic, value, b"rights", [("event_id", str(event.event_id).encode())]))


def envelope() -> dict:
    return {"event_id": uuid.uuid4(), "occurred_at": datetime.now(UTC)}


async def post_public(intake, document: dict, **headers: str) -> dict:
    answer = await intake.client.post("/public/referrals", json=document, headers=headers)
    assert answer.status_code == 202, answer.text
    return answer.json()


async def child_of(intake, intake_id: str) -> uuid.UUID:
    return await intake.scalar("SELECT child_subject_id FROM referrals WHERE intake_id = :i", i=uuid.UUID(intake_id))


def leaks(blob: bytes | str | None) -> list[str]:
    if blob is None:
        return []
    text = blob.decode("utf-8", "replace") if isinstance(blob, bytes) else blob
    return [secret for secret in SECRETS if secret in text]


async def test_the_referrer_is_in_no_message_outbox_row_or_table_yet_the_dpo_can_unseal_them(intake, sample):
    school = await intake.client.post("/referrals", json=sample("accepted-school-deletion-no-destination.json"),
                                      headers=intake.partner("101234"))
    child = uuid.UUID(school.json()["child_subject_id"])
    public = await post_public(intake, named_public(sample, AMIRA))
    assert await child_of(intake, public["intake_id"]) == child  # the same child, whoever referred
    # A body the form cannot read, naming the referrer: kept sealed, not in clear in the DLQ.
    garbled = json.dumps(named_public(sample, AMIRA)).encode()[:-12]
    refused = await intake.client.post("/public/referrals", content=garbled, headers={"content-type": "application/json"})
    assert refused.status_code == 422
    accepted = await intake.client.post(f"/referrals/{public['intake_id']}/accept", json={"reason": "credible"},
                                        headers=intake.officer())
    assert accepted.status_code == 200, accepted.text

    # The DPO finds the sealed detail and opens it, with a reason; nobody else can.
    listed = await intake.client.get(f"/referrals/{public['intake_id']}/third-party", headers=intake.dpo())
    assert listed.status_code == 200
    [detail] = listed.json()["details"]
    assert detail["reason"] == "public_referrer" and detail["unsealed"] == [] and not leaks(listed.text)
    unseal = f"/referrals/{public['intake_id']}/third-party/{detail['detail_id']}/unseal"
    for who in (intake.officer(), intake.manager(), intake.partner("101234")):
        assert (await intake.client.get(f"/referrals/{public['intake_id']}/third-party", headers=who)).status_code == 403
        assert (await intake.client.post(unseal, json={"reason": "curious"}, headers=who)).status_code == 403
    assert (await intake.client.post(unseal, json={"reason": "x"})).status_code == 401
    assert (await intake.client.post(unseal, json={}, headers=intake.dpo())).status_code == 422  # a reason is required
    other = f"/referrals/{school.json()['intake_id']}/third-party/{detail['detail_id']}/unseal"
    assert (await intake.client.post(other, json={"reason": "x"}, headers=intake.dpo())).status_code == 404
    opened = await intake.client.post(unseal, json={"reason": "police request under Sch 2 para 2, DPO-17"},
                                      headers={**intake.dpo("dpo-7"), "x-cme-purpose": "disclosure DPO-17"})
    assert opened.status_code == 200, opened.text
    assert opened.json()["contact"] == REFERRER and opened.headers["cache-control"] == "no-store"
    [kept] = await intake.rows("SELECT unsealed_by, role, reason, detail_id FROM third_party_unseals")
    assert (kept.unsealed_by, kept.role, str(kept.detail_id)) == ("dpo-7", "dpo", detail["detail_id"])
    log = await intake.client.get("/access-log", params={"subject_id": str(child)}, headers=intake.dpo())
    [entry] = [e for e in log.json()["entries"] if e["action"] == "third_party.unseal"]
    assert (entry["actor"], entry["role"], entry["record_id"], entry["purpose"]) == (
        "dpo-7", "dpo", detail["detail_id"], "disclosure DPO-17")
    assert not leaks(log.text)

    # A subject access request's collection about the child.
    request = DataCollectionRequest(**envelope(), collection_id=uuid.uuid4(), rights_request_id=uuid.uuid4(),
                                    subject_ids=[child])
    readers = {topic: intake.reader(topic) for topic in INTAKE_TOPICS}
    for reader in readers.values():
        await reader.__aenter__()
    try:
        await send_rights(intake, request)
        replies = readers[topics.replies_of("intake")]
        await replies.wait_for(lambda rs: any(json.loads(r.value).get("last") and json.loads(r.value).get(
            "collection_id") == str(request.collection_id) for r in rs))
        await readers[topics.dlq(topics.REFERRALS)].wait_for(lambda rs: len(rs) >= 1)
        await readers[topics.REFERRAL_ACCEPTED].wait_for(lambda rs: len(rs) >= 2)
        for reader in readers.values():
            await reader.settle(0.5)
    finally:
        for reader in readers.values():
            await reader.__aexit__(None, None, None)

    chunks = [json.loads(r.value) for r in readers[topics.replies_of("intake")].records]
    items = [i for c in chunks if c.get("collection_id") == str(request.collection_id) for i in c["items"]]
    [referrer_item] = [i for i in items if any(m["reason"] == "public_referrer" for m in i["third_party"])]
    assert referrer_item["data"]["referrer"] == "withheld (public referrer)"
    # The pack lists who in intake looked at the child, the DPO's unsealing among them.
    access = [i for i in items if i["record_type"] == "access"]
    assert "third_party.unseal" in {i["data"]["action"] for i in access}
    assert all(i["recipient"]["type"] == "council_staff" and i["subject_id"] == str(child) for i in access)

    # Every record intake sent, every outbox row, every table but the seal: no trace of the referrer.
    found = []
    for topic, reader in readers.items():
        for record in reader.records:
            found += [(topic, s) for s in leaks(record.value) + leaks(record.key)]
            found += [(topic, s) for _, v in record.headers for s in leaks(v)]
    for row in await intake.rows("SELECT topic, key, payload, headers::text AS headers, aggregate_id FROM outbox"):
        found += [("outbox", s) for part in (row.key, row.payload, row.headers, row.aggregate_id) for s in leaks(part)]
    tables = [r.table_name for r in await intake.rows(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'")]
    for table in tables:
        for row in await intake.rows(f'SELECT t::text AS row FROM "{table}" t'):
            found += [(table, s) for s in leaks(row.row)]
    assert found == []

    # The dead letter is the sealed bytes, said so in a header; intake's key opens it byte for byte.
    [letter] = readers[topics.dlq(topics.REFERRALS)].records
    headers = dict(letter.headers)
    assert headers[SEALED_HEADER].startswith(b"fernet") and headers["x-dlq-kind"] == b"unreadable"
    assert Seal(intake.settings.seal_key.get_secret_value()).unseal_bytes(letter.value) == garbled


async def test_public_form_referrals_reach_casework_only_once_an_officer_who_sees_them_accepts(intake, sample):
    named = await post_public(intake, named_public(sample, AMIRA))  # W2: Westminster
    anonymous = await post_public(intake, anonymous_public(sample))  # W9: Westminster
    stray = await post_public(intake, anonymous_public(sample, child={**AMIRA, "first_name": "Zara", "address": {
        "line1": "1 Far Road", "postcode": "M1 1AE"}}))  # a district of no borough: the triage list
    partner = await intake.client.post("/referrals", json=sample("accepted-police-high-risk.json"),
                                       headers=intake.partner("MPS"))
    assert all(o["status"] == "accepted" and o["child_subject_id"] is None for o in (named, anonymous, stray))
    async with intake.reader(topics.REFERRAL_ACCEPTED) as events:
        await events.wait_for(lambda rs: len(rs) >= 1)
        await events.settle(1.0)
        # Only the partner's referral went on; the public form's three wait.
        assert [json.loads(r.value)["intake_id"] for r in events.records] == [partner.json()["intake_id"]]

        # Intake's one visibility rule: an officer sees their borough's; the triage list is for managers.
        westminster = await intake.client.get("/triage/awaiting-acceptance", headers=intake.officer())
        assert westminster.status_code == 200
        assert [i["intake_id"] for i in westminster.json()] == [named["intake_id"], anonymous["intake_id"]]
        assert [i["anonymous"] for i in westminster.json()] == [False, True]
        assert not leaks(westminster.text)
        kensington = intake.officer("kensington_and_chelsea", sub="officer-k")
        assert (await intake.client.get("/triage/awaiting-acceptance", headers=kensington)).json() == []
        everything = await intake.client.get("/triage/awaiting-acceptance", headers=intake.manager())
        assert [i["intake_id"] for i in everything.json()] == [named["intake_id"], anonymous["intake_id"],
                                                               stray["intake_id"]]
        listed = await intake.scalar("SELECT count(*) FROM access_log WHERE action = 'awaiting_acceptance.list'")
        assert listed == 5  # one row per child listed, per look

        accept = lambda intake_id, who, body=None: intake.client.post(  # noqa: E731
            f"/referrals/{intake_id}/accept", json=body or {}, headers=who)
        assert (await accept(named["intake_id"], kensington)).status_code == 404  # another borough's
        assert (await accept(stray["intake_id"], intake.officer())).status_code == 404  # the triage list's
        assert (await accept(stray["intake_id"], intake.manager("manager-9"))).status_code == 200
        for who in (intake.dpo(), intake.partner("MPS")):
            assert (await accept(named["intake_id"], who)).status_code == 403
        first = await accept(named["intake_id"], intake.officer(sub="officer-w"), {"reason": "named, credible"})
        assert first.status_code == 200 and first.json()["accepted_by"] == "officer-w"
        again = await accept(named["intake_id"], intake.manager())
        assert (again.status_code, again.json()["errors"][0]["code"]) == (409, "already_accepted")
        not_held = await accept(partner.json()["intake_id"], intake.manager())
        assert (not_held.status_code, not_held.json()["errors"][0]["code"]) == (409, "not_held")
        assert (await accept(str(uuid.uuid4()), intake.manager())).status_code == 404

        await events.wait_for(lambda rs: len(rs) >= 3)
        await events.settle(1.0)
    sent = [json.loads(r.value) for r in events.records]
    assert sorted(e["intake_id"] for e in sent) == sorted([partner.json()["intake_id"], stray["intake_id"],
                                                           named["intake_id"]])  # once each
    event = next(e for e in sent if e["intake_id"] == named["intake_id"])
    assert event["borough"] == "westminster" and event["source_type"] == "public" and not leaks(json.dumps(event))
    assert event["child_subject_id"] == str(await child_of(intake, named["intake_id"]))
    kept = await intake.rows("SELECT intake_id, accepted_by, role, borough, reason FROM referral_acceptances "
                             "ORDER BY accepted_at")
    assert [(str(k.intake_id), k.accepted_by, k.role, k.borough, k.reason) for k in kept] == [
        (stray["intake_id"], "manager-9", "manager", None, None),
        (named["intake_id"], "officer-w", "officer", "westminster", "named, credible")]
    still = await intake.client.get("/triage/awaiting-acceptance", headers=intake.manager())
    assert [i["intake_id"] for i in still.json()] == [anonymous["intake_id"]]  # anonymous waits too


async def test_a_lookup_names_the_boroughs_of_accepted_referrals_only(intake, sample):
    await intake.client.post("/referrals", json=sample("accepted-school-deletion-no-destination.json"),
                             headers=intake.partner("101234"))  # W2: Westminster
    public = await post_public(intake, named_public(sample, AMIRA, borough="kensington_and_chelsea"))

    async def boroughs() -> list[list[str]]:
        lookup = SubjectLookup(**envelope(), collection_id=uuid.uuid4(), person=PersonHint(
            first_name="Amira", last_name="Haddad", date_of_birth="2016-03-14", postcode="W2 1AA"))
        async with intake.reader(topics.replies_of("intake")) as replies:
            await send_rights(intake, lookup)
            await replies.wait_for(lambda rs: any(json.loads(r.value)["collection_id"] == str(lookup.collection_id)
                                                  for r in rs))
        [reply] = [json.loads(r.value) for r in replies.records
                   if json.loads(r.value)["collection_id"] == str(lookup.collection_id)]
        return [m["boroughs"] for m in reply["matches"]]

    # A stranger's word does not place the child in a borough until an officer accepts the referral.
    assert await boroughs() == [["westminster"]]
    taken = await intake.client.post(f"/referrals/{public['intake_id']}/accept", json={}, headers=intake.manager())
    assert taken.status_code == 200
    assert await boroughs() == [["kensington_and_chelsea", "westminster"]]


async def test_one_bucket_per_ipv6_64_and_forwarded_for_only_from_a_trusted_proxy(start_intake, sample):
    async with start_intake(public_burst=1, public_rate_per_minute=1, trusted_proxies=["127.0.0.1/32"]) as intake:
        post = lambda via: intake.client.post(  # noqa: E731
            "/public/referrals", json=anonymous_public(sample), headers={"X-Forwarded-For": via})
        assert (await post("2001:db8:1:2::1")).status_code == 202
        rotated = await post("2001:db8:1:2:ffff::9")  # another address in the same /64
        assert (rotated.status_code, rotated.json()["errors"][0]["code"]) == (429, "rate_limited")
        assert (await post("2001:db8:1:3::1")).status_code == 202  # the next /64: someone else
        # Two people behind the trusted proxy have buckets of their own, whatever they prepend themselves.
        assert (await post("198.51.100.7")).status_code == 202
        assert (await post("198.51.100.8")).status_code == 202
        assert (await post("203.0.113.1, 198.51.100.7")).status_code == 429
    async with start_intake(public_burst=1, public_rate_per_minute=1) as intake:  # no trusted proxy
        post = lambda via: intake.client.post(  # noqa: E731
            "/public/referrals", json=anonymous_public(sample), headers={"X-Forwarded-For": via})
        assert (await post("198.51.100.7")).status_code == 202
        assert (await post("198.51.100.8")).status_code == 429  # the header is ignored: one peer, one bucket


async def test_the_global_ceiling_refuses_everyone_counts_and_warns(start_intake, sample, capfd):
    async with start_intake(public_global_per_minute=2, trusted_proxies=["127.0.0.1/32"]) as intake:
        answers = [await intake.client.post("/public/referrals", json=anonymous_public(sample),
                                            headers={"X-Forwarded-For": f"198.51.100.{n}"}) for n in range(1, 5)]
        assert [a.status_code for a in answers] == [202, 202, 429, 429]
        assert {a.json()["errors"][0]["code"] for a in answers[2:]} == {"public_form_busy"}
        assert int(answers[2].headers["retry-after"]) >= 1
        assert await intake.scalar("SELECT count(*) FROM referrals") == 2  # refused before the body was read
        metrics = (await intake.client.get("/metrics")).text
    assert 'cme_public_referrals_refused_total{reason="global_ceiling"}' in metrics
    logged = capfd.readouterr()
    text = logged.out + logged.err
    assert text.count('"public_form_global_ceiling_reached"') == 1  # one line per minute at most
    assert "198.51.100" not in text  # no address in the log
