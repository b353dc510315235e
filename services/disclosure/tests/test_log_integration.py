"""The log on real PostgreSQL: serialised appends, the service role's limits, tampering detected."""

import asyncio
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
import pytest_asyncio

from cme_disclosure.domain import merkle
from cme_disclosure.domain.entries import LeafKind, entry
from cme_disclosure.domain.tree_head import load_public_key, verify
from cme_disclosure.service_layer.audit import verify_log
from cme_disclosure.service_layer.log import KeyRing, LogRangeError, MerkleLog, known_public_keys
from cme_shared.db import create_engine, session_factory

from .conftest import plain_dsn

pytestmark = pytest.mark.integration


def an_entry(i: int):
    return entry(LeafKind.SHARE_MADE, f"record-{i}", datetime.now(UTC), {"n": i},
                 {"subject_ids": [str(uuid.uuid4())], "reason": f"reason {i}"})


@pytest_asyncio.fixture
async def engine(db_url):
    eng = create_engine(db_url)
    yield eng
    await eng.dispose()


async def append(engine, log: MerkleLog, count: int, batch: int = 1) -> None:
    sessions = session_factory(engine)
    for start in range(0, count, batch):
        async with sessions.begin() as session:
            await log.append(session, [an_entry(i) for i in range(start, min(start + batch, count))])


async def check(engine):
    async with engine.connect() as conn:
        return await verify_log(conn)


def run_verify_log_cli(db_url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CME_DATABASE_URL": db_url}
    return subprocess.run([sys.executable, "-m", "cme_disclosure", "verify-log"], env=env, capture_output=True,
                          text=True, timeout=120)


async def test_concurrent_appends_never_skip_or_collide(engine):
    log = MerkleLog(KeyRing(None))
    sessions = session_factory(engine)

    async def writer(w: int) -> list[int]:
        async with sessions.begin() as session:
            appended = await log.append(session, [an_entry(w * 10 + j) for j in range(w % 3 + 1)])
            return [appended.index_of(j) for j in range(w % 3 + 1)]

    results = await asyncio.gather(*(writer(w) for w in range(12)))
    indices = sorted(i for r in results for i in r)
    assert indices == list(range(len(indices)))  # contiguous from 0, no duplicates
    report = await check(engine)
    assert report.ok, report.problems
    assert report.heads_checked == 12 and report.tree_size == len(indices)


async def test_stored_proofs_and_heads_verify(engine):
    log = MerkleLog(KeyRing(bytes(range(32)).hex()))
    await append(engine, log, 13, batch=4)
    async with session_factory(engine)() as session:
        head = await log.latest_head(session)
        keys = {k["key_id"]: load_public_key(k["public_key_pem"]) for k in await known_public_keys(session)}
        leaves = await log.leaves(session, 0, 13)
        proof = await log.inclusion_proof(session, 9, 13)
        assert merkle.verify_inclusion(9, 13, merkle.leaf_hash(leaves[9][1]), proof, head.head.root_hash)
        with pytest.raises(LogRangeError):
            await log.inclusion_proof(session, 0, 14)
    assert head.head.tree_size == 13
    assert verify(keys[head.head.key_id], head)


async def test_the_service_role_can_only_insert_and_select(engine, db_url):
    await append(engine, MerkleLog(KeyRing(None)), 2)
    conn = await asyncpg.connect(plain_dsn(db_url))  # the service's own login role, owner of the tables
    try:
        for table in ("log_leaves", "log_nodes", "tree_heads"):
            for statement in (f"UPDATE {table} SET {'leaf' if table == 'log_leaves' else 'tree_size'} = "
                              f"{'leaf' if table == 'log_leaves' else 'tree_size'}",
                              f"DELETE FROM {table}", f"TRUNCATE {table}"):
                if table == "log_nodes":
                    statement = statement.replace("tree_size", "level")
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.execute(statement)
        # Even an owner that grants itself the rights back is stopped by the triggers.
        await conn.execute("GRANT UPDATE, DELETE ON log_leaves TO CURRENT_USER")
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("UPDATE log_leaves SET leaf = '\\x00' WHERE leaf_index = 0")
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("DELETE FROM log_leaves WHERE leaf_index = 1")
        assert await conn.fetchval("SELECT count(*) FROM log_leaves") == 2
    finally:
        await conn.close()


async def test_a_leaf_edited_by_the_superuser_is_named_by_verify_log(engine, db_url, superuser):
    await append(engine, MerkleLog(KeyRing(None)), 6)
    ok = run_verify_log_cli(db_url)
    assert ok.returncode == 0, ok.stderr
    assert "disclosure log OK: 6 leaves" in ok.stdout

    await superuser.execute("ALTER TABLE log_leaves DISABLE TRIGGER ALL")
    await superuser.execute("UPDATE log_leaves SET leaf = convert_to('{\"forged\":true}', 'UTF8') WHERE leaf_index = 3")
    await superuser.execute("ALTER TABLE log_leaves ENABLE TRIGGER ALL")

    bad = run_verify_log_cli(db_url)
    assert bad.returncode == 1
    assert "first bad leaf 3" in bad.stderr
    assert "leaf 3: its bytes do not hash to the node stored" in bad.stderr


async def test_leaves_and_tree_rewritten_together_are_caught_by_the_signed_heads(engine, superuser):
    await append(engine, MerkleLog(KeyRing(None)), 5)
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
    await append(engine, MerkleLog(KeyRing(None)), 3)
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


async def test_an_edited_payload_is_found_and_a_purged_one_is_not_a_fault(engine, superuser):
    await append(engine, MerkleLog(KeyRing(None)), 4)
    await superuser.execute("UPDATE leaf_payloads SET payload = NULL, purged_at = now(), purge_reason = 'retention' "
                            "WHERE leaf_index = 0")
    report = await check(engine)
    assert report.ok and report.payloads_purged == 1 and report.payloads_checked == 3
    await superuser.execute("UPDATE leaf_payloads SET payload = convert_to('{}', 'UTF8') WHERE leaf_index = 2")
    report = await check(engine)
    assert report.first_bad_leaf == 2
    assert "payload does not match" in report.problems[0].message
