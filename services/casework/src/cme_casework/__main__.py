import asyncio
from pathlib import Path

import typer

from cme_shared.cli import service_cli
from cme_shared.db import create_engine, session_factory

from .app import clock_policy, create_app
from .service_layer.projection import rebuild_cases
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
            async with session_factory(engine).begin() as session:
                return await rebuild_cases(session, policy)
        finally:
            await engine.dispose()

    typer.echo(f"casework: {asyncio.run(run())} cases rebuilt from their history")


if __name__ == "__main__":
    cli()
