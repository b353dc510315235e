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
    """Create the kit's outbox and inbox; called from each service's first migration."""
    from alembic import op

    from .messaging.tables import KitTables

    kit = KitTables(MetaData())
    for table in (kit.outbox, kit.inbox):
        table.create(op.get_bind())
