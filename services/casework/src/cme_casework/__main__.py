import asyncio
from pathlib import Path

import typer

from cme_shared.cli import service_cli
from cme_shared.clock import SYSTEM_CLOCK
from cme_shared.contracts.topics import TopicNames
from cme_shared.db import create_engine, session_factory
from cme_shared.messaging.outbox import Outbox

from .adapters.tables import kit
from .adapters.unit_of_work import CaseworkUnitOfWork
from .app import clock_policy, create_app
from .service_layer.rebuild import rebuild_cases
from .settings import CaseworkSettings

cli = service_cli(CaseworkSettings, create_app, Path(__file__).parent / "migrations")


@cli.command("rebuild-cases")
def rebuild_cases_command() -> None:
    """Rewrite the `cases` table from the case history (after changing term dates or clock settings)."""
    settings = CaseworkSettings()
    policy = clock_policy(settings)

    async def run() -> int:
        engine = create_engine(settings.database_url.get_secret_value(), pool_size=1)
        try:
            # A rebuild only rewrites the projection: its unit of work never adds to the outbox.
            async with CaseworkUnitOfWork(sessions=session_factory(engine), outbox=Outbox(kit),
                                          topics=TopicNames(settings.topic_namespace), clock=SYSTEM_CLOCK,
                                          policy=policy) as uow:
                rebuilt = await rebuild_cases(uow)
                await uow.commit()
            return rebuilt
        finally:
            await engine.dispose()

    typer.echo(f"casework: {asyncio.run(run())} cases rebuilt from their history")


if __name__ == "__main__":
    cli()
