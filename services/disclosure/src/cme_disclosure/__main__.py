"""`python -m cme_disclosure [serve|migrate|verify-log|purge-disclosure]`."""

import asyncio
import uuid
from pathlib import Path
from typing import Annotated

import typer
from aiokafka.errors import KafkaError

from cme_shared.cli import service_cli
from cme_shared.contracts import topics
from cme_shared.contracts.topics import TopicNames
from cme_shared.db import create_engine, session_factory

from .adapters.published_heads import read_published_heads
from .app import create_app
from .service_layer.audit import LogReport, verify_log
from .settings import DisclosureSettings

cli = service_cli(DisclosureSettings, create_app, Path(__file__).parent / "migrations")


@cli.command("verify-log")
def verify_log_command(
    no_kafka: Annotated[bool, typer.Option("--no-kafka", help="offline: skip the heads published on Kafka")] = False,
    kafka_timeout: Annotated[float, typer.Option(help="seconds allowed to read the published heads")] = 30.0,
) -> None:
    """Recompute the disclosure log from its leaves and check every node, head, signature and payload
    digest, and every tree head published on Kafka; exit 1 naming the first bad leaf (`make verify-log`)."""
    settings = DisclosureSettings()

    async def run() -> LogReport:
        published = None
        if not no_kafka:
            # Read first: every head on the topic was committed before the walk below begins.
            topic = TopicNames(settings.topic_namespace)(topics.TREE_HEADS)
            found = await read_published_heads(settings.kafka_bootstrap, topic, kafka_timeout)
            published = found.heads
        engine = create_engine(settings.database_url.get_secret_value(), pool_size=1)
        try:
            async with engine.connect() as conn:
                report = await verify_log(conn, published=published)
        finally:
            await engine.dispose()
        if not no_kafka and found.unreadable:
            report.add(None, f"{found.unreadable} record(s) on {topic} are not tree heads")
        return report

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
                   f"{report.payloads_purged} purged")
        return
    typer.echo(f"disclosure log INCONSISTENT: first bad leaf {report.first_bad_leaf}", err=True)
    for problem in report.problems:
        typer.echo(f"  {problem}", err=True)
    raise typer.Exit(1)


@cli.command("purge-disclosure")
def purge_disclosure_command(
    disclosure_id: uuid.UUID,
    reason: Annotated[str, typer.Option(help="why (retention schedule reference)")],
) -> None:
    """Retention: purge one disclosure's personal data; its leaves stay and the log still verifies."""
    from .domain.policy import load_policy
    from .service_layer.disclosures import Deps, purge
    from .service_layer.log import KeyRing, MerkleLog

    async def run() -> int:
        settings = DisclosureSettings()
        engine = create_engine(settings.database_url.get_secret_value(), pool_size=1)
        try:
            async with session_factory(engine).begin() as session:
                deps = Deps(MerkleLog(KeyRing(settings.signing_key())),
                            load_policy(settings.disclosure_policy_file))
                return await purge(session, deps, disclosure_id, reason)
        finally:
            await engine.dispose()

    typer.echo(f"purged {asyncio.run(run())} payload(s)")


if __name__ == "__main__":
    cli()
