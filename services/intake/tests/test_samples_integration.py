"""Every sample referral gets the status its file name says, over Kafka and over HTTP (real broker and
database), and every reject is in the DLQ byte for byte."""

import json

import pytest

from cme_shared.contracts import topics
from cme_shared.testing.infra import SAMPLE_REFERRALS

pytestmark = pytest.mark.integration

SAMPLES = sorted(p for p in SAMPLE_REFERRALS.iterdir() if p.name.startswith(("accepted-", "rejected-")))


def expected_status(name: str) -> str:
    return "rejected" if name.startswith("rejected-") else "accepted"


def expects_warnings(name: str) -> bool:
    return "-with-warnings-" in name


def check(name: str, outcome: dict, *, public_form: bool = False) -> None:
    assert outcome["status"] == expected_status(name), name
    if outcome["status"] == "rejected":
        assert outcome["errors"] and all(e["code"] and e["loc"] is not None for e in outcome["errors"])
        assert outcome["intake_id"] is None
        return
    assert outcome["intake_id"]
    # The public form does not tell a member of the public whom the index holds.
    assert (outcome["child_subject_id"] is None) if public_form else outcome["child_subject_id"]
    codes = {w["code"] for w in outcome["warnings"]}
    if expects_warnings(name):
        # "bad-upn-postcode": the UPN and the postcode each get a warning naming the field.
        locs = {tuple(w["loc"]) for w in outcome["warnings"]}
        assert ("child", "upn") in locs and ("child", "address", "postcode") in locs, outcome["warnings"]
        assert "postcode_format" in codes
    else:
        assert codes == set(), (name, codes)


async def test_every_sample_through_kafka(intake):
    async with intake.reader(topics.REFERRAL_OUTCOMES) as outcomes, \
            intake.reader(topics.dlq(topics.REFERRALS)) as dead_letters:
        for path in SAMPLES:
            await intake.produce(path.read_bytes(), key=path.name.encode())
        await outcomes.wait_for(lambda rs: len(rs) >= len(SAMPLES))
        rejected = [p for p in SAMPLES if expected_status(p.name) == "rejected"]
        await dead_letters.wait_for(lambda rs: len(rs) >= len(rejected))
        await outcomes.settle(0.5)
    by_key = {r.key.decode(): json.loads(r.value) for r in outcomes.records}
    assert len(outcomes.records) == len(SAMPLES)  # one outcome each, keyed like the input
    for path in SAMPLES:
        check(path.name, by_key[path.name])
    letters = {r.key.decode(): r for r in dead_letters.records}
    assert set(letters) == {p.name for p in rejected}
    for path in rejected:
        assert letters[path.name].value == path.read_bytes()  # byte for byte
        reasons = json.loads(dict(letters[path.name].headers)["x-dlq-reasons"])
        assert reasons == by_key[path.name]["errors"]


async def test_every_sample_through_http(intake):
    async with intake.reader(topics.REFERRAL_OUTCOMES) as outcomes, \
            intake.reader(topics.dlq(topics.REFERRALS)) as dead_letters:
        answers = {}
        for path in SAMPLES:
            raw = path.read_bytes()
            try:
                source = json.loads(raw)["source"]
            except (ValueError, KeyError):
                source = {"type": "school", "org_id": "101234"}
            if source["type"] in ("public", "parent"):
                response = await intake.client.post("/public/referrals", content=raw,
                                                    headers={"content-type": "application/json"})
            else:
                response = await intake.client.post("/referrals", content=raw, headers=intake.partner(source["org_id"]))
            answers[path.name] = response, source["type"] in ("public", "parent")
        rejected = [p for p in SAMPLES if expected_status(p.name) == "rejected"]
        await outcomes.wait_for(lambda rs: len(rs) >= len(SAMPLES))
        await dead_letters.wait_for(lambda rs: len(rs) >= len(rejected))
    for path in SAMPLES:
        response, public_form = answers[path.name]
        if expected_status(path.name) == "rejected":
            assert response.status_code == 422, path.name
            assert response.json()["errors"]
        else:
            assert response.status_code == 202, (path.name, response.text)
            check(path.name, response.json(), public_form=public_form)
    assert sorted(r.value for r in dead_letters.records) == sorted(p.read_bytes() for p in rejected)
    statuses = sorted(json.loads(r.value)["status"] for r in outcomes.records)
    assert statuses == sorted(expected_status(p.name) for p in SAMPLES)
