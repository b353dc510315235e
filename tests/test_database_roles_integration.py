"""Owner and runtime roles on real PostgreSQL (issue 12 item 3, SEC-08, CONTRACT 1).

Each service's database is made and migrated as `make up` does it: owned by `cme_<svc>_owner`, which the
migrations run as, with the service logging in as `cme_<svc>`. The runtime role must not be able to
rewrite any history table by any route (a privilege, a grant to itself, a disabled trigger, a drop),
while still inserting and reading it; and every table of each service is classed, so a new table is a
decision, not an accident. That the service works with what it is left is shown by every other test of
the service, which runs as the same runtime role.
"""

import asyncio
import importlib
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest
from alembic import command

from cme_shared.migrations import alembic_config, upgrade
from cme_shared.settings import ServiceSettings

pytestmark = pytest.mark.integration

# History: INSERT and SELECT only for the runtime role, and triggers that refuse UPDATE, DELETE and TRUNCATE.
HISTORY = {
    "intake": {"referrals", "rejected_messages", "third_party_details", "subjects", "subject_observations",
               "subject_addresses", "care_links", "possible_matches", "possible_match_decisions", "subject_merges",
               "rectifications", "access_log", "held_referrals", "referral_acceptances", "third_party_unseals",
               "subject_unmerges", "merge_proposals", "merge_proposal_decisions", "disposal_tombstones",
               "restriction_events"},
    "casework": {"case_history", "restriction_events", "access_log", "ehe_history", "cnis_register_entries",
                 "disposal_tombstones"},
    "disclosure": {"log_leaves", "log_nodes", "tree_heads", "signing_keys", "checkpoints", "witness_cosignatures", "access_log",
                   "leaf_payloads", "disposal_notices", "disposal_tombstones"},
    "rights": {"clock_events", "audit_log", "decisions", "rectifications_applied", "access_log", "disposal_tombstones"},
}
# What the service updates or deletes (the kit's outbox and inbox everywhere).
ORDINARY = {
    "intake": {"outbox", "inbox", "pending_disposals"},
    "casework": {"outbox", "inbox", "cases", "ehe_records"},
    "disclosure": {"outbox", "inbox", "disclosures", "disclosure_subjects", "disclosure_leaves", "sar_withholdings",
                   "restrictions"},
    "rights": {"outbox", "inbox", "rights_requests", "asks", "ask_targets", "ask_chunks"},
}
# Placed, and lifted once, never changed or removed (retention, issue 14): INSERT, SELECT and UPDATE, and a
# trigger that lets an UPDATE through only when it lifts a hold in force and changes nothing else.
HOLDS = {service: {"legal_holds"} for service in HISTORY}
SERVICES = tuple(HISTORY)


def migrations_of(service: str) -> Path:
    return Path(importlib.import_module(f"cme_{service}").__file__).parent / "migrations"


def plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def privileges(conn: asyncpg.Connection, table: str) -> set[str]:
    kinds = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
    return {kind for kind in kinds
            if await conn.fetchval("SELECT has_table_privilege(current_user, $1, $2)", table, kind)}


async def refused(conn: asyncpg.Connection, statement: str) -> None:
    """The statement fails for want of a privilege, or (GRANT only) grants nothing: PostgreSQL only warns
    when the role holds some privilege on the table but no grant option. Callers check the privileges
    afterwards. Either way nothing is kept (one transaction, rolled back)."""
    try:
        async with conn.transaction():
            await conn.execute(statement)
            assert statement.startswith("GRANT"), f"{statement!r} was allowed"
            raise _RollBack
    except (asyncpg.InsufficientPrivilegeError, asyncpg.WrongObjectTypeError, _RollBack):
        return


class _RollBack(Exception):
    pass


