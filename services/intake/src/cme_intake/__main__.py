import asyncio
from datetime import date
from pathlib import Path

import typer

from cme_shared.cli import service_cli
from cme_shared.clock import SYSTEM_CLOCK

from .app import create_app
from .settings import IntakeSettings

cli = service_cli(IntakeSettings, create_app, Path(__file__).parent / "migrations")


@cli.command("dispose")
def dispose_command(
    dry_run: bool = typer.Option(False, "--dry-run", help="report what would be disposed of; change nothing"),
    as_of: str | None = typer.Option(None, "--as-of", help="YYYY-MM-DD; default London's today"),
    as_json: bool = typer.Option(False, "--json", help="print the DisposalReport as JSON"),
) -> None:
    """Dispose of the referrals, dead letters and identities that are due and not held (issue 14, item 1), as
    the disposal role (CME_DISPOSAL_DATABASE_URL); the running service's relay sends the RecordsDisposed events."""
    from cme_shared.logging import configure_logging

    from .entrypoints.disposal_job import run_dispose

    configure_logging("intake")  # JSON lines on stdout, as the service logs; the report is the last line
    try:
        day = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        typer.echo("intake: --as-of must be a date, YYYY-MM-DD", err=True)
        raise typer.Exit(2) from None
    settings = IntakeSettings()
    if day is not None and not dry_run and settings.env == "production" and day > SYSTEM_CLOCK.today():
        # A run dated ahead would destroy records before the schedule lets it (LGA 1972 s224): look ahead with
        # --dry-run; only a test or development environment disposes "in the future" for real.
        typer.echo("intake: a disposal run cannot be dated after today in production; use --dry-run", err=True)
        raise typer.Exit(2)
    try:
        report = asyncio.run(run_dispose(settings, as_of=day, dry_run=dry_run))
    except ValueError as exc:  # no disposal login, a schedule file that does not validate
        typer.echo(f"intake: {exc}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(report.model_dump_json())
        return
    verb = "would dispose of" if dry_run else "disposed of"
    typer.echo(f"intake: {verb} {len(report.disposed)} records as of {report.as_of} (schedule {report.schedule_id}, "
               f"run {report.run_id}); {len(report.held)} kept by a legal hold")
    for row in report.disposed:
        typer.echo(f"  {row.record_type} {row.record_id} rule {row.rule_id} due {row.due_on}")
    for row in report.held:
        typer.echo(f"  held: {row.record_type} {row.record_id} by {', '.join(str(h) for h in row.held_by)}")
    for refused in report.refused:
        typer.echo(f"  refused: {refused.record_type} {refused.record_id} ({refused.reason})")


if __name__ == "__main__":
    cli()
