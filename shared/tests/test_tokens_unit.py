"""Bearer tokens fit for production (issue 13 item 3; SEC-07, SEC-19, SEC-23, SEC-31): issuer, audience, typ,
iat, lifetime and leeway, sub, roles and borough; keys from a rotating JWKS served over HTTP here; the
settings that refuse to start without what production needs; development tokens that pass all of it."""

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Annotated, Any

import httpx
import jwt
import pytest
from cme_shared.auth import (
    Principal,
    Role,
    TokenVerifier,
    authenticate_before_body,
    issue_development_token,
    require_roles,
)
from cme_shared.contracts.referrals import Borough
from cme_shared.http.errors import ApiError, install_error_handlers
from cme_shared.http.limits import BeforeBody
from cme_shared.logging import configure_logging
from cme_shared.settings import ServiceSettings
from cme_shared.testing.fixtures import bearer
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import Depends, FastAPI
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from pydantic import ValidationError
from typer.testing import CliRunner

pytestmark = pytest.mark.unit

SECRET = "unit-test-secret-" + "k" * 48
ISSUER, AUDIENCE = "https://login.example/council-tenant/v2.0", "api://cme-platform"
SETTINGS = ServiceSettings(env="test", jwt_secret=SECRET, jwt_issuer=ISSUER, jwt_audience=AUDIENCE)
PRODUCTION = dict(env="production", jwks_url="https://login.example/council-tenant/discovery/keys",
                  jwt_secret="a-real-secret-from-the-vault", jwt_issuer=ISSUER, jwt_audience=AUDIENCE,
                  signing_key_file="/run/secrets/svc.pem", trusted_signers_dir="/run/secrets/signers",
                  kafka_security_protocol="SASL_SSL", kafka_username="cme-casework", kafka_password="from-the-vault")


def claims_of(**changes: Any) -> dict[str, Any]:
    """A good token's claims, with changes (None removes a claim; exp/iat are offsets from now)."""
    now = int(time.time())
    claims: dict[str, Any] = {"sub": "officer-17", "roles": ["officer"], "borough": "westminster",
                              "iat": now, "exp": now + 3600, "iss": ISSUER, "aud": AUDIENCE}
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = now + value if name in ("exp", "iat", "nbf") and isinstance(value, int) else value
    return claims


def hs256(claims: dict[str, Any], *, typ: str | None = "JWT", secret: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm, headers={"typ": typ})  # typ None or "": no typ at all


def refusal(token: str, settings: ServiceSettings = SETTINGS) -> tuple[int, str, list[str | int]]:
    with pytest.raises(ApiError) as refused:
        TokenVerifier(settings).verify(token)
    return refused.value.status, refused.value.code, refused.value.loc


# --- A good token, and what it may vary in -------------------------------------------------------------------

@pytest.mark.parametrize("typ", ["JWT", "at+jwt", "AT+JWT", "jwt", "application/at+jwt"])
def test_a_good_token_passes_with_either_type(typ):
    principal = TokenVerifier(SETTINGS).verify(hs256(claims_of(), typ=typ))
    assert principal == Principal(sub="officer-17", roles=frozenset({Role.OFFICER}), borough=Borough.WESTMINSTER)


def test_clocks_may_differ_by_the_leeway():
    verifier = TokenVerifier(SETTINGS)  # leeway 30 s by default
    assert verifier.verify(hs256(claims_of(iat=20, exp=3600)))  # issued 20 s "in the future"
    assert verifier.verify(hs256(claims_of(iat=-3600, exp=-20)))  # expired 20 s ago
    assert verifier.verify(hs256(claims_of(iat=-60, exp=12 * 3600 - 60)))  # exactly the maximum lifetime


def test_roles_of_other_applications_are_ignored_among_known_ones():
    principal = TokenVerifier(SETTINGS).verify(hs256(claims_of(roles=["Directory.Read", "officer", "dpo", "admin"])))
    assert principal.roles == {Role.OFFICER, Role.DPO}


def test_a_cross_borough_role_needs_no_borough():
    principal = TokenVerifier(SETTINGS).verify(hs256(claims_of(roles=["manager"], borough=None)))
    assert principal.borough is None and principal.boroughs() == set(Borough)


def test_audience_may_be_a_list_holding_ours():
    assert TokenVerifier(SETTINGS).verify(hs256(claims_of(aud=["api://other", AUDIENCE])))


