"""The edges hold (issue 11, "Done when"): after each input that once stopped the platform, an ordinary
referral still becomes an accepted outcome and a case an officer can see, within seconds.

The services run as real processes on the real broker, each on its own database. The inputs are what
partners' clients and strangers send: compressed batches from librdkafka, a public referral 130 KB wide
(over HTTP and over Kafka), 8 MiB bodies without a token on every POST route, a 200 KB nested-JSON record
on an internal topic, a junk record just under Kafka's limit, and a subject access request whose case holds
150 long notes.
"""

import json
import random
import uuid
from datetime import date
from typing import Any

import httpx
import pytest

from cme_intake.adapters.sealing import Seal
from cme_intake.settings import DEVELOPMENT_SEAL_KEY
from cme_shared.contracts import topics
from cme_shared.messaging.consumer import MAX_PROBLEMS
from cme_shared.testing.infra import SAMPLE_REFERRALS
from cme_shared.testing.kafka import TopicReader, eventually, produce
from cme_shared.testing.partners import PartnerRecord, lag, nested, ordinary_referral, publish_async, widened
from cme_shared.testing.processes import ServiceProcess
from cme_shared.testing.signing import signed_headers

pytestmark = pytest.mark.e2e

WITHIN = 30.0  # "within seconds", with room for a loaded two-core machine
MiB = 1024 * 1024
ACCEPTED_SAMPLES = sorted(SAMPLE_REFERRALS.glob("accepted-*.json"))


async def still_flows(services: dict[str, ServiceProcess], infra: Any, namespace: Any, token: Any, tag: str,
                      *, partition: int | None = None) -> dict[str, Any]:
    """An ordinary referral on Kafka is accepted and becomes an open case an officer sees, within WITHIN
    seconds each; returns its outcome."""
    key = f"ordinary-{tag}".encode()
    async with TopicReader(infra.kafka, namespace(topics.REFERRAL_OUTCOMES)) as outcomes:
        await produce(infra.kafka, namespace(topics.REFERRALS), json.dumps(ordinary_referral(tag)).encode(),
                      key=key, partition=partition)
        records = await outcomes.wait_for(lambda rs: any(r.key == key for r in rs), timeout=WITHIN)
    [outcome] = [json.loads(r.value) for r in records if r.key == key]
    assert outcome["status"] == "accepted", outcome
    officer = token("officer-1", "officer", borough="westminster")

    async with httpx.AsyncClient(timeout=10) as client:
        async def case() -> list:
            response = await client.get(f"{services['casework'].url}/cases",
                                        params={"child_subject_id": outcome["child_subject_id"]}, headers=officer)
            assert response.status_code == 200, response.text
            return response.json()

        [opened] = await eventually(case, timeout=WITHIN)
    assert opened["status"] == "open"
    return outcome


def outcome_of(records: list, **match: Any) -> dict[str, Any]:
    [outcome] = [o for o in (json.loads(r.value) for r in records) if all(o.get(k) == v for k, v in match.items())]
    return outcome


def sample(path: Any, referral_id: str) -> bytes:
    return json.dumps(json.loads(path.read_bytes()) | {"referral_id": referral_id}).encode()


async def test_compressed_records_from_a_librdkafka_producer_are_consumed(stack, infra, namespace, token):
    services = await stack("intake", "casework")
    records = []
    for codec in ("gzip", "snappy", "lz4", "zstd"):
        records += [PartnerRecord(sample(path, f"{codec.upper()}-{i}"), key=f"{codec}-{i}".encode(), compression=codec)
                    for i, path in enumerate(ACCEPTED_SAMPLES)]
        records.append(PartnerRecord(b"not json, but " + codec.encode(), key=f"{codec}-junk".encode(),
                                     compression=codec, headers=[("x-partner", codec.encode())]))
    async with TopicReader(infra.kafka, namespace(topics.REFERRAL_OUTCOMES)) as outcomes, \
            TopicReader(infra.kafka, namespace(topics.dlq(topics.REFERRALS))) as dead:
        await publish_async(infra.kafka, namespace(topics.REFERRALS), records)
        await outcomes.wait_for(lambda rs: len(rs) >= len(records), timeout=60)
        await dead.wait_for(lambda rs: len(rs) >= 4)
    status = {r.key: json.loads(r.value)["status"] for r in outcomes.records}
    assert status == {r.key: "rejected" if r.key.endswith(b"-junk") else "accepted" for r in records}
    letters = {r.key: r for r in dead.records}
    for record in records:
        if record.key.endswith(b"-junk"):  # decompressed, then kept byte for byte
            assert letters[record.key].value == record.value
            assert letters[record.key].headers[0] == record.headers[0]
    await still_flows(services, infra, namespace, token, "after-codecs")


def wide_public_referral(unknown_keys: int = 13_000) -> tuple[str, bytes]:
    referral_id = f"PUB-WIDE-{uuid.uuid4().hex[:8]}"
    document = json.loads((SAMPLE_REFERRALS / "accepted-public-anonymous.json").read_bytes())
    return referral_id, widened(document | {"referral_id": referral_id}, unknown_keys)


