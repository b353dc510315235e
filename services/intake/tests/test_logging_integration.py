"""No personal data in intake's logs, whatever comes in: every sample over Kafka and HTTP (rejects too),
a public referrer's details, officers' reads; the log lines captured as the process writes them."""

import json

import pytest

from cme_shared.contracts import topics
from cme_shared.testing.infra import SAMPLE_REFERRALS

pytestmark = pytest.mark.integration

PERSONAL_FIELDS = {"first_name", "last_name", "date_of_birth", "line1", "postcode", "upn", "nhs_number", "phones",
                   "phone", "email", "name", "details", "aliases", "future_address_from", "deletion_date"}


def personal_values(document, found=None) -> set[str]:
    """Every value of a personal field in a sample (names, dates of birth, postcodes, phones...)."""
    found = set() if found is None else found
    if isinstance(document, dict):
        for key, value in document.items():
            if key in PERSONAL_FIELDS and isinstance(value, str) and len(value) >= 4:
                found.add(value)
            elif key in PERSONAL_FIELDS and isinstance(value, list):
                found |= {v for v in value if isinstance(v, str) and len(v) >= 4}
            else:
                personal_values(value, found)
    elif isinstance(document, list):
        for value in document:
            personal_values(value, found)
    return found


async def test_no_personal_data_reaches_the_logs(start_intake, capfd):
    samples = sorted(SAMPLE_REFERRALS.iterdir())
    documents = [json.loads(p.read_bytes()) for p in samples if p.suffix == ".json"]
    public = documents[0] | {"referral_id": "PUB-LOG", "source": {
        "type": "public", "contact": {"name": "Pat Neighbour", "email": "pat@neighbour.example", "phone": "07700 900777"}}}
    secrets = set().union(*(personal_values(d) for d in [*documents, public]))
    assert {"Amira", "Haddad", "2016-03-14", "W2 1AA", "07700 900123", "Pat Neighbour"} <= secrets

    async with start_intake(log_level="DEBUG") as intake:
        async with intake.reader(topics.REFERRAL_OUTCOMES) as outcomes:
            for path in samples:
                await intake.produce(path.read_bytes(), key=path.name.encode())
            await outcomes.wait_for(lambda rs: len(rs) >= len(samples))
        for path in samples:
            await intake.client.post("/referrals", content=path.read_bytes(), headers=intake.partner("101234"))
        answer = await intake.client.post("/public/referrals", json=public)
        await intake.client.get(f"/referrals/{answer.json()['intake_id']}", headers=intake.manager())
        await intake.client.get("/triage", headers=intake.manager())
        await intake.client.get("/possible-matches", headers=intake.officer())
        await intake.client.post("/possible-matches/not-a-uuid/resolve", json={"decision": "Amira Haddad"},
                                 headers=intake.officer())
    logged = capfd.readouterr()
    text = logged.out + logged.err
    assert '"event": "dead_lettered"' in text and '"service": "intake"' in text  # the logs were captured
    leaked = sorted(s for s in secrets if s in text)
    assert leaked == []
