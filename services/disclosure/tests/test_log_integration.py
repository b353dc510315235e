"""The log on real PostgreSQL: serialised appends, the service role's limits, tampering detected."""

import asyncio
import json
import os
import re
import stat
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cme_disclosure.adapters.published_heads import read_published_heads
from cme_disclosure.domain import merkle
from cme_disclosure.domain.entries import LeafKind, entry
from cme_disclosure.domain.tree_head import (
    TreeHead,
    key_id,
    load_private_key,
    load_public_key,
    public_key_pem,
    sign,
    verify,
)
from cme_disclosure.service_layer.audit import verify_log
from cme_disclosure.adapters.merkle_store import KeyRing, LogRangeError, MerkleLog
from cme_shared.contracts import topics
from cme_shared.db import create_engine, session_factory
from cme_shared.testing.kafka import TopicReader

from .conftest import plain_dsn

pytestmark = pytest.mark.integration

# The key the raw-log tests sign with, and pin: verification trusts only configured keys.
TEST_KEY = Ed25519PrivateKey.generate()
TEST_KEY_HEX = TEST_KEY.private_bytes_raw().hex()


def log_keys() -> KeyRing:
    return KeyRing(TEST_KEY_HEX)


def an_entry(i: int):
    return entry(LeafKind.SHARE_MADE, f"record-{i}", datetime.now(UTC), {"n": i},
                 {"subject_ids": [str(uuid.uuid4())], "reason": f"reason {i}"})


@pytest_asyncio.fixture
async def engine(db_url):
    eng = create_engine(db_url)
    yield eng
    await eng.dispose()


async def append(engine, keys: KeyRing, count: int, batch: int = 1) -> None:
    sessions = session_factory(engine)
    for start in range(0, count, batch):
        async with sessions.begin() as session:
            await MerkleLog(session, keys).append([an_entry(i) for i in range(start, min(start + batch, count))])


async def check(engine, published=None, keys=None):
    async with engine.connect() as conn:
        return await verify_log(conn, published=published, keys=keys or [TEST_KEY.public_key()])


