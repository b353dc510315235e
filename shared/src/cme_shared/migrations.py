"""Alembic, driven the same way by every service: its own migrations folder, its own database.

Migrations run as the database's owner role (`cme_<svc>_owner`, CME_MIGRATION_DATABASE_URL), which owns
every table; the service runs as its runtime role (`cme_<svc>`), which owns nothing and holds only what
`grant_runtime_role` and `append_only` give it (CONTRACT 1, SEC-08).
"""

import asyncio
from collections.abc import Sequence
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

# The trigger function that refuses UPDATE, DELETE and TRUNCATE on a history table, even to its owner.
HISTORY_GUARD = "refuse_history_change"


def alembic_config(migrations_dir: Path, database_url: str, runtime_role: str | None = None) -> Config:
    """`database_url` is the owner's; `runtime_role` the login the service runs as (by default the owner's
    name without `_owner`)."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.attributes["database_url"] = database_url
    if runtime_role is not None:
        config.attributes["runtime_role"] = runtime_role
    return config


def upgrade(migrations_dir: Path, database_url: str, revision: str = "head", runtime_role: str | None = None) -> None:
    command.upgrade(alembic_config(migrations_dir, database_url, runtime_role), revision)


def run_env(target_metadata: MetaData) -> None:
    """The body of each service's alembic `env.py`."""
    url = context.config.attributes.get("database_url")
    if url is None:  # run by the alembic CLI: read the service's settings
        from .settings import ServiceSettings

        settings = ServiceSettings()
        url = settings.migration_url()
        context.config.attributes.setdefault("runtime_role", settings.runtime_role())

    def run(connection: Connection) -> None:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(run)
        await engine.dispose()

    asyncio.run(run_async())


def create_kit_tables() -> None:
    """Create the kit's outbox and inbox as first shipped; called from each service's first migration.

    Written out, not built from `messaging.tables`: a revision must create the same tables whenever it
    runs, and the kit's later changes come in later revisions (`add_outbox_quarantine`).
    """
    import sqlalchemy as sa
    from alembic import op
    from sqlalchemy.dialects.postgresql import JSONB, UUID

    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("key", sa.LargeBinary, nullable=True),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("headers", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("aggregate_type", sa.Text, nullable=False),
        sa.Column("aggregate_id", sa.Text, nullable=False),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("outbox_unpublished", "outbox", ["id"], postgresql_where=sa.text("published_at IS NULL"))
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.Text, nullable=False),
        sa.Column("message_id", sa.Text, nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("consumer", "message_id"),
    )