# --- Every refusal, with the code that names the rule ---------------------------------------------------------

REFUSALS = [
    # issuer and audience (SEC-07)
    ("foreign-issuer", dict(iss="https://login.example/another-tenant/v2.0"), "token_issuer_not_accepted"),
    ("no-issuer", dict(iss=None), "token_claim_missing"),
    ("foreign-audience", dict(aud="api://some-other-app"), "token_audience_not_accepted"),
    ("no-audience", dict(aud=None), "token_claim_missing"),
    # times
    ("no-iat", dict(iat=None), "token_claim_missing"),
    ("iat-in-the-future", dict(iat=120, exp=3600), "token_not_yet_valid"),
    ("iat-not-a-time", dict(iat="yesterday"), "token_claim_malformed"),
    ("no-exp", dict(exp=None), "token_claim_missing"),
    ("expired", dict(iat=-3600, exp=-60), "token_expired"),
    ("nbf-in-the-future", dict(nbf=600), "token_not_yet_valid"),
    ("a-century-long", dict(exp=100 * 365 * 86400), "token_lifetime_too_long"),
    ("one-second-too-long", dict(iat=-60, exp=12 * 3600 - 59), "token_lifetime_too_long"),
    # sub (SEC-23)
    ("no-sub", dict(sub=None), "token_claim_missing"),
    ("empty-sub", dict(sub=""), "token_subject_empty"),
    ("blank-sub", dict(sub="   "), "token_subject_empty"),
    ("numeric-sub", dict(sub=17), "token_claim_malformed"),
    # roles and borough (SEC-07, SEC-31)
    ("no-roles-claim", dict(roles=None), "token_no_known_role"),
    ("empty-roles", dict(roles=[]), "token_no_known_role"),
    ("only-unknown-roles", dict(roles=["wizard", "Directory.Read"]), "token_no_known_role"),
    ("roles-a-number", dict(roles=5), "token_roles_malformed"),
    ("roles-a-string", dict(roles="officer"), "token_roles_malformed"),
    ("roles-with-a-number", dict(roles=["officer", 1]), "token_roles_malformed"),
    ("roles-an-object", dict(roles={"officer": True}), "token_roles_malformed"),
    ("unknown-borough", dict(borough="camden"), "token_borough_unknown"),
    ("borough-a-number", dict(borough=7), "token_borough_unknown"),
    ("borough-a-list", dict(borough=["westminster"]), "token_borough_unknown"),
    ("org-id-a-number", dict(org_id=100001), "token_claim_malformed"),
]


@pytest.mark.parametrize(("changes", "code"), [(changes, code) for _, changes, code in REFUSALS],
                         ids=[name for name, _, _ in REFUSALS])
def test_a_token_breaking_a_rule_is_refused_401_with_that_rule_s_code(changes, code):
    status, refused_code, _ = refusal(hs256(claims_of(**changes)))
    assert (status, refused_code) == (401, code)


def test_roles_null_is_malformed_and_an_absent_roles_claim_has_no_known_role():
    with_null = claims_of()
    with_null["roles"] = None
    assert refusal(hs256(with_null))[:2] == (401, "token_roles_malformed")
    assert refusal(hs256(claims_of(roles=None)))[:2] == (401, "token_no_known_role")


@pytest.mark.parametrize("typ", [None, "JOSE", "id+jwt", "dpop+jwt", "JWT "], ids=repr)
def test_a_token_of_another_type_is_refused(typ):
    assert refusal(hs256(claims_of(), typ=typ)) == (401, "token_type_not_accepted", ["header", "authorization", "typ"])


def test_a_typ_that_is_not_text_is_refused():
    token = jwt.encode(claims_of(), SECRET, algorithm="HS256", headers={"typ": ["JWT"]})
    assert refusal(token)[:2] == (401, "token_type_not_accepted")


def test_algorithms_are_pinned():
    unsigned = jwt.encode(claims_of(), None, algorithm="none")
    assert refusal(unsigned)[:2] == (401, "token_algorithm_not_accepted")
    assert refusal(hs256(claims_of(), algorithm="HS512"))[:2] == (401, "token_algorithm_not_accepted")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert refusal(jwt.encode(claims_of(), rsa_key, algorithm="RS256"))[:2] == (401, "token_algorithm_not_accepted")
    assert refusal(hs256(claims_of(), secret="not-the-platform-secret-" + "y" * 40)) == (
        401, "invalid_token", ["header", "authorization"])
    assert refusal("not.a.token")[:2] == (401, "invalid_token")


