import asyncio
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from cme_shared.cli import service_cli
from cme_shared.logging import configure_logging
from cme_shared.refusal import Refusal

from .app import collection_policy, create_app
from .entrypoints import disposal
from .settings import RightsSettings

cli = service_cli(RightsSettings, create_app, Path(__file__).parent / "migrations")


@cli.command()
def dispose(dry_run: Annotated[bool, typer.Option("--dry-run", help="print the report, change nothing")] = False,
            as_of: Annotated[str | None, typer.Option("--as-of", help="YYYY-MM-DD (default: London's today)")] = None,
            as_json: Annotated[bool, typer.Option("--json", help="the report as JSON")] = False) -> None:
    """Dispose of the rights requests past their retention and under no legal hold (issue 14): their content
    goes, a tombstone stays, RecordsDisposed goes to the outbox. As CME_DISPOSAL_DATABASE_URL only."""
    settings = RightsSettings()
    configure_logging(settings.service_name, settings.log_level)
    try:
        day = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        typer.echo("--as-of must be a date, YYYY-MM-DD", err=True)
        raise typer.Exit(2) from None
    try:
        report = asyncio.run(disposal.run(settings, collection_policy(settings), as_of=day, dry_run=dry_run))
    except (ValueError, Refusal) as exc:  # no disposal login, a bad schedule file, a date in the future
        typer.echo(f"rights: {getattr(exc, 'message', exc)}", err=True)
        raise typer.Exit(2) from None
    typer.echo(report.model_dump_json(indent=2) if as_json else disposal.summary(report))


if __name__ == "__main__":
    cli()