def check_brief_rejection(errors: list[dict[str, Any]]) -> None:
    """The first problems and a count, not one problem per unknown key (SEC-01)."""
    assert 1 <= len(errors) <= MAX_PROBLEMS + 1, len(errors)
    assert errors[-1]["code"] == "too_many_problems", errors[-1]
    assert len(json.dumps(errors)) < 16 * 1024


async def test_a_130_kb_wide_public_referral_is_refused_with_a_short_list(stack, infra, namespace, token):
    services = await stack("intake", "casework")
    referral_id, body = wide_public_referral()
    assert 128_000 < len(body) < 256 * 1024  # over 130 KB, under the referral body limit
    async with TopicReader(infra.kafka, namespace(topics.REFERRAL_OUTCOMES)) as outcomes, \
            TopicReader(infra.kafka, namespace(topics.dlq(topics.REFERRALS))) as dead:
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.post(f"{services['intake'].url}/public/referrals", content=body,
                                         headers={"content-type": "application/json"})
        assert response.status_code == 422, (response.status_code, response.text[:300])
        check_brief_rejection(response.json()["errors"])
        await outcomes.wait_for(lambda rs: any(json.loads(r.value)["referral_id"] == referral_id for r in rs),
                                timeout=WITHIN)
        [letter] = await dead.wait_for(lambda rs: len(rs) >= 1, timeout=WITHIN)
    outcome = outcome_of(outcomes.records, referral_id=referral_id)
    assert outcome["status"] == "rejected"
    check_brief_rejection(outcome["errors"])
    # From the public form the letter is sealed (a member of the public's bytes name them): intake's key opens it.
    assert dict(letter.headers)["x-cme-sealed"].startswith(b"fernet")
    assert Seal(DEVELOPMENT_SEAL_KEY).unseal_bytes(letter.value) == body
    assert len(dict(letter.headers)["x-dlq-reasons"]) <= 8192
    await still_flows(services, infra, namespace, token, "after-wide-http")


async def test_the_same_wide_referral_over_kafka_is_dead_lettered_with_a_short_list(stack, infra, namespace, token):
    services = await stack("intake", "casework")
    referral_id, body = wide_public_referral()
    async with TopicReader(infra.kafka, namespace(topics.REFERRAL_OUTCOMES)) as outcomes, \
            TopicReader(infra.kafka, namespace(topics.dlq(topics.REFERRALS))) as dead:
        await produce(infra.kafka, namespace(topics.REFERRALS), body, key=b"wide")
        [record] = await outcomes.wait_for(lambda rs: len(rs) >= 1, timeout=WITHIN)
        [letter] = await dead.wait_for(lambda rs: len(rs) >= 1, timeout=WITHIN)
    outcome = json.loads(record.value)
    assert record.key == b"wide" and outcome["status"] == "rejected" and outcome["referral_id"] == referral_id
    check_brief_rejection(outcome["errors"])
    assert letter.value == body and letter.key == b"wide"
    assert len(dict(letter.headers)["x-dlq-reasons"]) <= 8192
    await still_flows(services, infra, namespace, token, "after-wide-kafka")


def post_routes(process: ServiceProcess) -> list[str]:
    """Every POST route the service documents, its path parameters filled with fresh ids."""
    schema = httpx.get(f"{process.url}/openapi.json", timeout=10).json()
    routes = []
    for path, operations in schema["paths"].items():
        if "post" in operations:
            for parameter in [p["name"] for p in operations["post"].get("parameters", []) if p["in"] == "path"]:
                path = path.replace("{" + parameter + "}", str(uuid.uuid4()))
            routes.append(path)
    return routes


async def test_an_8_mib_body_without_a_token_is_refused_on_every_post_route(stack, infra, namespace, token):
    services = await stack("intake", "casework", "disclosure", "rights")
    body = b'{"x": "' + b"a" * (8 * MiB - 10) + b'"}'  # valid JSON: only a limit or the token can refuse it
    answers: dict[str, int | str] = {}
    async with httpx.AsyncClient(timeout=60) as client:
        for process in services.values():
            for path in post_routes(process):
                try:
                    response = await client.post(process.url + path, content=body,
                                                 headers={"content-type": "application/json"})
                except httpx.HTTPError as exc:  # the connection dropped before any answer
                    answers[f"{process.service} {path}"] = type(exc).__name__
                    continue
                answers[f"{process.service} {path}"] = response.status_code
                if response.status_code in (401, 413):
                    assert response.json()["errors"][0]["code"], response.text  # the JSON error shape
        assert len(answers) >= 30, sorted(answers)
        assert answers.pop("intake /public/referrals") == 413
        assert {route: status for route, status in answers.items() if status not in (401, 413)} == {}
        for process in services.values():  # every service still healthy
            assert (await client.get(f"{process.url}/readyz")).status_code == 200, process.service
    await still_flows(services, infra, namespace, token, "after-8-mib")


