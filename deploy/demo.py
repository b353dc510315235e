"""`make demo`: a realistic scenario played through the real stack that `make up` started.

Partners refer five children (a school's deletion return, another council, the NHS, an anonymous member
of the public, a named member of the public) and send one malformed message; intake answers each;
casework opens cases; an officer records an enquiry; the police ask for the child's data, a manager
approves, and the share is proven in the disclosure log; the child's mother asks for the child's data,
and the DPO releases a pack that lists the police as recipient and redacts the named referrer.

Prints a short summary; the full artefacts go to .local/demo/<run>/.
"""

import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import SecretStr

from cme_shared.auth import issue_development_token
from cme_shared.contracts import topics
from cme_shared.kafka_security import KafkaConnection



def partner_login(bootstrap: str, login: str | None) -> KafkaConnection:
    if not login:
        sys.exit("demo: CME_DEMO_KAFKA_LOGIN is not set (run it with 'make demo')")
    fields = json.loads(login)
    return KafkaConnection(bootstrap, fields["username"], SecretStr(fields["password"]), fields["security_protocol"],
                           fields["mechanism"])


ROOT = Path(__file__).resolve().parents[1]
# The partners' sample messages in the repository: the demo plays what partners are shown.
SAMPLE_REFERRALS = ROOT / "samples" / "referrals"
# The demo's partner logs in as a partner would: with the login `make kafka-user ROLE=partner` printed (the
# JSON object of its last line, in CME_DEMO_KAFKA_LOGIN), which may write referrals and read outcomes only.
KAFKA = partner_login(os.environ.get("CME_KAFKA_BOOTSTRAP", "127.0.0.1:9092"), os.environ.get("CME_DEMO_KAFKA_LOGIN"))
INTAKE, CASEWORK, DISCLOSURE, RIGHTS = (f"http://127.0.0.1:{p}" for p in (8001, 8002, 8003, 8004))
RUN = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(2)
OUT = ROOT / ".local" / "demo" / RUN


def say(text: str) -> None:
    print(text, flush=True)


def step(title: str) -> None:
    say(f"\n== {title}")


def secret() -> str:
    return os.environ.get("CME_JWT_SECRET") or (ROOT / ".local" / "secrets" / "jwt-secret").read_text().strip()


def bearer(sub: str, *roles: str, **claims: Any) -> dict[str, str]:
    return {"Authorization": "Bearer " + issue_development_token(secret(), sub=sub, roles=roles, **claims)}


OFFICER_W = bearer("officer.westminster", "officer", borough="westminster")
OFFICER_K = bearer("officer.rbkc", "officer", borough="kensington_and_chelsea")
MANAGER = bearer("manager.cme", "manager")
DPO = bearer("dpo.council", "dpo")


def save(name: str, content: Any) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(json.dumps(content, indent=2, default=str))
    return path


def sample(name: str, **changes: Any) -> dict[str, Any]:
    document = json.loads((SAMPLE_REFERRALS / name).read_bytes())
    document["referral_id"] = f"{document['referral_id']}-{RUN}"  # a fresh id each run: not a duplicate
    document.update(changes)
    return document


def check(response: httpx.Response, *expected: int) -> Any:
    if response.status_code not in expected:
        say(f"   unexpected {response.status_code} from {response.request.method} {response.request.url.path}: "
            f"{response.text[:500]}")
        sys.exit(1)
    return response.json() if response.headers.get("content-type", "").startswith("application/json") else response


