"""The generated partner documentation, and the migration matching the tables the code uses."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from cme_intake.adapters.tables import metadata
from cme_shared.contracts import topics

pytestmark = pytest.mark.integration


async def test_asyncapi_documents_the_partner_topics_from_the_models(intake):
    document = (await intake.client.get("/asyncapi.json")).json()
    addresses = {c["address"] for c in document["channels"].values()}
    for topic in (topics.REFERRALS, topics.REFERRAL_OUTCOMES, topics.dlq(topics.REFERRALS)):
        assert intake.names(topic) in addresses
    referral = document["components"]["schemas"]["Referral"]
    assert referral["additionalProperties"] is False and "child" in referral["required"]
    assert "ReferralOutcome" in document["components"]["schemas"]


async def test_openapi_lists_every_endpoint(intake):
    paths = (await intake.client.get("/openapi.json")).json()["paths"]
    assert {"/referrals", "/public/referrals", "/referrals/{intake_id}", "/triage", "/possible-matches",
            "/possible-matches/{match_id}/resolve", "/possible-matches/{match_id}/approval",
            "/possible-matches/{match_id}/unmerge"} <= set(paths)
    assert "429" in paths["/public/referrals"]["post"]["responses"]


async def test_the_migration_builds_exactly_the_tables_the_code_uses(engine):
    def differences(connection):
        return compare_metadata(MigrationContext.configure(connection), metadata)

    async with engine.connect() as conn:
        assert await conn.run_sync(differences) == []
