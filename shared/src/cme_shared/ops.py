"""Operator commands shared by every service: topics and broker readiness."""

import asyncio
from typing import Annotated

import typer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from .contracts.topics import TopicNames
from .settings import ServiceSettings

app = typer.Typer(add_completion=False, help="CME platform operations")

PARTITIONS = 3


@app.callback()
def main() -> None:
    """Operator commands (a group, so that `create-topics` is named even while it is the only one)."""


async def ensure_topics(bootstrap: str, names: list[str], partitions: int = PARTITIONS) -> list[str]:
    """Create whichever of `names` do not exist yet; return those created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="cme-ops")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            try:
                await admin.create_topics(
                    [NewTopic(name=n, num_partitions=partitions, replication_factor=1) for n in missing]
                )
            except TopicAlreadyExistsError:
                pass
        return missing
    finally:
        await admin.close()


async def delete_namespace(bootstrap: str, namespace: str) -> int:
    """Delete every topic under a (test) namespace; never the unprefixed production names."""
    if not namespace:
        raise ValueError("refusing to delete topics without a namespace")
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="cme-ops")
    await admin.start()
    try:
        doomed = [t for t in await admin.list_topics() if t.startswith(namespace)]
        if doomed:
            await admin.delete_topics(doomed)
        return len(doomed)
    finally:
        await admin.close()


@app.command("create-topics")
def create_topics(namespace: Annotated[str, typer.Option()] = "") -> None:
    settings = ServiceSettings()
    names = TopicNames(namespace or settings.topic_namespace).all_with_dlqs()
    created = asyncio.run(ensure_topics(settings.kafka_bootstrap, names))
    typer.echo(f"topics: {len(names)} present, {len(created)} created now")


if __name__ == "__main__":
    app()