async def test_a_200_kb_nested_record_on_the_rights_events_topic_is_dead_lettered_by_each_service(
    stack, infra, namespace, token
):
    services = await stack("intake", "casework", "disclosure")
    topic = namespace(topics.RIGHTS_EVENTS)
    poison = [nested(200_000), nested(200_000, kind="subject_restricted")]
    async with TopicReader(infra.kafka, namespace(topics.dlq(topics.RIGHTS_EVENTS))) as dead:
        # Signed as rights signs its events: the parsers' edge is what is tried here, not the signatures'.
        for i, value in enumerate(poison):
            key = f"deep-{i}".encode()
            await produce(infra.kafka, topic, value, key=key, partition=0,
                          headers=signed_headers(topics.RIGHTS_EVENTS, value, key))
        # Behind them on the same partition: an event of a kind nobody handles, which each passes over.
        after = json.dumps({"kind": "nobody_handles_this"}).encode()
        await produce(infra.kafka, topic, after, key=b"after", partition=0,
                      headers=signed_headers(topics.RIGHTS_EVENTS, after, b"after"))
        letters = await dead.wait_for(lambda rs: len(rs) >= 3 * len(poison), timeout=WITHIN)
        await dead.settle(1.0)
    assert len(letters) == 3 * len(poison)  # one dead letter from each of the three services
    for i, value in enumerate(poison):
        mine = [r for r in letters if r.key == f"deep-{i}".encode()]
        assert len(mine) == 3 and all(r.value == value for r in mine)
        assert {json.loads(dict(r.headers)["x-dlq-reasons"])[0]["code"] for r in mine} == {"json_too_deep"}

    async def no_lag_left() -> bool:
        lags = [await lag(infra.kafka, f"{namespace.namespace}{service}.rights-events", topic)
                for service in ("intake", "casework", "disclosure")]
        return all(n == 0 for by_partition in lags for n in by_partition.values())

    await eventually(no_lag_left, timeout=WITHIN, interval=0.5)
    await still_flows(services, infra, namespace, token, "after-nested")


async def test_a_junk_record_just_under_kafkas_limit_does_not_hold_back_the_next(stack, infra, namespace, token):
    services = await stack("intake", "casework")
    junk = random.Random(11).randbytes(1_048_000)
    async with TopicReader(infra.kafka, namespace(topics.REFERRAL_OUTCOMES)) as outcomes, \
            TopicReader(infra.kafka, namespace(topics.dlq(topics.REFERRALS))) as dead:
        await produce(infra.kafka, namespace(topics.REFERRALS), junk, key=b"junk", partition=0)
        # The ordinary referral follows it on the same partition.
        await still_flows(services, infra, namespace, token, "after-junk", partition=0)
        await outcomes.wait_for(lambda rs: any(r.key == b"junk" for r in rs), timeout=WITHIN)
        [letter] = await dead.wait_for(lambda rs: len(rs) >= 1, timeout=WITHIN)
    [junk_outcome] = [json.loads(r.value) for r in outcomes.records if r.key == b"junk"]
    assert junk_outcome["status"] == "rejected"  # it has its one outcome too
    assert letter.key == b"junk" and letter.value == junk  # and its dead letter, byte for byte


async def test_a_subject_access_request_for_a_case_with_150_long_notes_is_ready_for_review(
    stack, infra, namespace, token
):
    services = await stack("intake", "casework", "disclosure", "rights")
    outcome = await still_flows(services, infra, namespace, token, "sar")
    officer = token("officer-1", "officer", borough="westminster")
    dpo = token("dpo-1", "dpo")
    casework, rights = services["casework"].url, services["rights"].url
    async with httpx.AsyncClient(timeout=30) as client:
        [case] = (await client.get(f"{casework}/cases", params={"child_subject_id": outcome["child_subject_id"]},
                                   headers=officer)).json()
        for n in range(150):
            text = (f"Synthetic note {n}: enquiry made, no answer yet. " * 250)[:10_000]
            response = await client.post(f"{casework}/cases/{case['case_id']}/notes", headers=officer,
                                         json={"kind": "fact", "category": "education", "text": text})
            assert response.status_code == 201, response.text
        referral = ordinary_referral("sar")
        child = referral["child"]
        created = await client.post(f"{rights}/requests", headers=officer, json={
            "type": "access", "received_on": date.today().isoformat(), "channel": "email",
            "requester": {"first_name": "Parent", "last_name": child["last_name"], "acting_as": "parent"},
            "subject": {"first_name": child["first_name"], "last_name": child["last_name"],
                        "date_of_birth": child["date_of_birth"], "address": child["address"]},
        })
        assert created.status_code == 201, created.text
        url = f"{rights}/requests/{created.json()['request_id']}"
        await client.post(f"{url}/clock", headers=dpo, json={  # identity: the DPO's word (issue 13)
            "event": "identity_received", "on": date.today().isoformat()})

        async def gathered() -> dict | None:
            state = (await client.get(url, headers=dpo)).json()
            return state if state["status"] in ("ready_for_review", "collection_incomplete") else None

        state = await eventually(gathered, timeout=120, interval=1.0)
        assert state["status"] == "ready_for_review", state.get("gathering")
        draft = (await client.get(f"{url}/draft", headers=dpo)).json()
    text = json.dumps(draft)
    assert all(f"Synthetic note {n}:" in text for n in range(150))  # every note is in the pack
