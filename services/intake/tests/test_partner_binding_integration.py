"""A Kafka partner bound to an org refers only for it (CONTRACT section 7), on the real broker and database:
its signed referrals for its own org are accepted; one for another org, one without its MAC, one with a
forged MAC and another partner's unsigned referral for the bound org are rejected, each with an outcome
naming the reason and the record kept in the DLQ; none of them makes a referral row."""

import json

import pytest
from cme_shared.contracts import topics
from cme_shared.testing.kafka import produce

from cme_intake.domain.partners import MAC_HEADER, PARTNER_HEADER, mac

pytestmark = pytest.mark.integration

KEY = bytes(range(1, 33))


def as_bytes(document: dict) -> bytes:
    return json.dumps(document).encode()


def signed(value: bytes, key: bytes = KEY) -> list[tuple[str, bytes]]:
    return [(PARTNER_HEADER, b"police-x"), (MAC_HEADER, mac(key, value).encode())]


async def test_a_bound_partner_refers_only_for_its_own_org_and_nobody_else_refers_as_it(start_intake, sample,
                                                                                          tmp_path):
    bindings = tmp_path / "bindings.json"
    bindings.write_text(json.dumps({"partners": {"police-x": {"org_id": "POLICE-X", "key": KEY.hex(),
                                                              "require_mac": True}}}))

    def referral(referral_id: str, org_id: str) -> bytes:
        document = sample("accepted-police-high-risk.json")
        document["referral_id"], document["source"]["org_id"] = referral_id, org_id
        return as_bytes(document)

    own = referral("B-OWN", "POLICE-X")
    other_org = referral("B-OTHER-ORG", "POLICE-Y")
    unsigned = referral("B-UNSIGNED", "POLICE-X")
    forged = referral("B-FORGED", "POLICE-X")
    unbound = referral("B-UNBOUND", "POLICE-Z")
    sent = [(own, signed(own)), (other_org, signed(other_org)), (unsigned, []),
            (forged, signed(forged, key=bytes(32))), (unbound, [])]
    async with start_intake(partner_bindings_file=bindings) as intake, \
            intake.reader(topics.REFERRAL_OUTCOMES) as outcomes, intake.reader(topics.dlq(topics.REFERRALS)) as dlq:
        for value, headers in sent:
            await produce(intake.infra.kafka, intake.names(topics.REFERRALS), value, headers=headers)
        await outcomes.wait_for(lambda records: len(records) >= len(sent))
        await dlq.wait_for(lambda records: len(records) >= 3)
        stored = {row.referral_id for row in await intake.rows("SELECT referral_id FROM referrals")}

    by_id = {json.loads(r.value)["referral_id"]: json.loads(r.value) for r in outcomes.records}
    assert {i: o["status"] for i, o in by_id.items()} == {
        "B-OWN": "accepted", "B-UNBOUND": "accepted",
        "B-OTHER-ORG": "rejected", "B-UNSIGNED": "rejected", "B-FORGED": "rejected"}
    assert [e["code"] for e in by_id["B-OTHER-ORG"]["errors"]] == ["org_not_permitted"]
    assert [e["code"] for e in by_id["B-UNSIGNED"]["errors"]] == ["partner_signature_required"]
    assert [e["code"] for e in by_id["B-FORGED"]["errors"]] == ["partner_mac_invalid"]
    assert stored == {"B-OWN", "B-UNBOUND"}
    # Each refused record is kept byte for byte, its reason in the headers.
    kept = {record.value: dict(record.headers) for record in dlq.records}
    assert set(kept) == {other_org, unsigned, forged}
    assert b"partner_mac_invalid" in kept[forged]["x-dlq-reasons"]


async def test_a_new_binding_holds_without_restarting_intake(start_intake, sample, tmp_path):
    bindings = tmp_path / "bindings.json"
    bindings.write_text(json.dumps({"partners": {}}))  # a named file binds nobody until a partner is added
    document = sample("accepted-nhs-new-arrival.json")
    async with start_intake(partner_bindings_file=bindings) as intake, \
            intake.reader(topics.REFERRAL_OUTCOMES) as outcomes:
        await intake.produce(document)  # nobody bound yet: an unsigned referral for the org is accepted
        await outcomes.wait_for(lambda records: len(records) >= 1)
        bindings.write_text(json.dumps({"partners": {"nhs-x": {"org_id": document["source"]["org_id"],
                                                                "key": KEY.hex(), "require_mac": True}}}))
        document["referral_id"] = "AFTER-BINDING"
        await intake.produce(document)
        await outcomes.wait_for(lambda records: len(records) >= 2)
    statuses = [json.loads(r.value)["status"] for r in outcomes.records]
    assert statuses == ["accepted", "rejected"]
    assert json.loads(outcomes.records[1].value)["errors"][0]["code"] == "partner_signature_required"