@pytest.fixture(params=SERVICES)
def service(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def runtime(databases, service: str):
    url = await databases.create(service, migrations_of(service))
    conn = await asyncpg.connect(plain(url))
    try:
        yield conn
    finally:
        await conn.close()


async def test_every_table_is_classed(runtime, service):
    tables = set(await runtime.fetchval(
        "SELECT coalesce(array_agg(tablename::text), '{}') FROM pg_tables WHERE schemaname = 'public'"))
    assert tables - {"alembic_version"} == HISTORY[service] | ORDINARY[service] | HOLDS[service]


async def test_the_runtime_role_owns_nothing_and_cannot_create(runtime, service):
    assert await runtime.fetchval("SELECT current_user") == f"cme_{service}"
    owned = await runtime.fetchval(
        "SELECT count(*) FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid "
        "WHERE d.datname = current_database() AND s.deptype = 'o' AND s.refobjid = current_user::regrole")
    assert owned == 0
    assert await runtime.fetchval("SELECT pg_get_userbyid(datdba) FROM pg_database "
                                  "WHERE datname = current_database()") == f"cme_{service}_owner"
    assert not await runtime.fetchval("SELECT pg_has_role(current_user, $1, 'MEMBER')", f"cme_{service}_owner")
    for statement in ("CREATE TABLE squatter (x int)", "CREATE FUNCTION squatter() RETURNS int LANGUAGE sql AS "
                      "'SELECT 1'", "CREATE SCHEMA squatter"):
        await refused(runtime, statement)
    assert await privileges(runtime, "alembic_version") == {"SELECT"}


async def test_history_takes_inserts_and_reads_and_nothing_else(runtime, service):
    for table in sorted(HISTORY[service]):
        assert await privileges(runtime, table) == {"SELECT", "INSERT"}, table
        assert await runtime.fetchval(f"SELECT count(*) FROM {table}") >= 0
        # INSERT passes the privilege check: what stops this row is the table's own NOT NULL rules.
        with pytest.raises(asyncpg.NotNullViolationError):
            await runtime.execute(f"INSERT INTO {table} DEFAULT VALUES")
        trigger = await runtime.fetchval("SELECT tgname FROM pg_trigger WHERE tgrelid = $1::regclass "
                                         "AND tgname LIKE '%append_only'", table)
        assert trigger is not None, table
        for statement in (
            f"UPDATE {table} SET {await first_column(runtime, table)} = {await first_column(runtime, table)}",
            f"DELETE FROM {table}",
            f"TRUNCATE {table}",
            f"TRUNCATE {table} CASCADE",
            f"ALTER TABLE {table} DISABLE TRIGGER {trigger}",
            f"ALTER TABLE {table} DISABLE TRIGGER ALL",
            f"DROP TRIGGER {trigger} ON {table}",
            f"GRANT UPDATE, DELETE, TRUNCATE ON {table} TO CURRENT_USER",
            f"GRANT ALL ON {table} TO PUBLIC",
            f"ALTER TABLE {table} OWNER TO CURRENT_USER",
            f"ALTER TABLE {table} ADD COLUMN squatter int",
            f"DROP TABLE {table} CASCADE",
        ):
            await refused(runtime, statement)
        assert await privileges(runtime, table) == {"SELECT", "INSERT"}, table


async def test_ordinary_tables_take_what_the_service_does_but_truncate_alter_and_drop(runtime, service):
    for table in sorted(ORDINARY[service]):
        assert await privileges(runtime, table) == {"SELECT", "INSERT", "UPDATE", "DELETE"}, table
        for statement in (f"TRUNCATE {table} CASCADE", f"ALTER TABLE {table} DISABLE TRIGGER ALL",
                          f"GRANT TRUNCATE ON {table} TO CURRENT_USER", f"DROP TABLE {table} CASCADE"):
            await refused(runtime, statement)


async def test_a_legal_hold_is_placed_and_lifted_once_and_never_changed_or_removed(runtime, service):
    """A service's own login cannot quietly undo a hold before the disposal job runs: it may place one and
    lift it once (who, when, why), and nothing else."""
    assert await privileges(runtime, "legal_holds") == {"SELECT", "INSERT", "UPDATE"}
    hold = await runtime.fetchval(
        "INSERT INTO legal_holds (hold_id, scope, target_id, reason, placed_by, placed_at) "
        "VALUES (gen_random_uuid(), 'subject', 'x', 'litigation', 'records-1', now()) RETURNING hold_id")
    for statement in ("DELETE FROM legal_holds", "TRUNCATE legal_holds",
                      "UPDATE legal_holds SET target_id = 'y'",
                      "UPDATE legal_holds SET lifted_at = now()",  # a lift names who and why
                      "ALTER TABLE legal_holds DISABLE TRIGGER ALL"):
        await refused(runtime, statement)
    await runtime.execute("UPDATE legal_holds SET lifted_at = now(), lifted_by = 'records-1', lift_reason = 'settled' "
                          "WHERE hold_id = $1", hold)
    await refused(runtime, "UPDATE legal_holds SET lifted_at = NULL, lifted_by = NULL, lift_reason = NULL")
    assert await runtime.fetchval("SELECT lift_reason FROM legal_holds WHERE hold_id = $1", hold) == "settled"


async def first_column(conn: asyncpg.Connection, table: str) -> str:
    return await conn.fetchval("SELECT quote_ident(attname) FROM pg_attribute WHERE attrelid = $1::regclass "
                               "AND attnum = 1", table)


async def test_the_triggers_stop_the_owner_too(databases, infra, service, superuser_on):
    """Even the role the migrations run as cannot rewrite a history row by mistake, were it to grant
    itself the rights: only dropping the trigger (a deliberate migration) or a superuser gets past."""
    url = await databases.create(service, migrations_of(service))
    name = urlsplit(url).path.lstrip("/")
    async with superuser_on(name) as su:
        # One synthetic row in each history table (row triggers fire only on rows); foreign keys are not
        # checked in replica mode, so no parent rows are needed.
        await su.execute("SET session_replication_role = replica")
        for table in sorted(HISTORY[service]):
            await su.execute(await synthetic_row(su, table))
    owner = await asyncpg.connect(plain(infra.owner_url(service, name)))
    try:
        for table in sorted(HISTORY[service]):
            column = await first_column(owner, table)
            for statement in (f"UPDATE {table} SET {column} = {column}", f"DELETE FROM {table}",
                              f"TRUNCATE {table} CASCADE"):
                with pytest.raises(asyncpg.PostgresError, match="append-only"):
                    async with owner.transaction():
                        await owner.execute(f"GRANT UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public "
                                            "TO CURRENT_USER")
                        await owner.execute(statement)
            assert await owner.fetchval(f"SELECT count(*) FROM {table}") == 1
    finally:
        await owner.close()


SYNTHETIC = {"uuid": "gen_random_uuid()", "text": "'synthetic'", "bigint": "1", "integer": "1", "smallint": "1",
             "boolean": "false", "date": "current_date", "timestamp with time zone": "now()", "jsonb": "'{}'",
             "bytea": "'\\x00'"}


async def synthetic_row(conn: asyncpg.Connection, table: str) -> str:
    """An INSERT giving every required column without a default a made-up value of its type."""
    columns = await conn.fetch(
        "SELECT quote_ident(attname) AS attname, format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = $1::regclass "
        "AND attnum > 0 AND NOT attisdropped AND attnotnull AND NOT atthasdef", table)
    if not columns:
        return f"INSERT INTO {table} DEFAULT VALUES"
    values = ["'{}'" if c["type"].endswith("[]") else SYNTHETIC[c["type"]] for c in columns]
    return f"INSERT INTO {table} ({', '.join(c['attname'] for c in columns)}) VALUES ({', '.join(values)})"


async def test_the_migrations_refuse_a_runtime_role_that_owns_its_tables(databases, infra, superuser_on):
    """A database from before the owner roles (tables owned by the service's login) is not silently
    "secured": the grants would change nothing the owner of the tables could not undo."""
    owner_url = await databases.create_empty("rights")
    name = urlsplit(owner_url).path.lstrip("/")
    config = alembic_config(migrations_of("rights"), owner_url, "cme_rights")
    await asyncio.to_thread(command.upgrade, config, "0004")
    async with superuser_on(name) as su:
        await su.execute("ALTER TABLE audit_log OWNER TO cme_rights")
    with pytest.raises(RuntimeError, match="owns objects in this database"):
        await asyncio.to_thread(upgrade, migrations_of("rights"), owner_url, "head", "cme_rights")
    # What deploy/postgres/init.sql does for such a database, after which the migration goes through.
    async with superuser_on(name) as su:
        await su.execute("REASSIGN OWNED BY cme_rights TO cme_rights_owner")
    await asyncio.to_thread(upgrade, migrations_of("rights"), owner_url, "head", "cme_rights")
    runtime = await asyncpg.connect(plain(infra.service_url("rights", name)))
    try:
        assert await privileges(runtime, "audit_log") == {"SELECT", "INSERT"}
    finally:
        await runtime.close()


@pytest.fixture
def superuser_on(infra):
    """The development superuser on a test database (skipped where there is none, e.g. a managed server)."""
    from contextlib import asynccontextmanager

    admin = urlsplit(infra.pg_admin_dsn)

    @asynccontextmanager
    async def connect(database: str):
        try:
            conn = await asyncpg.connect(f"postgresql://postgres:postgres@{admin.hostname}:{admin.port or 5432}/"
                                         f"{database}", timeout=5)
        except Exception as exc:
            pytest.skip(f"needs the development superuser postgres/postgres: {type(exc).__name__}")
        try:
            yield conn
        finally:
            await conn.close()

    return connect


@pytest.mark.parametrize("service", SERVICES)
async def test_migrate_runs_as_the_owner_only(service, monkeypatch, capsys):
    """`python -m cme_<svc> migrate` takes the owner's URL from CME_MIGRATION_DATABASE_URL and never falls
    back to the runtime login of CME_DATABASE_URL."""
    from typer.testing import CliRunner

    cli = importlib.import_module(f"cme_{service}.__main__").cli
    monkeypatch.delenv("CME_MIGRATION_DATABASE_URL", raising=False)
    monkeypatch.setenv("CME_DATABASE_URL", f"postgresql+asyncpg://cme_{service}:x@127.0.0.1:1/cme_{service}")
    result = CliRunner().invoke(cli, ["migrate"])
    assert result.exit_code == 2
    assert "CME_MIGRATION_DATABASE_URL" in result.output
    assert ServiceSettings(database_url=f"postgresql+asyncpg://cme_{service}:x@h/d").runtime_role() == f"cme_{service}"