def add_outbox_quarantine() -> None:
    """The relay's quarantine (issue 11): a row it cannot send is kept and marked, and skipped.

    The claim index leaves quarantined rows out, so the relay never reads past them; a second, small
    index finds them for the operator. Adding nullable columns, or one with a constant default, does
    not rewrite the table. Table privileges cover columns added later, so the runtime role may use them.
    """
    import sqlalchemy as sa
    from alembic import op

    op.add_column("outbox", sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")))
    op.add_column("outbox", sa.Column("quarantined_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("outbox", sa.Column("quarantine_reason", sa.Text, nullable=True))
    op.add_column("outbox", sa.Column("record_bytes", sa.Integer, nullable=True))
    op.create_index("outbox_unsent", "outbox", ["id"],
                    postgresql_where=sa.text("published_at IS NULL AND quarantined_at IS NULL"))
    op.create_index("outbox_quarantined", "outbox", ["id"], postgresql_where=sa.text("quarantined_at IS NOT NULL"))
    op.drop_index("outbox_unpublished", table_name="outbox")


def create_access_log() -> None:
    """Who looked at whose record (issue 13, cme_shared.access_log), as first shipped; append-only: the
    runtime role may INSERT and SELECT it, and nobody may change or delete a row."""
    import sqlalchemy as sa
    from alembic import op
    from sqlalchemy.dialects.postgresql import UUID

    op.create_table(
        "access_log",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("accessed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("borough", sa.Text, nullable=True),
        sa.Column("subject_id", UUID(as_uuid=True), nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("record_type", sa.Text, nullable=True),
        sa.Column("record_id", sa.Text, nullable=True),
        sa.Column("returned", sa.Text, nullable=False),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("correlation_id", sa.Text, nullable=True),
    )
    op.create_index("access_log_subject", "access_log", ["subject_id", "accessed_at"])
    append_only("access_log")


def drop_access_log() -> None:
    from alembic import op

    drop_append_only("access_log")
    op.drop_table("access_log")


def drop_outbox_quarantine() -> None:
    """Undo `add_outbox_quarantine`; quarantined rows become ordinary unpublished rows again."""
    import sqlalchemy as sa
    from alembic import op

    op.create_index("outbox_unpublished", "outbox", ["id"], postgresql_where=sa.text("published_at IS NULL"))
    op.drop_index("outbox_quarantined", table_name="outbox")
    op.drop_index("outbox_unsent", table_name="outbox")
    for column in ("record_bytes", "quarantine_reason", "quarantined_at", "attempts"):
        op.drop_column("outbox", column)


def _runtime_role() -> str:
    """The role the service logs in as: given by `migrate` (the user of CME_DATABASE_URL) or the test
    fixtures; else named after the owner (`cme_intake_owner` -> `cme_intake`)."""
    import sqlalchemy as sa
    from alembic import op

    role = context.config.attributes.get("runtime_role")
    if role is None:
        owner = op.get_bind().execute(sa.text("SELECT current_user")).scalar_one()
        if not owner.endswith("_owner"):
            raise RuntimeError(f"migrations run as {owner!r}, not as an owner role (cme_<service>_owner): "
                               "set CME_MIGRATION_DATABASE_URL to the owner's URL")
        role = owner.removesuffix("_owner")
    return role


def _check_separation(role: str) -> None:
    """Refuse to grant anything while the runtime role could undo it: if it is the role running the
    migrations, owns the database or anything in it (a database from before the owner roles, not yet
    passed on by deploy/postgres/init.sql's REASSIGN OWNED), or can act as the owner."""
    import sqlalchemy as sa
    from alembic import op

    bind = op.get_bind()
    found = bind.execute(sa.text("""
        SELECT r.oid IS NULL AS missing,
               r.rolname = current_user AS is_owner,
               r.rolsuper OR r.rolbypassrls AS too_strong,
               pg_has_role(r.oid, (SELECT datdba FROM pg_database WHERE datname = current_database()), 'MEMBER')
                 AS acts_as_owner,
               EXISTS (SELECT 1 FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid
                       WHERE d.datname = current_database() AND s.deptype = 'o'
                         AND s.refclassid = 'pg_authid'::regclass AND s.refobjid = r.oid) AS owns_objects
        FROM (SELECT 1) one LEFT JOIN pg_roles r ON r.rolname = :role
    """), {"role": role}).mappings().one()
    if found["missing"]:
        raise RuntimeError(f"the runtime role {role!r} does not exist (deploy/postgres/init.sql creates it)")
    problems = [text for key, text in (
        ("is_owner", "is the role running the migrations"),
        ("too_strong", "is a superuser or bypasses row security"),
        ("acts_as_owner", "owns the database or is a member of its owner"),
        ("owns_objects", "owns objects in this database (run deploy/postgres/init.sql: REASSIGN OWNED)"),
    ) if found[key]]
    if problems:
        raise RuntimeError(f"the runtime role {role!r} " + "; ".join(problems)
                           + ": it must own nothing that it could re-grant or alter")


def grant_runtime_role(history: Sequence[str]) -> None:
    """Give the runtime role what a service needs, and nothing it could use to rewrite history.

    CONNECT and USAGE on the schema; SELECT, INSERT, UPDATE and DELETE on every table, USAGE and SELECT
    on every sequence, now and (default privileges of the owner) for tables later migrations create;
    then `history` narrowed to INSERT and SELECT, and `alembic_version` to SELECT. TRUNCATE, REFERENCES
    and TRIGGER are never granted, and neither is any grant option; not owning anything, the runtime role
    cannot grant, alter, disable triggers or drop. A history table created later is listed in its own
    migration's `append_only` call: default privileges cannot tell it from an ordinary one.
    """
    import sqlalchemy as sa
    from alembic import op

    role = _runtime_role()
    _check_separation(role)
    quoted = op.get_bind().dialect.identifier_preparer.quote(role)
    database = op.get_bind().execute(sa.text("SELECT quote_ident(current_database())")).scalar_one()
    op.execute(f"GRANT CONNECT ON DATABASE {database} TO {quoted}")
    op.execute(f"GRANT USAGE ON SCHEMA public TO {quoted}")
    op.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")  # before PostgreSQL 15 anyone could create tables
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}")
    op.execute(f"REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {quoted}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {quoted}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {quoted}")
    for table in history:
        op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM {quoted}")


def revoke_runtime_role() -> None:
    """Undo `grant_runtime_role`: the runtime role keeps no privilege in this database."""
    import sqlalchemy as sa
    from alembic import op

    quoted = op.get_bind().dialect.identifier_preparer.quote(_runtime_role())
    database = op.get_bind().execute(sa.text("SELECT quote_ident(current_database())")).scalar_one()
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM {quoted}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {quoted}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {quoted}")
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {quoted}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {quoted}")
    op.execute(f"REVOKE CONNECT ON DATABASE {database} FROM {quoted}")


def append_only(*tables: str) -> None:
    """History tables (records as they happened, LGA 1972 s224): the runtime role may INSERT and SELECT
    only, and triggers refuse UPDATE, DELETE and TRUNCATE to every role, the owner included, so even a
    migration cannot rewrite a row by mistake. Only dropping the trigger (the owner) or a superuser
    disabling it gets past."""
    from alembic import op

    quoted = op.get_bind().dialect.identifier_preparer.quote(_runtime_role())
    # A service whose first migration made its own guard of this name (casework, rights) keeps it.
    op.execute(f"""
        DO $do$ BEGIN
          IF to_regprocedure('{HISTORY_GUARD}()') IS NULL THEN
            CREATE FUNCTION {HISTORY_GUARD}() RETURNS trigger LANGUAGE plpgsql AS $f$
            BEGIN
              RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'insufficient_privilege';
            END $f$;
          END IF;
        END $do$
    """)
    for table in tables:
        op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM {quoted}")
        op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION {HISTORY_GUARD}()")
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION {HISTORY_GUARD}()")


def drop_append_only(*tables: str) -> None:
    """Undo `append_only`'s triggers (the guard function stays for its other tables; the runtime role's
    privileges are `revoke_runtime_role`'s business)."""
    from alembic import op

    for table in tables:
        op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
        op.execute(f"DROP TRIGGER {table}_append_only ON {table}")


# Retention and disposal (issue 14, item 1; DOMAIN section 3). Disposal is the one sanctioned way content
# leaves a history table. It is done by a third login per service, `cme_<svc>_disposal`, used only by the
# disposal job (`python -m cme_<svc> dispose`), never by the running service: the runtime role keeps
# INSERT and SELECT on history, and the history tables' triggers let the disposal role, and it alone,
# DELETE or UPDATE a row. TRUNCATE stays refused to everyone.
DISPOSAL_GUARD = "refuse_history_change_but_disposal"
HOLD_GUARD = "legal_hold_lift_only"


def disposal_role() -> str:
    """The disposal job's login: the runtime role's name with `_disposal` (cme_casework_disposal)."""
    return _runtime_role() + "_disposal"


def grant_disposal_role(*, select: Sequence[str] = (), delete: Sequence[str] = (), update: Sequence[str] = (),
                        insert: Sequence[str] = ()) -> None:
    """Give the disposal role CONNECT, schema USAGE, sequence USAGE and exactly the listed table rights.

    A table it deletes from or updates must also be in `select` (PostgreSQL needs SELECT for a WHERE); a
    history table among them must also be opened with `open_to_disposal`. Call again in a later migration
    to widen it; `revoke_disposal_role` undoes it all.
    """
    import sqlalchemy as sa
    from alembic import op

    role = disposal_role()
    bind = op.get_bind()
    if not bind.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar():
        raise RuntimeError(f"the disposal role {role!r} does not exist (deploy/postgres/init.sql creates it)")
    quoted = bind.dialect.identifier_preparer.quote(role)
    database = bind.execute(sa.text("SELECT quote_ident(current_database())")).scalar_one()
    op.execute(f"GRANT CONNECT ON DATABASE {database} TO {quoted}")
    op.execute(f"GRANT USAGE ON SCHEMA public TO {quoted}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}")
    for privilege, tables in (("SELECT", select), ("DELETE", delete), ("UPDATE", update), ("INSERT", insert)):
        for table in tables:
            op.execute(f"GRANT {privilege} ON {table} TO {quoted}")


def revoke_disposal_role() -> None:
    import sqlalchemy as sa
    from alembic import op

    role = disposal_role()
    bind = op.get_bind()
    if not bind.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar():
        return
    quoted = bind.dialect.identifier_preparer.quote(role)
    database = bind.execute(sa.text("SELECT quote_ident(current_database())")).scalar_one()
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {quoted}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {quoted}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {quoted}")
    op.execute(f"REVOKE CONNECT ON DATABASE {database} FROM {quoted}")


def open_to_disposal(*tables: str) -> None:
    """History tables the disposal job may remove rows from: their row trigger (made by `append_only` or a
    service's first migration, `<table>_append_only`) is replaced by one that lets the disposal role
    through and refuses everyone else as before, the owner included. The TRUNCATE trigger stays."""
    from alembic import op

    role = disposal_role()
    op.execute(f"""
        CREATE OR REPLACE FUNCTION {DISPOSAL_GUARD}() RETURNS trigger LANGUAGE plpgsql AS $f$
        BEGIN
          IF current_user = TG_ARGV[0] THEN
            IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
            RETURN NEW;
          END IF;
          RAISE EXCEPTION '% is append-only: % refused (only the disposal job may remove a record)',
            TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
        END $f$
    """)
    for table in tables:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION {DISPOSAL_GUARD}('{role}')")


def close_to_disposal(*tables: str) -> None:
    """Undo `open_to_disposal`: the tables refuse every change again."""
    from alembic import op

    for table in tables:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION {HISTORY_GUARD}()")


def create_retention_tables() -> None:
    """The kit's two retention tables, in every service (cme_shared.retention):

    - `disposal_tombstones` (append-only): what was disposed of, when, under which rule, in which run; ids
      and codes only (DOMAIN section 3: "at disposal the content goes; a minimal tombstone stays").
      `subject_digests` holds keyed digests of the subject's identifiers where a service must still match
      a later subject access request to a disposed record (intake), never the identifiers.
    - `legal_holds`: records kept past their retention while a hold is in force, by subject, case or
      record; placing and lifting are recorded (who, when, why), a lifted hold stays as a row.

    The runtime role may INSERT and SELECT tombstones and use legal holds; the disposal role may INSERT
    tombstones and read holds (call `grant_disposal_role` for the service's own tables as well).
    """
    import sqlalchemy as sa
    from alembic import op
    from sqlalchemy.dialects.postgresql import ARRAY, UUID

    op.create_table(
        "disposal_tombstones",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("run_id", UUID(as_uuid=True), nullable=False),
        sa.Column("record_type", sa.Text, nullable=False),
        sa.Column("record_id", sa.Text, nullable=False),
        sa.Column("subject_ids", ARRAY(UUID(as_uuid=True)), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("subject_digests", ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("case_ids", ARRAY(UUID(as_uuid=True)), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("categories", ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("schedule_id", sa.Text, nullable=False),
        sa.Column("rule_id", sa.Text, nullable=False),
        sa.Column("clock_started_on", sa.Date, nullable=True),
        sa.Column("due_on", sa.Date, nullable=True),
        sa.Column("reason", sa.Text, nullable=False),  # schedule | fan_out:<service>
        sa.Column("disposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("record_type", "record_id", name="disposal_tombstones_once"),
    )
    op.create_index("disposal_tombstones_subjects", "disposal_tombstones", ["subject_ids"], postgresql_using="gin")
    op.create_index("disposal_tombstones_digests", "disposal_tombstones", ["subject_digests"],
                    postgresql_using="gin")
    append_only("disposal_tombstones")
    op.create_table(
        "legal_holds",
        sa.Column("hold_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("scope", sa.Text, nullable=False),  # subject | case | record
        sa.Column("target_id", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("placed_by", sa.Text, nullable=False),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lifted_by", sa.Text, nullable=True),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lift_reason", sa.Text, nullable=True),
        sa.CheckConstraint("scope IN ('subject', 'case', 'record')", name="legal_holds_scope"),
    )
    op.create_index("legal_holds_in_force", "legal_holds", ["scope", "target_id"],
                    postgresql_where=sa.text("lifted_at IS NULL"))
    # A hold is placed, and lifted at most once (who, when, why), never deleted or rewritten: otherwise the
    # service's own login could quietly undo a hold the night before the disposal job runs.
    quoted = op.get_bind().dialect.identifier_preparer.quote(_runtime_role())
    op.execute(f"REVOKE DELETE, TRUNCATE ON legal_holds FROM {quoted}")
    op.execute(f"""
        CREATE OR REPLACE FUNCTION {HOLD_GUARD}() RETURNS trigger LANGUAGE plpgsql AS $f$
        BEGIN
          IF TG_OP = 'UPDATE' AND OLD.lifted_at IS NULL AND NEW.lifted_at IS NOT NULL
             AND NEW.lifted_by IS NOT NULL AND NEW.lift_reason IS NOT NULL
             AND (NEW.hold_id, NEW.scope, NEW.target_id, NEW.reason, NEW.placed_by, NEW.placed_at)
                 IS NOT DISTINCT FROM (OLD.hold_id, OLD.scope, OLD.target_id, OLD.reason, OLD.placed_by, OLD.placed_at)
          THEN
            RETURN NEW;
          END IF;
          RAISE EXCEPTION 'legal_holds: a hold is placed and lifted once, never changed or removed (% refused)',
            TG_OP USING ERRCODE = 'insufficient_privilege';
        END $f$
    """)
    op.execute(f"CREATE TRIGGER legal_holds_lift_only BEFORE UPDATE OR DELETE ON legal_holds "
               f"FOR EACH ROW EXECUTE FUNCTION {HOLD_GUARD}()")
    op.execute(f"CREATE TRIGGER legal_holds_no_truncate BEFORE TRUNCATE ON legal_holds "
               f"FOR EACH STATEMENT EXECUTE FUNCTION {HISTORY_GUARD}()")


def drop_retention_tables() -> None:
    from alembic import op

    op.execute("DROP TRIGGER IF EXISTS legal_holds_no_truncate ON legal_holds")
    op.execute("DROP TRIGGER IF EXISTS legal_holds_lift_only ON legal_holds")
    op.drop_table("legal_holds")
    op.execute(f"DROP FUNCTION IF EXISTS {HOLD_GUARD}()")
    drop_append_only("disposal_tombstones")
    op.drop_table("disposal_tombstones")