async def publish_and_collect(messages: list[tuple[str, bytes]]) -> dict[str, dict]:
    """Publish partner messages on cme.referrals.v1; collect the outcome for each (keyed like the input)."""
    consumer = AIOKafkaConsumer(topics.REFERRAL_OUTCOMES, **KAFKA.aiokafka(), group_id=None,
                                enable_auto_commit=False, auto_offset_reset="latest")
    await consumer.start()
    await consumer.seek_to_end()
    for partition in consumer.assignment():
        await consumer.position(partition)
    producer = AIOKafkaProducer(**KAFKA.aiokafka(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for key, value in messages:
            await producer.send_and_wait(topics.REFERRALS, value, key=key.encode())
    finally:
        await producer.stop()
    outcomes: dict[str, dict] = {}
    deadline = time.monotonic() + 60
    try:
        while len(outcomes) < len(messages) and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    key = (record.key or b"").decode()
                    if any(key == k for k, _ in messages):
                        outcomes[key] = json.loads(record.value)
    finally:
        await consumer.stop()
    return outcomes


async def eventually(fetch, timeout: float = 60.0, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = fetch()
        if result:
            return result
        await asyncio.sleep(interval)
    say("   timed out waiting; see .local/logs/")
    sys.exit(1)


async def main() -> None:
    say(f"CME platform demo, run {RUN}")
    client = httpx.Client(timeout=30)

    step("1. Partners refer children (Kafka topic cme.referrals.v1)")
    school = sample("accepted-school-deletion-no-destination.json")
    other_la = sample("accepted-other-la-moved-in.json")
    nhs = sample("accepted-nhs-new-arrival.json")
    anonymous = sample("accepted-public-anonymous.json")
    messages = [
        (f"school-{RUN}", json.dumps(school).encode()),
        (f"other-la-{RUN}", json.dumps(other_la).encode()),
        (f"nhs-{RUN}", json.dumps(nhs).encode()),
        (f"anonymous-{RUN}", json.dumps(anonymous).encode()),
        (f"malformed-{RUN}", (SAMPLE_REFERRALS / "rejected-not-json.txt").read_bytes()),
    ]
    outcomes = await publish_and_collect(messages)
    save("outcomes.json", outcomes)
    labels = {f"school-{RUN}": "school deletion return (ground g, no destination)",
              f"other-la-{RUN}": "another council: moved, no forwarding address",
              f"nhs-{RUN}": "NHS: new arrival not in school",
              f"anonymous-{RUN}": "anonymous member of the public",
              f"malformed-{RUN}": "a malformed message"}
    for key, label in labels.items():
        outcome = outcomes.get(key)
        if outcome is None:
            say(f"   no outcome for {label}; see .local/logs/intake.log")
            sys.exit(1)
        extra = f"{len(outcome['warnings'])} warning(s)" if outcome["status"] != "rejected" else \
            "errors: " + ", ".join(e["code"] for e in outcome["errors"]) + " (kept byte for byte in cme.referrals.v1.dlq)"
        say(f"   {label:55} -> {outcome['status']:9} {extra}")

    step("2. A named member of the public refers the school's child (POST /public/referrals)")
    public = {
        "schema_version": 1, "referral_id": f"PUB-NAMED-{RUN}", "submitted_at": datetime.now(UTC).isoformat(),
        "source": {"type": "public", "org_id": None, "org_name": None, "anonymous": False,
                   "contact": {"name": "Jo Neighbour", "role": None, "email": "jo.neighbour@example.org",
                               "phone": "07700 900456"}},
        "notification": {"kind": "child_not_in_school_concern",
                         "details": "The girl at number 12 has not been at school since October."},
        "child": {"first_name": school["child"]["first_name"], "last_name": school["child"]["last_name"],
                  "date_of_birth": school["child"]["date_of_birth"], "sex": "female",
                  "address": school["child"]["address"]},
    }
    named = check(client.post(f"{INTAKE}/public/referrals", json=public), 202)
    child_id = outcomes[f"school-{RUN}"]["child_subject_id"]
    # The public are not told whom the index holds; an officer sees which subject the referral joined.
    as_officer = check(client.get(f"{INTAKE}/referrals/{named['intake_id']}", headers=OFFICER_W), 200)
    save("public-referral.json", {"answer_to_the_public": named, "as_an_officer_sees_it": as_officer})
    same = as_officer.get("child_subject_id") == child_id
    say(f"   -> {named['status']}; the identity index {'matched the same child' if same else 'recorded a new subject'}"
        f" (name, date of birth, postcode)")

    step("3. Casework opens cases (GET /cases, each officer sees their own borough)")
    cases_w = await eventually(lambda: check(client.get(f"{CASEWORK}/cases", params={"child_subject_id": child_id},
                                                         headers=OFFICER_W), 200))
    case = cases_w[0]
    rbkc_child = outcomes[f"other-la-{RUN}"]["child_subject_id"]
    cases_k = await eventually(lambda: check(client.get(f"{CASEWORK}/cases", params={"child_subject_id": rbkc_child},
                                                         headers=OFFICER_K), 200))
    hidden = check(client.get(f"{CASEWORK}/cases", params={"child_subject_id": rbkc_child}, headers=OFFICER_W), 200)
    save("cases.json", {"westminster": cases_w, "kensington_and_chelsea": cases_k})
    for c in (case, cases_k[0]):
        say(f"   case {c['case_id'][:8]}  {c['borough']:22} {c['status']:10} reason {c['reason']:35} next due {c['next_due_date']}")
    say(f"   a Westminster officer asking for the RBKC child's case sees {len(hidden)} case(s)")

    step("4. An officer records an enquiry with the school")
    enquiry = check(client.post(f"{CASEWORK}/cases/{case['case_id']}/enquiries", headers=OFFICER_W, json={
        "whom": "school", "organisation": school["source"]["org_name"], "asked_on": date.today().isoformat(),
        "purpose": "Any forwarding address or destination school given by the family?",
    }), 201)
    save("enquiry.json", enquiry)
    say(f"   enquiry {str(enquiry.get('record_id', ''))[:8]} recorded with the school; history entry {enquiry.get('entry_id')}")

    step("5. The police ask for the child's data; a manager approves; the share is proven in the log")
    request = check(client.post(f"{DISCLOSURE}/disclosures", headers=OFFICER_W, json={
        "subject_ids": [child_id],
        "recipient": {"type": "police", "org_id": "MPS", "org_name": "Metropolitan Police Service",
                      "requester_name": "DI Example", "requester_role": "Investigating officer",
                      "requester_rank": "Detective Inspector"},
        "purpose": "crime", "legal_gateway": "DPA 2018 Sch 2 Part 1 para 2",
        "reference": f"CAD-{RUN}", "categories": ["contact", "education"],
        "reason": "Investigation of an offence against the child; the child's whereabouts and school history are needed.",
    }), 201)
    decision = check(client.post(f"{DISCLOSURE}/disclosures/{request['disclosure_id']}/decision", headers=MANAGER,
                                 json={"decision": "approve", "reason": "Necessary and proportionate to locate the child.",
                                       "sign_off_rank": "Detective Inspector"}),
                     200, 201)
    head = check(client.get(f"{DISCLOSURE}/log/tree-head"), 200)
    leaf_index = decision.get("leaf_index", head["tree_size"] - 1)
    proof = check(client.get(f"{DISCLOSURE}/log/proofs/inclusion", headers=MANAGER,
                             params={"leaf_index": leaf_index, "tree_size": head["tree_size"]}), 200)
    save("police-share.json", {"request": request, "decision": decision, "tree_head": head, "inclusion_proof": proof})
    leaves = check(client.get(f"{DISCLOSURE}/log/leaves", headers=MANAGER,
                              params={"start": leaf_index, "end": leaf_index + 1}), 200)
    leaf_b64 = (leaves.get("leaves") if isinstance(leaves, dict) else leaves)[0]
    leaf_b64 = leaf_b64["leaf"] if isinstance(leaf_b64, dict) else leaf_b64
    # An auditor's check with the offline verifier: no database, only what the service published.
    verdict = subprocess.run(
        [sys.executable, "-m", "cme_disclosure.verifier", "inclusion",
         "--tree-head", str(save("tree-head.json", head)),
         "--public-key", str(save("log-public-key.json", check(client.get(f"{DISCLOSURE}/log/public-key"), 200))),
         "--leaf-index", str(leaf_index), "--proof", str(save("inclusion-proof.json", proof)),
         "--leaf-b64", leaf_b64], capture_output=True, text=True)
    say(f"   disclosure {request['disclosure_id'][:8]}: {request['status']} -> {decision.get('status')}")
    say(f"   signed tree head: size {head['tree_size']}, root {head['root_hash'][:16]}..., key {head['key_id'][:12]}...")
    say(f"   inclusion proof for leaf {leaf_index}: {len(proof['proof'])} hashes; offline verifier says: "
        f"{(verdict.stdout or verdict.stderr).strip().splitlines()[-1] if (verdict.stdout or verdict.stderr).strip() else verdict.returncode}")
    if verdict.returncode != 0:
        sys.exit(1)

    step("6. The child's mother asks for the child's data (subject access, one calendar month)")
    sar = check(client.post(f"{RIGHTS}/requests", headers=OFFICER_W, json={
        "type": "access", "received_on": date.today().isoformat(), "channel": "email",
        "requester": {"first_name": "Leila", "last_name": school["child"]["last_name"], "acting_as": "parent",
                      "email": "leila@example.org", "address": school["child"]["address"]},
        "subject": {"first_name": school["child"]["first_name"], "last_name": school["child"]["last_name"],
                    "date_of_birth": school["child"]["date_of_birth"], "upn": school["child"]["upn"]},
        "details": "Copy of everything you hold about my daughter.",
    }), 201)
    # Only the DPO records the requester's identity as verified (issue 13); the search starts then.
    sar |= check(client.post(f"{RIGHTS}/requests/{sar['request_id']}/clock", headers=DPO,
                             json={"event": "identity_received", "on": date.today().isoformat()}), 200)
    say(f"   request {sar['request_id'][:8]}: {sar['status']}, due {sar['due_date']}")
    def gathered() -> dict | None:
        state = check(client.get(f"{RIGHTS}/requests/{sar['request_id']}", headers=DPO), 200)
        return state if state["status"] in ("ready_for_review", "collection_incomplete") else None

    ready = await eventually(gathered, timeout=120)
    early = client.get(f"{RIGHTS}/requests/{sar['request_id']}/response", headers=DPO)
    say(f"   pack gathered from every service: {ready['status']}; before approval the pack answers {early.status_code}")
    check(client.post(f"{RIGHTS}/requests/{sar['request_id']}/approve", headers=DPO, json={}), 200)
    pack = check(client.get(f"{RIGHTS}/requests/{sar['request_id']}/response", headers=DPO), 200)
    pdf = client.get(f"{RIGHTS}/requests/{sar['request_id']}/response", params={"format": "pdf"}, headers=DPO)
    save("subject-access-pack.json", pack)
    pdf_path = save("subject-access-pack.pdf", pdf.content)
    text = json.dumps(pack)
    recipients = pack.get("recipients", [])
    say(f"   recipients listed: {', '.join(sorted({r.get('org_name') or r.get('type', '?') for r in recipients})) or 'none'}")
    say(f"   the named referrer's details appear in the pack: {'YES (wrong)' if 'Jo Neighbour' in text or 'jo.neighbour' in text else 'no, redacted'}")
    redactions = pack.get("redactions", [])
    say(f"   redactions with reasons: {len(redactions)}; PDF {pdf.status_code} ({len(pdf.content):,} bytes)")

    step("7. The whole disclosure log, checked end to end (make verify-log)")
    audit = subprocess.run([str(ROOT / "deploy" / "bin" / "services.sh"), "exec", "disclosure", "verify-log"],
                           capture_output=True, text=True, cwd=ROOT)
    say("   " + ((audit.stdout or audit.stderr).strip().splitlines() or ["(no output)"])[-1])
    if audit.returncode != 0:
        sys.exit(1)

    step("Done")
    say(f"   artefacts: {OUT.relative_to(ROOT)}/ (outcomes, cases, enquiry, police share with proof, SAR pack JSON + PDF)")
    say(f"   PDF: {pdf_path.relative_to(ROOT)}")
    say("   logs: .local/logs/<service>.log; check the whole disclosure log with `make verify-log`")


if __name__ == "__main__":
    asyncio.run(main())
