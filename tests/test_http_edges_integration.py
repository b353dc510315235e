"""The HTTP edge of every service on the real database and broker (SEC-10, SEC-11, SEC-27): a body over the
limit is refused before it is read (413), a token is checked before a body is read or parsed (401), the
public form takes JSON only (415), and text PostgreSQL cannot store is a 422, not a 500.

The size tests go through uvicorn as `serve` runs it; those that count what the app itself read go through
the in-process transport, which hands the app the body only as fast as it asks for it.
"""

import json
import tracemalloc
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from cme_shared.db import create_engine
from cme_shared.testing.fixtures import bearer, running
from cme_shared.testing.kafka import eventually
from cme_shared.testing.served import SERVICES, accepted_referral, service_app, serving

pytestmark = pytest.mark.integration

KiB, MiB = 1 << 10, 1 << 20
CHUNK = 64 * KiB
JSON = {"content-type": "application/json"}
# A route of each service that needs a token and takes a JSON body.
TOKEN_ROUTES = {"intake": "/referrals", "casework": f"/cases/{uuid.uuid4()}/notes", "disclosure": "/disclosures",
                "rights": "/requests"}
ROLES = {"intake": "partner", "casework": "officer", "disclosure": "officer", "rights": "officer"}


class Stream:
    """A body of `total` bytes, made a chunk at a time as it is pulled (the client never holds it whole)."""

    def __init__(self, total: int) -> None:
        self.total, self.pulled = total, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunk = b"[" + b" " * (CHUNK - 1)
        while self.pulled < self.total:
            self.pulled += CHUNK
            yield chunk


def public_referral(**changes: Any) -> dict[str, Any]:
    """A synthetic member of the public's referral (no real person)."""
    return {
        "schema_version": 1, "referral_id": f"PUB-{uuid.uuid4().hex[:8]}", "submitted_at": "2026-11-02T09:15:00+00:00",
        "source": {"type": "public", "org_id": None, "org_name": None, "contact": None, "anonymous": True},
        "borough": None,
        "notification": {"kind": "child_not_in_school_concern", "details": "Girl of about 9 at home every weekday."},
        "child": {"first_name": "Unknown", "last_name": "Child", "sex": "female",
                  "address": {"line1": "7 Placeholder Gardens", "town": "London", "postcode": "W9 3XX"}},
        "carers": [], "safeguarding": None, **changes,
    }


async def ready(client: httpx.AsyncClient) -> None:
    async def answered() -> bool:
        return (await client.get("/readyz")).status_code == 200

    await eventually(answered, timeout=60)


