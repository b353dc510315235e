"""A log that does not trust itself (issue 12, SEC-09), on real PostgreSQL, Kafka and litewitness.

verify-log's function (`check_log`, what `make verify-log` runs) passes on an untouched log and fails,
naming what is wrong, after each thing someone with the database or the broker could do: withholding
rows added, a share's subject removed, a payload erased without a purge leaf, a key added and the
heads re-signed, a leaf edited with the triggers off, the tree-heads topic deleted. The checkpoint is
checked by golang.org/x/mod/sumdb/note, and the witness refuses a rewritten history.
"""

import asyncio
import json
import shutil
import subprocess
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from aiokafka.admin import AIOKafkaAdminClient

from cme_disclosure.__main__ import check_log
from cme_disclosure.app import create_app
from cme_disclosure.domain import merkle
from cme_disclosure.domain.checkpoint import (
    SignedNote,
    cosignature_time,
    parse_verifier_key,
    sign_checkpoint,
    verifier_key,
)
from cme_disclosure.domain.tree_head import TreeHead, key_id, load_private_key, public_key_pem, sign
from cme_disclosure.service_layer.witness import WitnessClient, WitnessConflict, WitnessRefused
from cme_shared.contracts import topics
from cme_shared.testing.fixtures import running
from cme_shared.testing.kafka import TopicReader, eventually

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
WITNESS_URL = "http://127.0.0.1:7380"
WITNESS_VKEY = ROOT / ".local/secrets/witness.vkey"
WITNESSCTL = ROOT / ".local/bin/witnessctl"
WITNESS_DB = ROOT / ".local/witness/litewitness.db"


@pytest.fixture
def witness_key() -> str:
    """The running litewitness (deploy/bin/witness.sh, started by `make infra`)."""
    if not (WITNESS_VKEY.exists() and WITNESSCTL.exists()):
        pytest.skip("litewitness is not set up here: run deploy/bin/witness.sh start (needs Go)")
    try:
        httpx.get(WITNESS_URL, timeout=2)
    except httpx.HTTPError:
        pytest.fail("litewitness does not answer on 127.0.0.1:7380: run deploy/bin/witness.sh start")
    return WITNESS_VKEY.read_text().strip()


@pytest.fixture
def witnessed(settings, witness_key):
    """The test's settings with a log origin of its own, registered with the witness."""
    origin = f"cme.localhost/test-log-{uuid.uuid4().hex[:12]}"
    ours = settings.model_copy(update={"log_origin": origin, "log_witness_url": WITNESS_URL,
                                       "log_witness_key": witness_key})
    vkey = verifier_key(origin, load_private_key(ours.log_key()).public_key())
    for args in (["add-log", "-origin", origin], ["add-key", "-origin", origin, "-key", vkey]):
        subprocess.run([str(WITNESSCTL), *args, "-db", str(WITNESS_DB)], check=True, capture_output=True)
    return ours


@pytest_asyncio.fixture
async def wclient(witnessed):
    async with running(create_app(witnessed)) as http:
        yield http


def police_request(subject: uuid.UUID) -> dict:
    return {"subject_ids": [str(subject)], "purpose": "cme_tracking", "legal_gateway": "Education Act 1996 s436A",
            "categories": ["education"], "reason": "tracking",
            "recipient": {"type": "school", "org_name": "Example Primary", "requester_name": "A Head",
                          "requester_role": "headteacher"}}


async def cosigned_checkpoint(client, size: int) -> str:
    async def ready() -> str | None:
        response = await client.get("/log/checkpoint")
        if response.status_code == 200 and response.text.split("\n")[1] == str(size):
            return response.text
        return None

    return await eventually(ready, timeout=20)


def notecheck(tmp_path: Path) -> Path:
    """Build tests/notecheck (golang.org/x/mod/sumdb/note, filippo.io/torchwood) with the Go toolchain."""
    if shutil.which("go") is None:
        pytest.skip("needs Go to build the signed-note checker")
    work = tmp_path / "notecheck"
    work.mkdir()
    shutil.copy(Path(__file__).parent / "notecheck" / "main.go", work / "main.go")
    env_run = {"cwd": work, "check": True, "capture_output": True, "timeout": 300}
    subprocess.run(["go", "mod", "init", "notecheck"], **env_run)
    subprocess.run(["go", "get", "filippo.io/torchwood@v0.6.1", "golang.org/x/mod@v0.24.0"], **env_run)
    subprocess.run(["go", "build", "-o", "notecheck", "."], **env_run)
    return work / "notecheck"


