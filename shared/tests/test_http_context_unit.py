"""What every answer of every service carries, on the kit's real app (`create_service_app`, with no database
or broker behind it): the correlation id, in errors too; the access line, also when the handler raised;
security headers; validation errors that quote nothing of the request (SEC-15, SEC-16, SEC-28)."""

import json
import uuid
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict
from sqlalchemy import MetaData

from cme_shared.auth import Principal, Role, require_roles
from cme_shared.http.app import HSTS, create_service_app
from cme_shared.messaging.tables import KitTables
from cme_shared.runtime import ServiceRuntime
from cme_shared.settings import ServiceSettings
from cme_shared.testing.fixtures import bearer
from cme_shared.testing.signing import TEST_KEYS

pytestmark = pytest.mark.unit

CLOSED = "postgresql+asyncpg://x:x@127.0.0.1:1/x"  # any database access fails


class Note(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str


def service_app(env: str = "test"):
    settings = ServiceSettings(env=env, service_name="casework", database_url=CLOSED, kafka_bootstrap="127.0.0.1:1",
                               kafka_security_protocol="PLAINTEXT",
                               **TEST_KEYS.settings_for("casework"))
    router = APIRouter()
    Officer = Annotated[Principal, Depends(require_roles(Role.OFFICER))]

    @router.get("/cases/{case_id}")
    async def case(case_id: uuid.UUID, _principal: Officer) -> dict:
        return {"case_id": str(case_id), "child": "Amelia Okonkwo"}

    @router.post("/cases/{case_id}/notes", status_code=201)
    async def note(case_id: uuid.UUID, body: Note, _principal: Officer) -> dict:
        return {"text": body.text}

    @router.get("/cases/{case_id}/boom")
    async def boom(case_id: uuid.UUID, _principal: Officer) -> dict:
        raise RuntimeError(f"while reading the case of Amelia Okonkwo ({case_id})")

    @router.get("/cases/{case_id}/away")
    async def away(case_id: uuid.UUID, _principal: Officer) -> dict:
        raise ConnectionRefusedError("database at 10.0.0.5 refused Amelia")

    app = create_service_app(ServiceRuntime(settings, KitTables(MetaData())), title="t", description="t",
                             routers=[router], asyncapi=dict)
    return app, settings


async def call(method: str, path: str, *, env: str = "test", roles=("officer",), **kwargs) -> httpx.Response:
    app, settings = service_app(env)
    headers = {**(bearer(settings, *roles, borough="westminster", sub="officer-7") if roles else {}),
               **kwargs.pop("headers", {})}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        return await client.request(method, path, headers=headers, **kwargs)


def lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.strip().splitlines() if line.startswith("{")]


CASE = "2a8f0c4e-1234-4abc-8def-044123456789"


async def test_a_500_quotes_the_correlation_id_of_its_log_lines_and_the_access_line_is_written(capsys):
    capsys.readouterr()
    answer = await call("GET", f"/cases/{CASE}/boom")
    assert answer.status_code == 500
    correlation_id = answer.headers["x-correlation-id"]
    uuid.UUID(correlation_id)
    assert answer.json()["errors"][0] == {"loc": [], "code": "internal_error",
                                          "message": f"internal error; quote correlation id {correlation_id}"}
    out = capsys.readouterr().out
    assert "Amelia" not in out and CASE not in out and "None" not in answer.text
    mine = [line for line in lines(out) if line.get("correlation_id") == correlation_id]
    assert [line["event"] for line in mine] == ["unhandled_error", "http_request"]
    error, access = mine
    assert error["error_type"] == "RuntimeError" and "builtins.RuntimeError" in error["exception"]
    assert access == {**access, "method": "GET", "path": "/cases/{case_id}/boom", "status_code": 500,
                      "sub": "officer-7"}


async def test_a_dependency_away_is_a_503_with_the_id_and_the_access_line(capsys):
    capsys.readouterr()
    answer = await call("GET", f"/cases/{CASE}/away", headers={"x-correlation-id": "req-42"})
    assert answer.status_code == 503 and answer.headers["retry-after"] == "1"
    assert answer.headers["x-correlation-id"] == "req-42" and "(correlation id req-42)" in answer.text
    access = [line for line in lines(capsys.readouterr().out) if line["event"] == "http_request"]
    assert [(a["status_code"], a["correlation_id"], a["sub"]) for a in access] == [(503, "req-42", "officer-7")]