def code_of(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["errors"][0]["code"]


@pytest.mark.parametrize("service", SERVICES)
async def test_an_8_mib_body_without_a_token_is_answered_unread_and_the_service_stays_ready(
        service, infra, databases, namespace, tmp_path):
    app, settings = await service_app(service, infra, databases, namespace, tmp_path)
    async with serving(app, settings) as base_url, httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        await ready(client)
        answers, peaks = [], []
        for declared in (True, False):  # Content-Length given, then streamed (chunked, no length)
            length = {"content-length": str(8 * MiB)} if declared else {}
            tracemalloc.start()
            try:
                response = await client.post(TOKEN_ROUTES[service], content=Stream(8 * MiB), headers={**JSON, **length})
                peaks.append(tracemalloc.get_traced_memory()[1])
            finally:
                tracemalloc.stop()
            answers.append(code_of(response))
        # The declared size is refused before authentication; a streamed body waits for no byte of it.
        assert answers == [(413, "body_too_large"), (401, "missing_token")]
        assert max(peaks) < 4 * MiB  # client and server together held a fraction of the 8 MiB sent
        assert (await client.get("/readyz")).status_code == 200


async def test_memory_stays_flat_for_a_64_mib_body(infra, databases, namespace, tmp_path):
    app, settings = await service_app("intake", infra, databases, namespace, tmp_path)
    async with serving(app, settings) as base_url, httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        await ready(client)
        peaks = {}
        for size in (8 * MiB, 64 * MiB):
            tracemalloc.start()
            try:
                response = await client.post("/public/referrals", content=Stream(size), headers=JSON)
                peaks[size] = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            assert code_of(response) == (413, "body_too_large")
        assert peaks[64 * MiB] < 4 * MiB and peaks[64 * MiB] < peaks[8 * MiB] + MiB  # flat, not growing with the body
        assert (await client.get("/readyz")).status_code == 200


@asynccontextmanager
async def in_process(service: str, infra, databases, namespace, tmp_path, **overrides: Any):
    app, settings = await service_app(service, infra, databases, namespace, tmp_path, **overrides)
    async with running(app) as client:
        yield client, app, settings


async def test_a_streamed_body_is_cut_off_as_soon_as_it_passes_the_limit(infra, databases, namespace, tmp_path):
    async with in_process("casework", infra, databases, namespace, tmp_path) as (client, _app, settings):
        stream = Stream(8 * MiB)
        response = await client.post(TOKEN_ROUTES["casework"], content=stream,
                                     headers={**JSON, **bearer(settings, "officer", borough="westminster")})
        assert code_of(response) == (413, "body_too_large")
        # The app asked for no more than the limit and the chunk that passed it (the transport reads one ahead).
        assert stream.pulled <= settings.http_max_body_bytes + 2 * CHUNK


async def test_the_public_form_refuses_a_body_over_its_limit_and_keeps_nothing(infra, databases, namespace, tmp_path):
    async with in_process("intake", infra, databases, namespace, tmp_path) as (client, _app, settings):
        limit = 256 * KiB  # the referral routes' own limit, above the service default
        padded = json.dumps(public_referral(notification={"kind": "child_not_in_school_concern",
                                                          "details": "x" * (limit + 1)})).encode()
        assert code_of(await client.post("/public/referrals", content=padded, headers=JSON)) == (413, "body_too_large")
        stream = Stream(8 * MiB)
        assert code_of(await client.post("/public/referrals", content=stream, headers=JSON)) == (413, "body_too_large")
        assert stream.pulled <= limit + 2 * CHUNK
        assert await stored(settings, "SELECT count(*) FROM outbox") == 0
        assert await stored(settings, "SELECT count(*) FROM rejected_messages") == 0
        # Over the service's default but under the referral limit: read, and answered on its merits.
        wide = public_referral(notification={"kind": "child_not_in_school_concern", "details": "y" * (200 * KiB)})
        assert code_of(await client.post("/public/referrals", json=wide)) == (422, "string_too_long")


async def test_the_limits_are_configurable_by_path_prefix(infra, databases, namespace, tmp_path):
    async with in_process("intake", infra, databases, namespace, tmp_path,
                          http_body_limits={"/public/referrals": 256}) as (client, _app, settings):
        assert code_of(await client.post("/public/referrals", json=public_referral())) == (413, "body_too_large")
        assert await stored(settings, "SELECT count(*) FROM outbox") == 0


async def stored(settings: Any, sql: str) -> int:
    engine = create_engine(settings.database_url.get_secret_value(), pool_size=1)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text(sql))).scalar_one()
    finally:
        await engine.dispose()


@pytest.mark.parametrize("path", ["/disclosures", "/requests", "/cases/{case}/notes", "/referrals"])
async def test_malformed_json_without_a_good_token_is_401_not_422(path, infra, databases, namespace, tmp_path):
    service = {"/disclosures": "disclosure", "/requests": "rights", "/referrals": "intake"}.get(path, "casework")
    async with in_process(service, infra, databases, namespace, tmp_path) as (client, _app, settings):
        route = path.format(case=uuid.uuid4())
        assert code_of(await client.post(route, content=b'{"not json', headers=JSON)) == (401, "missing_token")
        assert code_of(await client.post(route, content=b'{"not json')) == (401, "missing_token")
        forged = {**JSON, "authorization": "Bearer not.a.token"}
        assert code_of(await client.post(route, content=b'{"not json', headers=forged)) == (401, "invalid_token")
        # With a good token the body is read and its fault named, as before.
        good = {**JSON, **bearer(settings, ROLES[service], borough="westminster", org_id="100001")}
        assert (await client.post(route, content=b'{"not json', headers=good)).status_code == 422