def test_issuer_and_audience_unset_outside_production_are_not_checked():
    development = ServiceSettings(env="development", jwt_secret=SECRET)
    verifier = TokenVerifier(development)
    assert verifier.verify(hs256(claims_of(iss=None, aud=None)))
    assert verifier.verify(hs256(claims_of(iss="https://anyone.example", aud="api://anything")))
    # everything else still is
    assert refusal(hs256(claims_of(iss=None, aud=None, iat=None)), development)[:2] == (401, "token_claim_missing")
    assert refusal(hs256(claims_of(iss=None, aud=None, roles=[])), development)[:2] == (401, "token_no_known_role")


def test_only_an_issuer_set_is_checked_alone():
    issuer_only = ServiceSettings(env="development", jwt_secret=SECRET, jwt_issuer=ISSUER)
    assert TokenVerifier(issuer_only).verify(hs256(claims_of(aud=None)))
    assert refusal(hs256(claims_of(iss="https://evil.example")), issuer_only)[:2] == (401, "token_issuer_not_accepted")


def test_the_lifetime_and_leeway_are_configurable():
    strict = ServiceSettings(env="test", jwt_secret=SECRET, jwt_issuer=ISSUER, jwt_audience=AUDIENCE,
                             jwt_max_lifetime_seconds=3600, jwt_leeway_seconds=0)
    assert TokenVerifier(strict).verify(hs256(claims_of(exp=3600)))
    assert refusal(hs256(claims_of(exp=3601)), strict)[:2] == (401, "token_lifetime_too_long")
    assert refusal(hs256(claims_of(iat=-3600, exp=-1)), strict)[:2] == (401, "token_expired")


# --- What a refusal says over HTTP: the rule, never the token or its claims -----------------------------------

def officer_app(settings: ServiceSettings) -> FastAPI:
    app = FastAPI()
    app.state.token_verifier = TokenVerifier(settings)
    install_error_handlers(app)
    app.add_middleware(BeforeBody, checks=[authenticate_before_body])

    @app.post("/notes")
    async def note(body: dict, principal: Annotated[Principal, Depends(require_roles(Role.OFFICER))]) -> dict:
        return {"sub": principal.sub, "acting_role": principal.acting_role}

    @app.get("/cases")
    def cases(principal: Annotated[Principal, Depends(require_roles(Role.OFFICER, Role.MANAGER))]) -> dict:
        return {"sub": principal.sub, "boroughs": sorted(principal.boroughs())}

    return app