async def test_the_access_line_names_the_route_template_and_the_sub_never_the_ids(capsys):
    capsys.readouterr()
    read = await call("GET", f"/cases/{CASE}")
    posted = await call("POST", f"/cases/{CASE}/notes", json={"text": "Amelia was seen"})
    refused = await call("GET", f"/cases/{CASE}", roles=())
    forbidden = await call("GET", f"/cases/{CASE}", roles=("auditor",))
    assert [read.status_code, posted.status_code, refused.status_code, forbidden.status_code] == [200, 201, 401, 403]
    out = capsys.readouterr().out
    assert CASE not in out and "Amelia" not in out
    access = [(a["path"], a["status_code"], a["sub"]) for a in lines(out) if a["event"] == "http_request"]
    assert access == [("/cases/{case_id}", 200, "officer-7"), ("/cases/{case_id}/notes", 201, "officer-7"),
                      ("/cases/{case_id}", 401, None), ("/cases/{case_id}", 403, "officer-7")]


@pytest.mark.parametrize("sent", ["Amelia Okonkwo", "Amelia-Okonkwo-2015-04-03", "a" * 65, "x\ty"])
async def test_a_client_correlation_id_that_is_not_an_id_is_replaced(capsys, sent):
    capsys.readouterr()
    answer = await call("GET", f"/cases/{CASE}", headers={"x-correlation-id": sent})
    used = answer.headers["x-correlation-id"]
    assert used != sent and uuid.UUID(used)
    out = capsys.readouterr().out
    assert "Amelia" not in out and "2015-04-03" not in out
    assert [a["correlation_id"] for a in lines(out) if a["event"] == "http_request"] == [used]


async def test_answers_carry_the_security_headers():
    data, error = await call("GET", f"/cases/{CASE}"), await call("GET", "/nowhere")
    for answer in (data, error):
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert "strict-transport-security" not in answer.headers  # not in production
    health = await call("GET", "/healthz")
    assert "cache-control" not in health.headers and health.headers["x-content-type-options"] == "nosniff"


async def test_production_answers_carry_hsts():
    app, _ = service_app("test")
    context = next(m for m in app.user_middleware if m.cls.__name__ == "RequestContext")
    assert context.kwargs["production"] is False
    from cme_shared.http.app import RequestContext

    async def endpoint(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=RequestContext(endpoint, production=True)),
                                 base_url="http://t") as client:
        answer = await client.get("/anything")
    assert answer.headers["strict-transport-security"] == HSTS and answer.headers["cache-control"] == "no-store"


async def test_validation_errors_quote_no_character_and_no_unknown_key():
    bad_id = await call("GET", "/cases/Amelia-Okonkwo-2015-04-03")
    unknown = await call("POST", f"/cases/{CASE}/notes", json={"text": "ok", "Amelia Okonkwo": "W2 1AA"})
    for answer in (bad_id, unknown):
        assert answer.status_code == 422
        assert "Amelia" not in answer.text and "`" not in answer.text and "W2 1AA" not in answer.text
    assert bad_id.json()["errors"] == [{"loc": ["path", "case_id"], "code": "uuid_parsing",
                                        "message": "Input should be a valid UUID"}]
    [error] = unknown.json()["errors"]
    assert error["loc"] == ["body"] and error["code"] == "extra_forbidden"


def test_the_kafka_paths_problems_quote_no_character_either():
    """Dead letters' x-dlq-reasons and partners' outcomes are built from the same pydantic errors."""
    from datetime import date

    from pydantic import ValidationError, field_validator

    from cme_shared.messaging.consumer import problems_from_validation

    class Event(BaseModel):
        case_id: uuid.UUID
        seen_on: date

        @field_validator("seen_on", mode="before")
        @classmethod
        def _iso(cls, value: object) -> object:
            return date.fromisoformat(value) if isinstance(value, str) else value

    with pytest.raises(ValidationError) as refused:
        Event.model_validate({"case_id": "Amelia-Okonkwo", "seen_on": "Flat 3, 10 Example Street"})
    problems = problems_from_validation(refused.value)
    assert [(p.loc, p.code) for p in problems] == [(["case_id"], "uuid_parsing"), (["seen_on"], "value_error")]
    assert not any("Amelia" in p.message or "`" in p.message or "Flat 3" in p.message for p in problems)
