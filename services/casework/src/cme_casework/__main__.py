import asyncio
import json
from datetime import date
from pathlib import Path

import typer

from cme_shared.cli import service_cli
from cme_shared.clock import SYSTEM_CLOCK
from cme_shared.contracts.topics import TopicNames
from cme_shared.db import create_engine, session_factory
from cme_shared.messaging.outbox import Outbox
from cme_shared.retention import DisposalReport, disposal_parts

from .adapters.tables import kit
from .adapters.unit_of_work import CaseworkUnitOfWork
from .app import clock_policy, create_app, ehe_rules
from .service_layer.ehe import lapse_unanswered_s437_notices
from .service_layer.rebuild import rebuild_cases
from .service_layer.retention import run_disposal
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


@cli.command("dispose")
def dispose_command(
    dry_run: bool = typer.Option(False, "--dry-run", help="report what would be disposed of; change nothing"),
    as_of: str | None = typer.Option(None, "--as-of", help="YYYY-MM-DD; default London's today"),
    as_json: bool = typer.Option(False, "--json", help="print the DisposalReport as JSON"),
) -> None:
    """Dispose of what the retention schedule says is due and no legal hold keeps (issue 14, item 1), as the
    disposal role (CME_DISPOSAL_DATABASE_URL); the running service's relay sends the RecordsDisposed events."""
    settings = CaseworkSettings()
    try:
        day = date.fromisoformat(as_of) if as_of else SYSTEM_CLOCK.today()
    except ValueError:
        typer.echo("casework: --as-of must be a date, YYYY-MM-DD", err=True)
        raise typer.Exit(2) from None
    if not dry_run and settings.env == "production" and day > SYSTEM_CLOCK.today():
        # A run dated ahead would destroy records before the schedule lets it (LGA 1972 s224): look ahead
        # with --dry-run; only a test or development environment runs the future for real.
        typer.echo("casework: a disposal run cannot be dated after today in production; use --dry-run", err=True)
        raise typer.Exit(2)
    try:
        schedule = settings.retention_schedule()
        # A dry run only reads: without the disposal login it reads as the service's own.
        url = (settings.database_url.get_secret_value() if dry_run and settings.disposal_database_url is None
               else settings.disposal_url())
    except ValueError as exc:
        typer.echo(f"casework: {exc}", err=True)
        raise typer.Exit(2) from None
    policy = clock_policy(settings)

    async def run() -> DisposalReport:
        async with disposal_parts(settings, kit, SYSTEM_CLOCK, database_url=url) as parts:
            return await run_disposal(lambda: CaseworkUnitOfWork(**parts.unit_of_work(), policy=policy,
                                                                 schedule=schedule),
                                      schedule, day, dry_run=dry_run)

    report = asyncio.run(run())
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
        return
    verb = "would dispose of" if dry_run else "disposed of"
    typer.echo(f"casework: {verb} {len(report.disposed)} records as of {day} (schedule {report.schedule_id}, "
               f"run {report.run_id}); {len(report.held)} kept by a hold")
    for row in report.disposed:
        typer.echo(f"  {row.record_type} {row.record_id} rule {row.rule_id} due {row.due_on}")
    for row in report.held:
        typer.echo(f"  held: {row.record_type} {row.record_id} by {json.dumps([str(h) for h in row.held_by])}")


@cli.command("ehe-lapsed-notices")
def ehe_lapsed_notices_command() -> None:
    """Record every s437(1) notice whose period ended unanswered and open the child's CME case (run daily)."""
    settings = CaseworkSettings()
    policy = clock_policy(settings)

    async def run() -> tuple[int, int]:
        engine = create_engine(settings.database_url.get_secret_value(), pool_size=1)
        try:
            # Signed as the running service signs (the case events it writes go to signed topics).
            outbox = Outbox(kit, signer=settings.message_signer(), namespace=settings.topic_namespace)
            async with CaseworkUnitOfWork(sessions=session_factory(engine), outbox=outbox,
                                          topics=TopicNames(settings.topic_namespace), clock=SYSTEM_CLOCK,
                                          policy=policy, ehe_rules=ehe_rules(settings),
                                          cnis_register=settings.casework_cnis_register) as uow:
                counts = await lapse_unanswered_s437_notices(uow)
                await uow.commit()
            return counts
        finally:
            await engine.dispose()

    lapsed, left = asyncio.run(run())
    typer.echo(f"casework: {lapsed} s437 notices lapsed unanswered (CME cases opened or linked); "
               f"{left} left for an officer (restricted)")


if __name__ == "__main__":
    cli()