async def call(app: FastAPI, method: str, path: str, token: str, headers: dict[str, str] | None = None,
               **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        return await client.request(method, path, headers={"authorization": f"Bearer {token}", **(headers or {})},
                                    **kwargs)


@pytest.mark.parametrize("changes", [dict(sub="Jane.Smith@council.example", iss="https://evil.example/Jane"),
                                     dict(sub="Jane.Smith@council.example", borough="Jane-Smith-Road"),
                                     dict(sub="Jane.Smith@council.example", roles=["Jane-Smith-admin"]),
                                     dict(sub="Jane.Smith@council.example", exp=-3600, iat=-7200)])
async def test_a_401_body_names_the_rule_and_never_the_token_or_its_values(changes):
    token = hs256(claims_of(**changes))
    for method, path in (("POST", "/notes"), ("GET", "/cases")):
        response = await call(officer_app(SETTINGS), method, path, token, json={"text": "x"})
        assert response.status_code == 401
        [error] = response.json()["errors"]
        assert error["code"].startswith("token_") and error["loc"][:2] == ["header", "authorization"]
        for secret in (token, *token.split("."), "Jane", "evil", "Smith"):
            assert secret not in response.text


async def test_a_good_token_gets_through_both_the_async_and_the_sync_path():
    token = bearer(SETTINGS, "officer", "auditor", borough="westminster", sub="officer-17")["Authorization"][7:]
    posted = await call(officer_app(SETTINGS), "POST", "/notes", token, json={"text": "x"})
    assert posted.status_code == 200 and posted.json() == {"sub": "officer-17", "acting_role": "officer"}
    listed = await call(officer_app(SETTINGS), "GET", "/cases", token)
    assert listed.status_code == 200 and listed.json() == {"sub": "officer-17", "boroughs": ["westminster"]}


# --- Development tokens: what the services accept, and `make token` -------------------------------------------

def test_development_tokens_carry_typ_iat_and_the_settings_issuer_and_audience():
    headers = bearer(SETTINGS, "dpo")
    token = headers["Authorization"].removeprefix("Bearer ")
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == ISSUER and claims["aud"] == AUDIENCE and claims["exp"] - claims["iat"] == 8 * 3600
    assert TokenVerifier(SETTINGS).verify(token).roles == {Role.DPO}
    plain = issue_development_token(SECRET, sub="u1", roles=["officer"], borough="westminster")
    assert "iss" not in jwt.decode(plain, options={"verify_signature": False})
    assert TokenVerifier(ServiceSettings(env="development", jwt_secret=SECRET)).verify(plain).sub == "u1"
    assert refusal(plain)[:2] == (401, "token_claim_missing")  # a service with an issuer wants it said


def test_make_token_carries_the_environment_s_issuer_and_audience_and_a_lifetime_within_the_maximum(monkeypatch):
    from cme_shared.token import app

    for name, value in {"CME_ENV": "development", "CME_JWT_SECRET": SECRET, "CME_JWT_ISSUER": ISSUER,
                        "CME_JWT_AUDIENCE": AUDIENCE}.items():
        monkeypatch.setenv(name, value)
    made = CliRunner().invoke(app, ["--role", "officer", "--borough", "westminster"])
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[-1]
    principal = TokenVerifier(SETTINGS).verify(token)
    assert principal.sub == "dev-user" and principal.borough == Borough.WESTMINSTER
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 8 * 3600 <= SETTINGS.jwt_max_lifetime_seconds
    for ttl in ("43201", "0", "-5"):  # over 12 hours, or no lifetime at all
        refused = CliRunner().invoke(app, ["--role", "officer", "--ttl", ttl])
        assert refused.exit_code == 2 and "eyJ" not in refused.output
    monkeypatch.setenv("CME_JWT_MAX_LIFETIME_SECONDS", "3600")
    assert CliRunner().invoke(app, ["--role", "officer", "--ttl", "3601"]).exit_code == 2


# --- Settings: production refuses to start without issuer, audience and an https JWKS -------------------------

def test_production_starts_with_everything_it_needs():
    settings = ServiceSettings(**PRODUCTION)
    assert (settings.jwt_issuer, settings.jwt_audience) == (ISSUER, AUDIENCE)
    assert (settings.jwt_max_lifetime_seconds, settings.jwt_leeway_seconds) == (12 * 3600, 30)


@pytest.mark.parametrize(("changes", "message"), [
    (dict(jwt_issuer=None), "CME_JWT_ISSUER"),
    (dict(jwt_issuer="  "), "CME_JWT_ISSUER"),
    (dict(jwt_audience=None), "CME_JWT_AUDIENCE"),
    (dict(jwt_audience=""), "CME_JWT_AUDIENCE"),
    (dict(jwks_url="http://login.example/council-tenant/discovery/keys"), "https://"),
    (dict(jwks_url="HTTP://login.example/keys"), "https://"),
    (dict(jwks_url="file:///etc/keys.json"), "https://"),
    (dict(jwks_url=None), "JWKS"),
    (dict(jwt_leeway_seconds=3600), "LEEWAY"),
    (dict(jwt_max_lifetime_seconds=0), "MAX_LIFETIME"),
])
def test_production_refuses_to_start_without_what_tokens_need(changes, message):
    with pytest.raises(ValidationError, match=message):
        ServiceSettings(**{**PRODUCTION, **changes})


def test_outside_production_an_http_jwks_is_allowed_and_a_blank_issuer_is_unset():
    settings = ServiceSettings(env="test", jwks_url="http://127.0.0.1:9/jwks", jwt_issuer="", jwt_audience=" ")
    assert settings.jwks_url == "http://127.0.0.1:9/jwks" and settings.jwt_issuer is None
    assert settings.jwt_audience is None
    with pytest.raises(ValidationError, match="https://"):
        ServiceSettings(env="test", jwks_url="ftp://127.0.0.1/jwks")


# --- Keys from a JWKS: real RSA and EC keys served over HTTP, rotation, outages -------------------------------

class KeySet:
    """A JWKS endpoint on a local port: the keys it serves can change (rotation) and it counts its fetches."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.fetches = 0
        self.delay = 0.0
        self.status = 200
        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                served.fetches += 1
                time.sleep(served.delay)
                body = json.dumps({"keys": served.keys}).encode()
                self.send_response(served.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that gave up (the timeout test) leaves a broken pipe: expected

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/discovery/keys"

    def publish(self, *keys: tuple[str, Any]) -> None:
        self.keys = [jwk(kid, key) for kid, key in keys]


def jwk(kid: str, private_key: Any) -> dict[str, Any]:
    if isinstance(private_key, rsa.RSAPrivateKey):
        public = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    else:
        public = ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    return {**public, "kid": kid, "use": "sig"}


@pytest.fixture
def key_set() -> Iterator[KeySet]:
    served = KeySet()
    thread = threading.Thread(target=served.server.serve_forever, daemon=True)
    thread.start()
    yield served
    served.server.shutdown()
    served.server.server_close()


def jwks_settings(url: str, **changes: Any) -> ServiceSettings:
    return ServiceSettings(**{"env": "test", "jwks_url": url, "jwt_issuer": ISSUER, "jwt_audience": AUDIENCE,
                              "jwks_refresh_cooldown_seconds": 0, "jwks_timeout_seconds": 2, **changes})


def signed(private_key: Any, kid: str, *, algorithm: str = "RS256", typ: str = "at+jwt", **changes: Any) -> str:
    return jwt.encode(claims_of(**changes), private_key, algorithm=algorithm, headers={"kid": kid, "typ": typ})


RSA_A = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_B = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_C = ec.generate_private_key(ec.SECP256R1())


def test_keys_are_fetched_once_then_cached_and_a_rotated_key_is_picked_up(key_set):
    key_set.publish(("key-a", RSA_A))
    verifier = TokenVerifier(jwks_settings(key_set.url))
    assert verifier.verify(signed(RSA_A, "key-a")).sub == "officer-17"
    assert verifier.verify(signed(RSA_A, "key-a", sub="officer-18")).sub == "officer-18"
    assert key_set.fetches == 1  # cached

    key_set.publish(("key-b", RSA_B))  # the identity provider rotates: key A is gone, B is new
    assert verifier.verify(signed(RSA_B, "key-b")).roles == {Role.OFFICER}  # a new kid: fetched again
    assert key_set.fetches == 2
    assert refusal(signed(RSA_A, "key-a"), jwks_settings(key_set.url))[:2] == (401, "token_signing_key_unknown")
    with pytest.raises(ApiError) as retired:
        verifier.verify(signed(RSA_A, "key-a"))
    assert (retired.value.status, retired.value.code) == (401, "token_signing_key_unknown")


def test_an_es256_key_from_the_set_is_accepted_and_every_claim_rule_still_applies(key_set):
    key_set.publish(("key-a", RSA_A), ("key-c", EC_C))
    settings = jwks_settings(key_set.url)
    assert TokenVerifier(settings).verify(signed(EC_C, "key-c", algorithm="ES256")).sub == "officer-17"
    assert refusal(signed(RSA_A, "key-a", iss="https://login.example/another-tenant/v2.0"), settings)[:2] == (
        401, "token_issuer_not_accepted")
    assert refusal(signed(RSA_A, "key-a", roles=[]), settings)[:2] == (401, "token_no_known_role")
    assert refusal(signed(RSA_A, "key-a", typ="JOSE"), settings)[:2] == (401, "token_type_not_accepted")


def test_a_token_signed_by_another_key_or_algorithm_under_a_known_kid_is_refused(key_set):
    key_set.publish(("key-a", RSA_A), ("key-c", EC_C))
    settings = jwks_settings(key_set.url)
    assert refusal(signed(RSA_B, "key-a"), settings)[:2] == (401, "invalid_token")  # another key, A's kid
    assert refusal(signed(EC_C, "key-a", algorithm="ES256"), settings)[:2] == (401, "token_algorithm_not_accepted")
    # The public key used as an HMAC secret (algorithm confusion), and the development secret: HS256 is not taken.
    published_modulus = jwk("key-a", RSA_A)["n"]
    confused = jwt.encode(claims_of(), published_modulus, algorithm="HS256", headers={"kid": "key-a", "typ": "JWT"})
    assert refusal(confused, settings)[:2] == (401, "token_algorithm_not_accepted")
    assert refusal(bearer(SETTINGS, "officer")["Authorization"][7:], settings)[:2] == (
        401, "token_algorithm_not_accepted")
    no_kid = jwt.encode(claims_of(), RSA_A, algorithm="RS256", headers={"typ": "JWT"})
    assert refusal(no_kid, settings)[:2] == (401, "token_key_id_missing")


def test_made_up_key_ids_do_not_make_a_fetch_each_within_the_cool_down(key_set):
    key_set.publish(("key-a", RSA_A))
    verifier = TokenVerifier(jwks_settings(key_set.url, jwks_refresh_cooldown_seconds=30))
    assert verifier.verify(signed(RSA_A, "key-a"))
    for i in range(20):
        with pytest.raises(ApiError, match="token_signing_key_unknown"):
            verifier.verify(signed(RSA_B, f"made-up-{i}"))
    assert key_set.fetches == 1


def test_an_identity_provider_that_cannot_be_reached_gives_503_within_the_timeout(key_set, capsys):
    configure_logging("cme-test")  # onto this test's captured stdout
    key_set.publish(("key-a", RSA_A))
    key_set.delay = 2.0
    verifier = TokenVerifier(jwks_settings(key_set.url, jwks_timeout_seconds=0.3))
    started = time.monotonic()
    with pytest.raises(ApiError) as unavailable:
        verifier.verify(signed(RSA_A, "key-a"))
    assert (unavailable.value.status, unavailable.value.code) == (503, "identity_provider_unavailable")
    assert time.monotonic() - started < 1.5
    key_set.delay, key_set.status = 0.0, 500
    with pytest.raises(ApiError, match="identity_provider_unavailable"):
        verifier.verify(signed(RSA_A, "key-a"))
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [line["event"] for line in logged if line["event"] == "jwks_unavailable"] == ["jwks_unavailable"] * 2
    assert "127.0.0.1" not in str(logged)  # what failed, not where or which token


async def test_a_slow_key_fetch_does_not_block_the_event_loop_and_the_401_still_comes_before_the_body(key_set):
    key_set.publish(("key-a", RSA_A))
    key_set.delay = 0.5
    app = officer_app(jwks_settings(key_set.url))
    ticks = 0

    async def ticking() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    ticker = asyncio.create_task(ticking())
    try:
        accepted = await call(app, "POST", "/notes", signed(RSA_A, "key-a"), json={"text": "x"})
    finally:
        ticker.cancel()
    assert accepted.status_code == 200 and accepted.json()["sub"] == "officer-17"
    assert ticks >= 10  # the loop ran on while the key set was fetched (0.5 s)

    # A refused token is answered 401 before the body is read: a body that is not JSON is never parsed.
    refused = await call(app, "POST", "/notes", signed(RSA_A, "key-a", aud="api://some-other-app"),
                         content=b'{"not json', headers={"content-type": "application/json"})
    assert refused.status_code == 401 and refused.json()["errors"][0]["code"] == "token_audience_not_accepted"


# --- What a hostile review found (session of 2026-12-02) -------------------------------------------------------

@pytest.mark.parametrize("sub", ["\u200b", "\u200b\u200c", " \ufeff ", "\u2060"])
def test_a_sub_of_invisible_characters_is_empty(sub):
    """The two-person rule compares subs: an invisible one must not pass for a person."""
    assert refusal(hs256(claims_of(sub=sub)))[:2] == (401, "token_subject_empty")


@pytest.mark.parametrize("claim", ["exp", "iat"])
def test_times_given_as_text_are_refused(claim):
    now = int(time.time())
    value = str(now + 3600 if claim == "exp" else now)
    assert refusal(hs256(claims_of(**{claim: value})))[:2] == (401, "token_claim_malformed")


def test_an_officer_whose_token_names_no_borough_cannot_act_as_an_officer():
    dependency = require_roles(Role.OFFICER, Role.MANAGER)
    nowhere = Principal(sub="officer-9", roles=frozenset({Role.OFFICER}))
    with pytest.raises(ApiError) as refused:
        dependency(nowhere)
    assert (refused.value.status, refused.value.code) == (403, "officer_borough_missing")
    # With another role the route admits, the token acts as that one instead.
    also_manager = Principal(sub="officer-9", roles=frozenset({Role.OFFICER, Role.MANAGER}))
    assert dependency(also_manager).acting_role is Role.MANAGER