def run_verify_log_cli(db_url: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CME_DATABASE_URL": db_url, "CME_LOG_SIGNING_KEY": TEST_KEY_HEX, **env}
    return subprocess.run([sys.executable, "-m", "cme_disclosure", "verify-log", *args], env=env,
                          capture_output=True, text=True, timeout=120)


async def test_concurrent_appends_never_skip_or_collide(engine):
    keys = log_keys()
    sessions = session_factory(engine)

    async def writer(w: int) -> list[int]:
        async with sessions.begin() as session:
            appended = await MerkleLog(session, keys).append([an_entry(w * 10 + j) for j in range(w % 3 + 1)])
            return [appended.index_of(j) for j in range(w % 3 + 1)]

    results = await asyncio.gather(*(writer(w) for w in range(12)))
    indices = sorted(i for r in results for i in r)
    assert indices == list(range(len(indices)))  # contiguous from 0, no duplicates
    report = await check(engine)
    assert report.ok, report.problems
    assert report.heads_checked == 12 and report.tree_size == len(indices)


async def test_stored_proofs_and_heads_verify(engine):
    ring = KeyRing(bytes(range(32)).hex())
    await append(engine, ring, 13, batch=4)
    async with session_factory(engine)() as session:
        log = MerkleLog(session, ring)
        head = await log.latest_head()
        keys = {k["key_id"]: load_public_key(k["public_key_pem"]) for k in await log.known_public_keys()}
        leaves = await log.leaves(0, 13)
        proof = await log.inclusion_proof(9, 13)
        assert merkle.verify_inclusion(9, 13, merkle.leaf_hash(leaves[9][1]), proof, head.head.root_hash)
        with pytest.raises(LogRangeError):
            await log.inclusion_proof(0, 14)
    assert head.head.tree_size == 13
    assert verify(keys[head.head.key_id], head)


async def test_the_service_role_can_only_insert_and_select(engine, db_url):
    await append(engine, log_keys(), 2)
    conn = await asyncpg.connect(plain_dsn(db_url))  # the service's own login role, which owns nothing
    try:
        for table in ("log_leaves", "log_nodes", "tree_heads"):
            for statement in (f"UPDATE {table} SET {'leaf' if table == 'log_leaves' else 'tree_size'} = "
                              f"{'leaf' if table == 'log_leaves' else 'tree_size'}",
                              f"DELETE FROM {table}", f"TRUNCATE {table}"):
                if table == "log_nodes":
                    statement = statement.replace("tree_size", "level")
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.execute(statement)
        # The role owns nothing, so granting itself the rights back gives it nothing (PostgreSQL only warns:
        # it holds INSERT and SELECT, without grant option); the owner would still meet the triggers.
        await conn.execute("GRANT UPDATE, DELETE ON log_leaves TO CURRENT_USER")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("UPDATE log_leaves SET leaf = '\\x00' WHERE leaf_index = 0")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM log_leaves WHERE leaf_index = 1")
        assert await conn.fetchval("SELECT count(*) FROM log_leaves") == 2
    finally:
        await conn.close()


async def test_a_leaf_edited_by_the_superuser_is_named_by_verify_log(engine, db_url, superuser):
    await append(engine, log_keys(), 6)
    ok = run_verify_log_cli(db_url, "--no-kafka")  # these heads were never published
    assert ok.returncode == 0, ok.stderr
    assert "disclosure log OK: 6 leaves" in ok.stdout and "not compared (--no-kafka)" in ok.stdout

    await superuser.execute("ALTER TABLE log_leaves DISABLE TRIGGER ALL")
    await superuser.execute("UPDATE log_leaves SET leaf = convert_to('{\"forged\":true}', 'UTF8') WHERE leaf_index = 3")
    await superuser.execute("ALTER TABLE log_leaves ENABLE TRIGGER ALL")

    bad = run_verify_log_cli(db_url, "--no-kafka")
    assert bad.returncode == 1
    assert "first bad leaf 3" in bad.stderr
    assert "leaf 3: its bytes do not hash to the node stored" in bad.stderr


async def test_leaves_and_tree_rewritten_together_are_caught_by_the_signed_heads(engine, superuser):
    await append(engine, log_keys(), 5)
    # A careful forger rewrites leaf 2 and every stored node above it, consistently.
    async with engine.connect() as conn:
        rows = (await conn.exec_driver_sql("SELECT leaf FROM log_leaves ORDER BY leaf_index")).all()
    leaves = [bytes(r[0]) for r in rows]
    leaves[2] = b'{"forged":true}'
    frontier = merkle.Frontier()
    await superuser.execute("ALTER TABLE log_leaves DISABLE TRIGGER ALL")
    await superuser.execute("ALTER TABLE log_nodes DISABLE TRIGGER ALL")
    await superuser.execute("UPDATE log_leaves SET leaf = $1 WHERE leaf_index = 2", leaves[2])
    for leaf in leaves:
        for level, index, h in frontier.append(leaf):
            await superuser.execute("UPDATE log_nodes SET hash = $1 WHERE level = $2 AND node_index = $3",
                                    h, level, index)
    report = await check(engine)
    assert not report.ok
    assert report.first_bad_leaf == 2
    assert any("signed tree head at size 3 does not match" in p.message for p in report.problems)


async def test_a_leaf_slipped_in_outside_the_service_is_found(engine, superuser):
    await append(engine, log_keys(), 3)
    frontier = merkle.Frontier()
    async with engine.connect() as conn:
        for (leaf,) in (await conn.exec_driver_sql("SELECT leaf FROM log_leaves ORDER BY leaf_index")).all():
            frontier.append(bytes(leaf))
    forged = b'{"kind":"disclosure_shared"}'
    await superuser.execute("INSERT INTO log_leaves (leaf_index, leaf) VALUES (3, $1)", forged)
    for level, index, h in frontier.append(forged):
        await superuser.execute("INSERT INTO log_nodes VALUES ($1, $2, $3)", level, index, h)
    report = await check(engine)
    assert report.first_bad_leaf == 3
    assert "not covered by any signed tree head" in report.problems[0].message


async def test_an_edited_payload_is_found_and_a_payload_erased_without_a_purge_leaf_too(engine, superuser):
    await append(engine, log_keys(), 4)
    assert (await check(engine)).ok
    # leaf_payloads is a history table since migration 0009 (only the disposal login may empty a payload):
    # the superuser gets past its trigger only by disabling it.
    await superuser.execute("ALTER TABLE leaf_payloads DISABLE TRIGGER ALL")
    await superuser.execute("UPDATE leaf_payloads SET payload = NULL, purged_at = now(), purge_reason = 'retention' "
                            "WHERE leaf_index = 0")
    report = await check(engine)
    assert report.payloads_purged == 1 and report.payloads_checked == 3
    assert [str(p) for p in report.problems] == ["leaf 0: its payload was removed (NULL) but no purge leaf records it"]
    await superuser.execute("UPDATE leaf_payloads SET payload = convert_to('{}', 'UTF8') WHERE leaf_index = 2")
    report = await check(engine)
    assert report.first_bad_leaf == 0
    assert "leaf 2: its payload does not match the digest the leaf commits to" in [str(p) for p in report.problems]


async def test_no_private_key_is_kept_in_the_log_database(client, token, db_url, settings):
    # The service running as in development, with no key configured but the key file.
    created = await client.post("/disclosures", headers=token("officer", borough="westminster"), json={
        "subject_ids": [str(uuid.uuid4())], "purpose": "cme_tracking", "legal_gateway": "Education Act 1996 s436A",
        "recipient": {"type": "school", "org_name": "Example Primary", "requester_name": "A Head",
                      "requester_role": "headteacher"},
        "categories": ["education"], "reason": "tracking a child missing education"})
    assert created.status_code == 201, created.text
    conn = await asyncpg.connect(plain_dsn(db_url))
    try:
        rows = await conn.fetch("SELECT row_to_json(k)::text AS r FROM signing_keys k")
        columns = {r["column_name"] for r in await conn.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'signing_keys'")}
    finally:
        await conn.close()
    assert len(rows) == 1 and "PUBLIC KEY" in rows[0]["r"]
    assert not any("PRIVATE" in r["r"] for r in rows)
    assert columns == {"key_id", "public_key_pem", "first_used_at"}
    key_file = settings.log_signing_key_file
    assert key_file.exists() and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    signed_with = key_id(load_private_key(key_file.read_text()).public_key())
    assert (await client.get("/log/tree-head")).json()["key_id"] == signed_with


async def test_a_rewrite_re_signed_in_the_database_is_caught_by_the_published_heads(
        client, token, settings, db_url, superuser, infra, namespace):
    officer = token("officer", sub="o1", borough="westminster")
    for n in range(3):
        did = (await client.post("/disclosures", headers=officer, json={
            "subject_ids": [str(uuid.uuid4())], "purpose": "cme_tracking",
            "legal_gateway": "Education Act 1996 s436A", "categories": ["education"], "reason": f"tracking {n}",
            "recipient": {"type": "school", "org_name": "Example Primary", "requester_name": "A Head",
                          "requester_role": "headteacher"}})).json()["disclosure_id"]
    decided = await client.post(f"/disclosures/{did}/decision", headers=token("manager", sub="m1"),
                                json={"decision": "approve", "reason": "needed"})
    assert decided.json()["status"] == "shared"  # leaves: 3 requests + decision + share = 5, one head per append
    topic = namespace(topics.TREE_HEADS)
    async with TopicReader(infra.kafka, topic) as heads:
        await heads.wait_for(lambda rs: any(json.loads(r.value)["tree_size"] == 5 for r in rs))

    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            leaves = [bytes(r[0]) for r in (await conn.exec_driver_sql(
                "SELECT leaf FROM log_leaves ORDER BY leaf_index")).all()]
            sizes = [r[0] for r in (await conn.exec_driver_sql("SELECT tree_size FROM tree_heads")).all()]
        assert len(leaves) == 5 and sorted(sizes) == [1, 2, 3, 5]

        # A forger with the database (superuser, or an owner dropping the triggers) rewrites the first
        # request, every node above it, and re-signs every head with a key of their own, registered.
        leaves[0] = leaves[0].replace(b'"purpose":"cme_tracking"', b'"purpose":"safeguarding"')
        forger = Ed25519PrivateKey.generate()
        await superuser.execute("INSERT INTO signing_keys (key_id, public_key_pem) VALUES ($1, $2)",
                                key_id(forger.public_key()), public_key_pem(forger.public_key()))
        for table in ("log_leaves", "log_nodes", "tree_heads"):
            await superuser.execute(f"ALTER TABLE {table} DISABLE TRIGGER ALL")
        await superuser.execute("UPDATE log_leaves SET leaf = $1 WHERE leaf_index = 0", leaves[0])
        frontier = merkle.Frontier()
        for leaf in leaves:
            for level, index, h in frontier.append(leaf):
                await superuser.execute("UPDATE log_nodes SET hash = $1 WHERE level = $2 AND node_index = $3",
                                        h, level, index)
            if frontier.size in sizes:
                head = sign(forger, TreeHead(frontier.size, frontier.root(), 1767225600000,
                                             key_id(forger.public_key())))
                await superuser.execute("UPDATE tree_heads SET root_hash = $1, timestamp_ms = $2, key_id = $3, "
                                        "signature = $4 WHERE tree_size = $5", head.head.root_hash,
                                        head.head.timestamp, head.head.key_id, head.signature, frontier.size)
        for table in ("log_leaves", "log_nodes", "tree_heads"):
            await superuser.execute(f"ALTER TABLE {table} ENABLE TRIGGER ALL")

        pinned = [load_public_key(pem) for pem in settings.pinned_public_keys()]
        async with engine.connect() as conn:
            alone = await verify_log(conn, keys=[forger.public_key()])
            with_the_pinned_key = await verify_log(conn, keys=pinned)
        # With the forger's key the database alone agrees with itself (the rewrite is consistent); the
        # pinned key, which never comes from the database, is not fooled.
        assert not any("head" in p.message for p in alone.problems), alone.problems
        assert "tree head at size 1 is signed by key" in str(with_the_pinned_key.problems)
        assert "which is not a pinned key" in str(with_the_pinned_key.problems)

        published = await read_published_heads(infra.kafka, topic, timeout=20)
        assert published.unreadable == 0 and {h.head.tree_size for h in published.heads} == {1, 2, 3, 5}
        async with engine.connect() as conn:
            report = await verify_log(conn, published=published.heads, keys=pinned)
    finally:
        await engine.dispose()
    assert not report.ok
    assert report.first_bad_leaf == 0
    assert report.published_heads_checked == 4
    assert any("tree head published at size 1 does not match the leaves" in p.message for p in report.problems)

    kafka_env = {**infra.kafka_env(), "CME_TOPIC_NAMESPACE": settings.topic_namespace,
                 "CME_LOG_SIGNING_KEY": settings.log_key()}
    cli = await asyncio.to_thread(run_verify_log_cli, db_url, **kafka_env)
    assert cli.returncode == 1, cli.stdout + cli.stderr
    assert "first bad leaf 0" in cli.stderr and "published at size 5 does not match" in cli.stderr


async def test_verify_log_compares_the_published_heads_and_finds_leaves_removed(
        client, token, db_url, superuser, infra, namespace, settings):
    officer = token("officer", sub="o1", borough="westminster")
    for n in range(2):
        await client.post("/disclosures", headers=officer, json={
            "subject_ids": [str(uuid.uuid4())], "purpose": "cme_tracking",
            "legal_gateway": "Education Act 1996 s436A", "categories": ["education"], "reason": f"tracking {n}",
            "recipient": {"type": "school", "org_name": "Example Primary", "requester_name": "A Head",
                          "requester_role": "headteacher"}})
    topic = namespace(topics.TREE_HEADS)
    async with TopicReader(infra.kafka, topic) as heads:
        await heads.wait_for(lambda rs: {json.loads(r.value)["tree_size"] for r in rs} >= {1, 2})

    async def verify_against_the_broker():
        published = await read_published_heads(infra.kafka, topic, timeout=20)
        return await check(engine, published.heads, keys=pinned)

    pinned = [load_public_key(pem) for pem in settings.pinned_public_keys()]
    engine = create_engine(db_url)
    try:
        report = await verify_against_the_broker()
        assert report.ok, report.problems
        assert report.published_heads_checked == 2

        # The last append removed, head and all: the database agrees with itself, the broker does not.
        tables = ("log_leaves", "log_nodes", "tree_heads", "leaf_payloads")
        for table in tables:
            await superuser.execute(f"ALTER TABLE {table} DISABLE TRIGGER ALL")
        await superuser.execute("DELETE FROM disclosure_leaves WHERE leaf_index = 1")
        await superuser.execute("DELETE FROM leaf_payloads WHERE leaf_index = 1")
        await superuser.execute("DELETE FROM log_nodes WHERE (level = 0 AND node_index = 1) OR level = 1")
        await superuser.execute("DELETE FROM tree_heads WHERE tree_size = 2")
        await superuser.execute("DELETE FROM log_leaves WHERE leaf_index = 1")
        for table in tables:
            await superuser.execute(f"ALTER TABLE {table} ENABLE TRIGGER ALL")
        alone = await check(engine, keys=pinned)
        shrunk = await verify_against_the_broker()
    finally:
        await engine.dispose()
    removed = ("a tree head published at size 2 is beyond the log (1 leaves): leaves were removed, or the "
               "database restored to an earlier state")
    assert removed not in [p.message for p in alone.problems]
    assert removed in [p.message for p in shrunk.problems]


async def test_the_readmes_checks_hold_and_the_service_role_cannot_undo_the_append_only_rule(engine, db_url):
    """The queries the README's "Production database roles" gives, run as written by the service's own
    login on a database migrated as `make up` does it, answer what the README says they should; and what
    they promise holds: the login cannot rewrite the log by any route, while appending still works."""
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert "**Who can write.** Two roles" in readme
    sql = re.search(r"```sql\n(.*?)```", readme, re.S).group(1)
    statements = [st for st in (s.strip() for s in re.sub(r"--[^\n]*", "", sql).split(";")) if st]
    assert len(statements) == 2
    await append(engine, log_keys(), 2)
    conn = await asyncpg.connect(plain_dsn(db_url))  # the service's own role
    try:
        assert await conn.fetchval("SELECT current_user") == "cme_disclosure"
        history = await conn.fetch(statements[0])
        assert [r["history_table"] for r in history] == sorted(
            ["log_leaves", "log_nodes", "tree_heads", "signing_keys", "checkpoints", "witness_cosignatures",
             "access_log", "leaf_payloads", "disposal_notices", "disposal_tombstones"])
        for row in history:
            assert tuple(row)[1:] == ("cme_disclosure_owner", True, True, False, False, False, False, 2), row
        [owned] = await conn.fetch(statements[1])
        assert tuple(owned) == (0, False)

        # Not the owner, with no grant option: PostgreSQL only warns "no privileges were granted".
        await conn.execute("GRANT UPDATE, DELETE ON log_leaves TO CURRENT_USER")
        for statement in ("DROP TRIGGER log_leaves_append_only ON log_leaves",
                          "ALTER TABLE log_leaves DISABLE TRIGGER ALL",
                          "ALTER TABLE log_leaves OWNER TO CURRENT_USER",
                          "UPDATE log_leaves SET leaf = leaf", "DELETE FROM log_leaves",
                          "TRUNCATE log_leaves", "DELETE FROM tree_heads", "DELETE FROM signing_keys",
                          "UPDATE checkpoints SET note = note", "DELETE FROM access_log",
                          "UPDATE leaf_payloads SET payload = NULL", "DELETE FROM disposal_tombstones"):
            with pytest.raises((asyncpg.InsufficientPrivilegeError, asyncpg.WrongObjectTypeError)):
                await conn.execute(statement)
        assert not await conn.fetchval("SELECT has_table_privilege('log_leaves', 'UPDATE')")
    finally:
        await conn.close()
    await append(engine, log_keys(), 2)  # INSERT and SELECT are all it needs
    report = await check(engine)
    assert report.ok and report.tree_size == 4, report.problems
