"""Alembic, driven the same way by every service: its own migrations folder, its own database."""

import asyncio
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine


def alembic_config(migrations_dir: Path, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.attributes["database_url"] = database_url
    return config


def upgrade(migrations_dir: Path, database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(migrations_dir, database_url), revision)


def run_env(target_metadata: MetaData) -> None:
    """The body of each service's alembic `env.py`."""
    url = context.config.attributes.get("database_url")
    if url is None:  # run by the alembic CLI: read the service's settings
        from .settings import ServiceSettings

        url = ServiceSettings().database_url.get_secret_value()

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
    not rewrite the table. The service's role owns the table, so its rights cover the new columns.
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


def drop_outbox_quarantine() -> None:
    """Undo `add_outbox_quarantine`; quarantined rows become ordinary unpublished rows again."""
    import sqlalchemy as sa
    from alembic import op

    op.create_index("outbox_unpublished", "outbox", ["id"], postgresql_where=sa.text("published_at IS NULL"))
    op.drop_index("outbox_quarantined", table_name="outbox")
    op.drop_index("outbox_unsent", table_name="outbox")
    for column in ("record_bytes", "quarantine_reason", "quarantined_at", "attempts"):
        op.drop_column("outbox", column)
