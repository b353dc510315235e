"""SEC-01 on intake itself: an outcome too large for Kafka no longer stops intake's outbox. It is
quarantined, intake stays ready, the referrals after it get their outcomes and cases, and an operator
sees it with `python -m cme_intake outbox` and drops it (a release is in the kit's own tests)."""

import asyncio
import json
import logging

import pytest
import structlog
from sqlalchemy import MetaData
from typer.testing import CliRunner

from cme_intake.__main__ import cli
from cme_shared.contracts import topics
from cme_shared.db import session_factory
from cme_shared.messaging.outbox import Outbox
from cme_shared.messaging.tables import KitTables
from cme_shared.testing.kafka import eventually

pytestmark = pytest.mark.integration

OVERSIZED = 1_200_000  # SEC-01 measured a 1,120,483-byte outcome and a 1,330,400-byte dead letter


async def operator(intake, *args: str):
    env = {"CME_DATABASE_URL": intake.settings.database_url.get_secret_value(), "CME_ENV": "test"}
    saved, handlers = structlog.get_config(), logging.getLogger().handlers[:]  # the command sets up its own
    try:
        return await asyncio.to_thread(CliRunner().invoke, cli, ["outbox", *args], env=env)
    finally:
        structlog.configure(**saved)
        logging.getLogger().handlers[:] = handlers


async def _equals(value, expected) -> bool:
    return await value == expected


def metric(text: str, name: str) -> float:
    [value] = [line.split()[-1] for line in text.splitlines() if line.startswith(name + " ")]
    return float(value)


async def test_an_outcome_too_large_for_kafka_is_quarantined_and_intake_flows_on(intake, sample):
    async with session_factory(intake.engine).begin() as session:  # what a hostile 130 KB request left behind
        await Outbox(KitTables(MetaData())).add_raw(
            session, topic=intake.names(topics.REFERRAL_OUTCOMES), key=b"hostile",
            payload=b"{" + b" " * OVERSIZED + b"}", headers=[("event_type", b"ReferralOutcome")],
            aggregate_type="referral", aggregate_id="hostile", event_type="ReferralOutcome")

    document = sample("accepted-school-deletion-no-destination.json")
    async with intake.reader(topics.REFERRAL_OUTCOMES) as outcomes, \
            intake.reader(topics.REFERRAL_ACCEPTED) as accepted:
        await intake.produce(document, key=b"after-the-big-one")
        await outcomes.wait_for(lambda rs: len(rs) >= 1, timeout=10)
        await accepted.wait_for(lambda rs: len(rs) >= 1, timeout=10)  # so casework opens the case
        await outcomes.settle(1.0)
    assert [json.loads(r.value)["status"] for r in outcomes.records] == ["accepted"]

    ready = await intake.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["outbox_relay"] is True
    async def scraped(name: str) -> float:  # the relay refreshes its gauges every few seconds
        return metric((await intake.client.get("/metrics")).text, name)

    await eventually(lambda: _equals(scraped("cme_outbox_quarantined_rows"), 1))
    await eventually(lambda: _equals(scraped("cme_outbox_unpublished_rows"), 0))

    listing = await operator(intake, "quarantined")
    assert listing.exit_code == 0, listing.output
    assert "ReferralOutcome" in listing.stdout and "too_large" in listing.stdout
    assert "1 quarantined row" in listing.stdout
    [outbox_id] = [row[0] for row in await intake.rows("SELECT id FROM outbox WHERE quarantined_at IS NOT NULL")]
    dropped = await operator(intake, "drop", str(outbox_id), "--reason", "INC-1234", "--yes")
    assert dropped.exit_code == 0, dropped.output
    assert await intake.scalar("SELECT count(*) FROM outbox WHERE quarantined_at IS NOT NULL") == 0
    refused = await operator(intake, "drop", str(outbox_id), "--reason", "a note with spaces", "--yes")
    assert refused.exit_code != 0  # an operator's reason is logged: a reference, never free text
