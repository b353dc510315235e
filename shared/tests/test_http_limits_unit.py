"""The HTTP edge's rules on a bare app (no database, no broker): the order of 413, 401, 415 and 422, which
limit a path gets, and what is found unstorable or quoted."""

from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError

from cme_shared.auth import Principal, Role, TokenVerifier, authenticate_before_body, needs_principal, require_roles
from cme_shared.http.errors import database_rejected_value, install_error_handlers, validation_message
from cme_shared.http.limits import BeforeBody, BodyLimit, _is_json, json_content_type, storable_text, unstorable_text_at
from cme_shared.settings import ServiceSettings
from cme_shared.testing.fixtures import bearer

pytestmark = pytest.mark.unit

SETTINGS = ServiceSettings(env="test")


class Note(BaseModel):
    text: str


def edge_app() -> FastAPI:
    """What `create_service_app` puts in front of a service's routes, around three routes of its kinds."""
    app = FastAPI()
    app.state.token_verifier = TokenVerifier(SETTINGS)
    install_error_handlers(app)
    app.add_middleware(BeforeBody, checks=[authenticate_before_body, json_content_type, storable_text])
    app.add_middleware(BodyLimit, default=1024, prefixes={"/public": 4096})

    @app.post("/notes", status_code=201)
    async def note(body: Note, principal: Annotated[Principal, Depends(require_roles(Role.OFFICER))]) -> dict:
        return {"text": body.text, "sub": principal.sub}

    @app.post("/public/form", status_code=202, openapi_extra={"requestBody": {"content": {"application/json": {}}}})
    async def form(request: Request) -> dict:
        return {"bytes": len(await request.body())}

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "alive"}

    return app


async def post(path: str, content: bytes, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=edge_app()), base_url="http://t") as client:
        return await client.post(path, content=content, headers={k.replace("_", "-"): v for k, v in headers.items()})


def code(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["errors"][0]["code"]


OFFICER = bearer(SETTINGS, "officer", borough="westminster")["Authorization"]
JSON = "application/json"


async def test_the_size_is_refused_first_then_the_token_then_the_type_then_the_text():
    too_big = b"{" * 2000
    assert code(await post("/notes", too_big)) == (413, "body_too_large")
    assert code(await post("/notes", b'{"not json', content_type=JSON)) == (401, "missing_token")
    assert code(await post("/notes", b'{"text": "x"}', content_type="text/plain", authorization=OFFICER)) == (
        415, "unsupported_media_type")
    nul = await post("/notes", b'{"text": "a\\u0000b"}', content_type=JSON, authorization=OFFICER)
    assert code(nul) == (422, "unstorable_text") and nul.json()["errors"][0]["loc"] == ["body", "text"]
    ok = await post("/notes", b'{"text": "caf\\u00e9"}', content_type=JSON, authorization=OFFICER)
    assert ok.status_code == 201 and ok.json() == {"text": "café", "sub": "test-user"}


async def test_the_role_check_answers_as_before():
    auditor = bearer(SETTINGS, "auditor")["Authorization"]
    assert code(await post("/notes", b'{"text": "x"}', content_type=JSON, authorization=auditor)) == (
        403, "forbidden_role")
    assert code(await post("/notes", b"{}", content_type=JSON, authorization="Bearer nonsense")) == (
        401, "invalid_token")


async def test_a_public_route_needs_its_type_said_and_has_its_own_limit():
    assert (await post("/public/form", b"{" * 3000, content_type=JSON)).json() == {"bytes": 3000}
    assert code(await post("/public/form", b"{" * 5000, content_type=JSON)) == (413, "body_too_large")
    assert code(await post("/public/form", b"{}")) == (415, "unsupported_media_type")
    assert code(await post("/public/form", b"{}", content_type="text/plain")) == (415, "unsupported_media_type")


def test_which_routes_need_a_principal():
    routes = {route.path: route for route in edge_app().routes}
    assert needs_principal(routes["/notes"])
    assert not needs_principal(routes["/public/form"]) and not needs_principal(routes["/healthz"])
    assert not needs_principal(routes["/openapi.json"])


def test_the_longest_prefix_on_a_segment_boundary_sets_the_limit():
    limit = BodyLimit(edge_app(), default=10, prefixes={"/referrals": 20, "/public/referrals/": 30, "/public": 40})
    assert [limit.limit_for(p) for p in ("/referrals", "/referrals/x", "/referralsx", "/public/referrals",
                                         "/public/other", "/cases")] == [20, 20, 10, 30, 40, 10]


@pytest.mark.parametrize("content_type, json", [
    ("application/json", True), ("Application/JSON; charset=UTF-8", True), ('application/json; charset="utf-8"', True),
    ("application/json; charset=latin-1", False), ("text/plain", False), ("application/jsonp", False),
    ("application/x-www-form-urlencoded", False),
])
def test_json_is_application_json_in_utf_8(content_type, json):
    assert _is_json(content_type) is json


def test_unstorable_text_is_found_at_any_depth_and_in_keys():
    deep: list = []
    innermost = deep
    for _ in range(100_000):  # deeper than any recursion would go
        innermost.append([])
        innermost = innermost[0]
    innermost.append("a\x00")
    assert unstorable_text_at(deep) == [0] * 100_001
    assert unstorable_text_at({"a": [{"b": "ok"}, {"c": "\ud800"}]}) == ["a", 1, "c"]
    assert unstorable_text_at({"a": {"\udfff": 1}}) == ["a"]  # reported at its parent, never quoted
    assert unstorable_text_at({"name": "Zoë 王芳 \U0001f600", "n": 1, "x": None}) is None


def test_validation_messages_never_quote_the_input():
    quoting = {"msg": "Value error, Invalid isoformat string: 'Flat 3, 10 Example Street'",
               "input": "Flat 3, 10 Example Street"}
    assert validation_message(quoting) == "the value is not valid here"
    uuid_error = {"msg": "Input should be a valid UUID, invalid character: expected an optional prefix of "
                         "`urn:uuid:` followed by [0-9a-fA-F-], found `m` at 1", "input": "Amelia"}
    assert validation_message(uuid_error) == "Input should be a valid UUID"
    in_a_model = {"msg": "Value error, Invalid isoformat string: 'H\\U0008eb14z'",
                  "input": {"field": "last_in_education_on", "value": "H\U0008eb14z"}}
    assert validation_message(in_a_model) == "the value is not valid here"
    plain = {"msg": "String should have at most 200 characters", "input": "x" * 300}
    assert validation_message(plain) == plain["msg"]


def test_a_data_exception_from_the_database_is_the_requests_fault():
    class Orig(Exception):
        def __init__(self, sqlstate: str) -> None:
            self.sqlstate = sqlstate

    assert database_rejected_value(DBAPIError("SELECT", {}, Orig("22021"))) == "22021"  # NUL in text
    assert database_rejected_value(DBAPIError("SELECT", {}, Orig("22003"))) == "22003"  # number out of range
    assert database_rejected_value(DBAPIError("SELECT", {}, Orig("08006"))) is None  # the connection: not the request
    assert database_rejected_value(ValueError("22021")) is None
