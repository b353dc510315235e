"""`python -m cme_disclosure [serve|migrate|verify-log|log-vkey|dispose|purge-disclosure]`."""

import asyncio
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from aiokafka.errors import KafkaError

from cme_shared.cli import service_cli
from cme_shared.clock import SYSTEM_CLOCK
from cme_shared.contracts import topics
from cme_shared.contracts.topics import TopicNames
from cme_shared.db import create_engine

from .adapters.published_heads import read_published_heads
from .domain.checkpoint import parse_verifier_key, verifier_key
from .domain.tree_head import load_private_key, load_public_key
from .app import create_app
from .service_layer.audit import LogReport, verify_log
from .settings import DisclosureSettings

cli = service_cli(DisclosureSettings, create_app, Path(__file__).parent / "migrations")


@cli.command("verify-log")
def verify_log_command(
    no_kafka: Annotated[bool, typer.Option("--no-kafka", help="offline: skip the heads published on Kafka")] = False,
    kafka_timeout: Annotated[float, typer.Option(help="seconds allowed to read the published heads")] = 30.0,
    publish_grace: Annotated[float, typer.Option(help="seconds a new head may take to reach the topic")] = 30.0,
) -> None:
    """Recompute the disclosure log from its leaves and check every node, head, signature and payload
    digest, and every tree head published on Kafka; exit 1 naming the first bad leaf (`make verify-log`)."""
    settings = DisclosureSettings()

    async def run() -> LogReport:
        return await check_log(settings, kafka=not no_kafka, kafka_timeout=kafka_timeout,
                               publish_grace=publish_grace)

    try:
        report = asyncio.run(run())
    except (KafkaError, OSError, TimeoutError) as exc:
        typer.echo(f"could not read the published tree heads ({type(exc).__name__}); "
                   "use --no-kafka to check the database alone", err=True)
        raise typer.Exit(2) from None
    if report.ok:
        published = "not compared (--no-kafka)" if no_kafka else f"{report.published_heads_checked} compared"
        typer.echo(f"disclosure log OK: {report.tree_size} leaves, {report.heads_checked} signed tree heads, "
                   f"published heads {published}, {report.payloads_checked} payload digests checked, "
                   f"{report.payloads_purged} purged, {report.disposal_leaves} disposal notices")
        return
    typer.echo(f"disclosure log INCONSISTENT: first bad leaf {report.first_bad_leaf}", err=True)
    for problem in report.problems:
        typer.echo(f"  {problem}", err=True)
    raise typer.Exit(1)


async def check_log(settings: DisclosureSettings, kafka: bool = True, kafka_timeout: float = 30.0,
                    publish_grace: float = 30.0) -> LogReport:
    """What `make verify-log` checks: the database against the pinned keys, the witness's cosignatures
    and (`kafka`) the heads published on the tree-heads topic."""
    published = None
    topic = TopicNames(settings.topic_namespace)(topics.TREE_HEADS)
    if kafka:
        # Read first: every head on the topic was committed before the walk below begins.
        found = await read_published_heads(settings.kafka_connection(), topic, kafka_timeout)
        published = found.heads
    engine = create_engine(settings.database_url.get_secret_value(), pool_size=1)
    try:
        async with engine.connect() as conn:
            report = await verify_log(conn, published=published, **trust_anchors(settings),
                                      publish_grace_ms=int(publish_grace * 1000))
    finally:
        await engine.dispose()
    if kafka and not found.topic_exists:
        report.add(None, f"the tree-heads topic {topic} does not exist: the log's copy outside its database "
                         "is gone (deleted?)")
    if kafka and found.unreadable:
        report.add(None, f"{found.unreadable} record(s) on {topic} are not tree heads")
    return report


def trust_anchors(settings: DisclosureSettings) -> dict[str, Any]:
    """What verification trusts, all from configuration and none from the database it checks."""
    witness = settings.log_witness_key
    return {"keys": [load_public_key(pem) for pem in settings.pinned_public_keys()], "origin": settings.log_origin,
            "witness": parse_verifier_key(witness) if witness else None, "witness_key": witness}


@cli.command("log-vkey")
def log_vkey_command() -> None:
    """Print the log's checkpoint origin and signed-note verifier key, for registering with a witness."""
    settings = DisclosureSettings()
    key = load_private_key(settings.log_key()).public_key()
    typer.echo(f"{settings.log_origin} {verifier_key(settings.log_origin, key)}")


@cli.command("purge-disclosure")
def purge_disclosure_command(
    disclosure_id: uuid.UUID,
    reason_code: Annotated[str, typer.Option(help="why, as a code: made_in_error, duplicate, court_order, other "
                                                  "(kept in the purge leaf and the tombstone; no free text)")],
    operator: Annotated[str, typer.Option(help="the records officer's staff id running it")],
    approved_by: Annotated[str, typer.Option(help="the approving DPO's staff id (another person than the operator)")],
) -> None:
    """Dispose of one disclosure by hand, by the disposal job's path (the disposal login, CME_DISPOSAL_DATABASE_URL),
    approved by a DPO other than the operator (both named in the purge leaf): refused while a legal hold or an
    Art 18 restriction keeps it; its leaves stay and the log still verifies; a tombstone stays."""
    from cme_shared.refusal import Refusal

    from .entrypoints.disposal_job import run_purge

    try:
        purged = asyncio.run(run_purge(DisclosureSettings(), disclosure_id, reason_code, operator=operator,
                                       approved_by=approved_by))
    except (Refusal, ValueError) as exc:
        typer.echo(f"not disposed of: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"disposed of: {purged} payload(s) purged, tombstone written")


@cli.command("dispose")
def dispose_command(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="report what would be disposed of; change nothing")] = False,
    as_of: Annotated[str | None, typer.Option("--as-of", help="YYYY-MM-DD (default: today in London)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """The disposal job (run it daily): dispose of every disclosure record past its retention and not held,
    on the disposal login (CME_DISPOSAL_DATABASE_URL); print the records officer's report."""
    from datetime import date

    from .entrypoints.disposal_job import run_dispose

    try:
        day = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        typer.echo("--as-of must be a date, YYYY-MM-DD", err=True)
        raise typer.Exit(2) from None
    settings = DisclosureSettings()
    if day is not None and not dry_run and settings.env == "production" and day > SYSTEM_CLOCK.today():
        # A run dated ahead would destroy records before the schedule lets it (LGA 1972 s224): look ahead with
        # --dry-run; only a test or development environment disposes "in the future" for real.
        typer.echo("disclosure: a disposal run cannot be dated after today in production; use --dry-run", err=True)
        raise typer.Exit(2)
    try:
        report = asyncio.run(run_dispose(settings, as_of=day, dry_run=dry_run))
    except ValueError as exc:
        typer.echo(f"disposal not run: {exc}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
        return
    verb = "would dispose of" if report.dry_run else "disposed of"
    typer.echo(f"disclosure, run {report.run_id}, schedule {report.schedule_id}, as of {report.as_of}: "
               f"{verb} {len(report.disposed)} record(s); {len(report.held)} kept by a legal hold or restriction")
    for row in report.disposed:
        typer.echo(f"  {verb} {row.record_type} {row.record_id} ({row.rule_id}, due {row.due_on})")
    for row in report.held:
        typer.echo(f"  held {row.record_type} {row.record_id} ({row.rule_id}, due {row.due_on}) by "
                   + ", ".join(str(h) for h in row.held_by))


if __name__ == "__main__":
    cli()