def problems(report) -> str:
    return "\n".join(str(p) for p in report.problems)


async def test_the_checkpoint_is_cosigned_and_verify_log_names_every_tampering(
        wclient, token, witnessed, witness_key, db_url, superuser, infra, namespace, tmp_path):
    officer, manager, dpo = token("officer", sub="o1", borough="westminster"), token("manager", sub="m1"), token("dpo")
    subjects = [uuid.uuid4(), uuid.uuid4()]
    ids = []
    for subject in subjects:
        did = (await wclient.post("/disclosures", headers=officer, json=police_request(subject))).json()["disclosure_id"]
        assert (await wclient.post(f"/disclosures/{did}/decision", headers=manager,
                                   json={"decision": "approve", "reason": "needed",
                                         "sign_off_rank": "Inspector"})).json()["status"] == "shared"
        ids.append(did)
    withheld = await wclient.post(f"/disclosures/{ids[0]}/withholding", headers=dpo, json={
        "exemption": "crime_and_taxation", "reason": "would prejudice an investigation",
        "review_date": (date.today() + timedelta(days=30)).isoformat()})
    assert withheld.status_code == 200, withheld.text
    size = 7  # two requests, two decisions, two shares, one withholding

    # The checkpoint: a C2SP signed note, with the witness's cosignature, checked by x/mod's note.
    text = await cosigned_checkpoint(wclient, size)
    note = SignedNote.parse(text)
    assert cosignature_time(note, parse_verifier_key(witness_key)) is not None
    (tmp_path / "checkpoint").write_text(text)
    log_vkey = (await wclient.get("/log/public-key")).json()["note_verifier_key"]
    checked = subprocess.run([str(notecheck(tmp_path)), str(tmp_path / "checkpoint"), log_vkey, witness_key],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.split() == [witnessed.log_origin, str(size), "verified=1", "witness=yes"]

    async with TopicReader(infra.kafka, namespace(topics.TREE_HEADS)) as heads:
        await heads.wait_for(lambda rs: any(json.loads(r.value)["tree_size"] == size for r in rs))

    async def verify():
        return await check_log(witnessed, kafka_timeout=20)

    untouched = await verify()
    assert untouched.ok, problems(untouched)
    assert untouched.published_heads_checked == 5 and untouched.heads_checked == 5

    # A withholding row added directly: a subject access pack would hide the share.
    extra = uuid.uuid4()
    await superuser.execute(
        "INSERT INTO sar_withholdings (withholding_id, disclosure_id, exemption, reason, decided_by, decider_name, "
        "decider_role, review_date) VALUES ($1, $2, 'x', 'y', 'z', 'z', 'dpo', $3)",
        extra, uuid.UUID(ids[1]), date.today() + timedelta(days=300))
    report = await verify()
    assert f"withholding {extra} of disclosure {ids[1]} is in sar_withholdings but not in the log" in problems(report)
    await superuser.execute("DELETE FROM sar_withholdings WHERE withholding_id = $1", extra)
    # ... and the review date of the real one pushed back.
    await superuser.execute("UPDATE sar_withholdings SET review_date = review_date + 300")
    report = await verify()
    assert "its row's disclosure, review date or time is not what the leaf records" in problems(report)
    await superuser.execute("UPDATE sar_withholdings SET review_date = review_date - 300")
    assert (await verify()).ok

    # A share's subject removed: the subject's access request would no longer list it.
    await superuser.execute("DELETE FROM disclosure_subjects WHERE subject_id = $1", subjects[1])
    report = await verify()
    assert f"disclosure {ids[1]}: its subjects in the database (0) are not the ones its leaf's payload records" \
        in problems(report)
    await superuser.execute("INSERT INTO disclosure_subjects VALUES ($1, $2)", uuid.UUID(ids[1]), subjects[1])
    assert (await verify()).ok

    # A payload set to NULL without a purge leaf: not retention, an erasure.
    await superuser.execute("ALTER TABLE leaf_payloads DISABLE TRIGGER ALL")  # a history table (migration 0009)
    await superuser.execute("UPDATE leaf_payloads SET payload = NULL WHERE leaf_index = 2")
    report = await verify()
    assert "leaf 2: its payload was removed (NULL) but no purge leaf records it" in problems(report)

    # A key added to the database and every head re-signed with it.
    forger = load_private_key(bytes(range(32)).hex())
    await superuser.execute("INSERT INTO signing_keys (key_id, public_key_pem) VALUES ($1, $2)",
                            key_id(forger.public_key()), public_key_pem(forger.public_key()))
    await superuser.execute("ALTER TABLE tree_heads DISABLE TRIGGER ALL")
    for row in await superuser.fetch("SELECT tree_size, root_hash, timestamp_ms FROM tree_heads"):
        head = sign(forger, TreeHead(row["tree_size"], row["root_hash"], row["timestamp_ms"],
                                     key_id(forger.public_key())))
        await superuser.execute("UPDATE tree_heads SET key_id = $1, signature = $2 WHERE tree_size = $3",
                                head.head.key_id, head.signature, row["tree_size"])
    await superuser.execute("ALTER TABLE tree_heads ENABLE TRIGGER ALL")
    report = await verify()
    assert f"tree head at size {size} is signed by key {key_id(forger.public_key())[:16]}, which is not a pinned " \
           "key" in problems(report)
    assert "which is not a pinned key (a key added to the database is never trusted)" in problems(report)

    # A leaf edited by the superuser with the triggers off.
    await superuser.execute("ALTER TABLE log_leaves DISABLE TRIGGER ALL")
    await superuser.execute("UPDATE log_leaves SET leaf = convert_to(replace(convert_from(leaf, 'UTF8'), "
                            "'cme_tracking', 'safeguarding'), 'UTF8') WHERE leaf_index = 0")
    await superuser.execute("ALTER TABLE log_leaves ENABLE TRIGGER ALL")
    report = await verify()
    assert report.first_bad_leaf == 0
    assert "leaf 0: its bytes do not hash to the node stored when it was appended" in problems(report)

    # The tree-heads topic deleted: the copy outside the database is gone.
    admin = AIOKafkaAdminClient(**infra.kafka.aiokafka())
    await admin.start()
    try:
        await admin.delete_topics([namespace(topics.TREE_HEADS)])
    finally:
        await admin.close()

    async def gone():
        report = await verify()
        return report if "tree-heads topic" in problems(report) else None

    report = await eventually(gone, timeout=20)
    assert f"the tree-heads topic {namespace(topics.TREE_HEADS)} does not exist" in problems(report)


async def test_the_witness_refuses_a_rewritten_history(wclient, token, witnessed, witness_key, db_url):
    officer = token("officer", sub="o1", borough="westminster")
    for _ in range(3):
        await wclient.post("/disclosures", headers=officer, json=police_request(uuid.uuid4()))
    await cosigned_checkpoint(wclient, 3)

    # The log's own key signs a tree of 4 leaves that does not extend the 3 the witness cosigned.
    key = load_private_key(witnessed.log_key())
    frontier, nodes = merkle.Frontier(), {}
    for n in range(4):
        for level, index, h in frontier.append(f"rewritten {n}".encode()):
            nodes[(level, index)] = h
    forged = sign_checkpoint(key, witnessed.log_origin, 4, frontier.root())
    proof = merkle.hash_ranges(merkle.consistency_ranges(3, 4), nodes)
    client = WitnessClient(WITNESS_URL, witness_key)
    with pytest.raises(WitnessRefused) as refused:
        await client.add_checkpoint(3, proof, forged)
    assert refused.value.status == 422  # litewitness: bad consistency proof
    with pytest.raises(WitnessConflict) as conflict:  # nor can the log start again from nothing
        await client.add_checkpoint(0, [], forged)
    assert conflict.value.known == 3

    # The real next checkpoint is still cosigned.
    await wclient.post("/disclosures", headers=officer, json=police_request(uuid.uuid4()))
    note = SignedNote.parse(await cosigned_checkpoint(wclient, 4))
    assert cosignature_time(note, parse_verifier_key(witness_key)) is not None