@pytest.mark.parametrize("content_type", ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/json; charset=latin-1", None])
async def test_the_public_form_takes_only_json_and_keeps_nothing_else(content_type, infra, databases, namespace,
                                                                       tmp_path):
    async with in_process("intake", infra, databases, namespace, tmp_path) as (client, _app, settings):
        body = json.dumps(public_referral()).encode()
        headers = {"content-type": content_type} if content_type else {}
        response = await client.post("/public/referrals", content=body, headers=headers)
        assert code_of(response) == (415, "unsupported_media_type")
        assert response.json()["errors"][0]["loc"] == []
        # No outcome, no dead letter, no reject kept.
        assert await stored(settings, "SELECT count(*) FROM outbox") == 0
        assert await stored(settings, "SELECT count(*) FROM referrals") == 0
        assert await stored(settings, "SELECT count(*) FROM rejected_messages") == 0
        sent = await client.post("/public/referrals", content=body,
                                 headers={"content-type": "application/json; charset=utf-8"})
        assert sent.status_code == 202, sent.text


async def test_a_token_route_refuses_a_body_sent_as_another_type(infra, databases, namespace, tmp_path):
    async with in_process("casework", infra, databases, namespace, tmp_path) as (client, _app, settings):
        headers = {"content-type": "text/plain", **bearer(settings, "officer", borough="westminster")}
        response = await client.post(TOKEN_ROUTES["casework"], content=b'{"kind": "fact"}', headers=headers)
        assert code_of(response) == (415, "unsupported_media_type")


NUL, SURROGATE = "\\u0000", "\\ud800"  # as they come in JSON; a surrogate cannot even be encoded as UTF-8 bytes


@pytest.mark.parametrize("escape", [NUL, SURROGATE])
async def test_text_postgresql_cannot_store_is_a_422_in_every_service(escape, infra, databases, namespace, tmp_path):
    from cme_casework.service_layer.referrals import act_on_referral
    async with in_process("casework", infra, databases, namespace, tmp_path) as (client, app, settings):
        async with app.state.runtime.unit_of_work() as uow:
            case_id = await act_on_referral(uow, accepted_referral())
            await uow.commit()
        officer = {**JSON, **bearer(settings, "officer", borough="westminster")}
        note = '{"kind": "fact", "category": "contact", "text": "seen at the door %s", "source": "neighbour"}'
        response = await client.post(f"/cases/{case_id}/notes", content=(note % escape).encode(), headers=officer)
        assert code_of(response) == (422, "unstorable_text")
        assert response.json()["errors"][0]["loc"] == ["body", "text"]
        plain = await client.post(f"/cases/{case_id}/notes", content=(note % "").encode(), headers=officer)
        assert plain.status_code == 201
        keyed = f'{{"kind": "fact", "category": "contact", "text": "x", "{escape}": 1}}'
        assert code_of(await client.post(f"/cases/{case_id}/notes", content=keyed.encode(), headers=officer)) == (
            422, "unstorable_text")  # in a key too, answered without quoting it

    async with in_process("disclosure", infra, databases, namespace, tmp_path) as (client, _app, settings):
        body = json.dumps({
            "subject_ids": [str(uuid.uuid4())], "purpose": "crime", "legal_gateway": "DPA 2018 Sch 2 Part 1 para 2",
            "recipient": {"type": "police", "org_name": "Metropolitan Police Service", "requester_name": "DC Example",
                          "requester_role": "investigating officer"},
            "categories": ["contact"], "reason": "locating a witness MARK"}).replace("MARK", escape)
        response = await client.post("/disclosures", content=body.encode(),
                                     headers={**JSON, **bearer(settings, "officer", borough="westminster")})
        assert code_of(response) == (422, "unstorable_text")

    async with in_process("rights", infra, databases, namespace, tmp_path) as (client, _app, settings):
        body = json.dumps({"type": "access", "received_on": "2026-11-02", "channel": "email",
                           "requester": {"first_name": "Requester", "last_name": "ExampleMARK", "acting_as": "self"},
                           "subject": {"first_name": "Requester", "last_name": "Example"}}).replace("MARK", escape)
        response = await client.post("/requests", content=body.encode(),
                                     headers={**JSON, **bearer(settings, "officer", borough="westminster")})
        assert code_of(response) == (422, "unstorable_text")
        assert response.json()["errors"][0]["loc"] == ["body", "requester", "last_name"]


async def test_intake_still_replaces_nul_in_a_referral(infra, databases, namespace, tmp_path):
    async with in_process("intake", infra, databases, namespace, tmp_path) as (client, _app, _settings):
        body = json.dumps(public_referral()).replace("every weekday", "every\\u0000weekday")
        response = await client.post("/public/referrals", content=body.encode(), headers=JSON)
        assert response.status_code == 202, response.text
