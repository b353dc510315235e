"""`python -m cme_disclosure [serve|migrate|verify-log|log-vkey|purge-disclosure]`."""

import asyncio
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from aiokafka.errors import KafkaError

from cme_shared.cli import service_cli
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
                   f"{report.payloads_purged} purged")
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
    reason: Annotated[str, typer.Option(help="why (retention schedule reference)")],
) -> None:
    """Retention: purge one disclosure's personal data; its leaves stay and the log still verifies. The new
    tree head goes into the outbox, for the running service's relay to publish."""
    from cme_shared.runtime import ServiceRuntime

    from .adapters.tables import kit
    from .app import use_disclosure_units_of_work
    from .service_layer.disclosures import purge

    async def run() -> int:
        settings = DisclosureSettings()
        runtime = ServiceRuntime(settings, kit)
        use_disclosure_units_of_work(runtime, settings)
        try:
            async with runtime.unit_of_work() as uow:
                purged = await purge(uow, disclosure_id, reason)  # type: ignore[arg-type]
                await uow.commit()
            return purged
        finally:
            await runtime.engine.dispose()

    typer.echo(f"purged {asyncio.run(run())} payload(s)")


if __name__ == "__main__":
    cli()
