"""Signing in and the session: the development form mints a token the services accept; every form is refused
without the session's CSRF token; the cookie is signed, HTTP-only and SameSite=Lax; production signs in with
OpenID Connect (authorization code with PKCE) against a provider faked with httpx.MockTransport."""

import base64
import hashlib
import re
import time
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key
from fastapi.testclient import TestClient
from joserfc import jwt as jose_jwt
from joserfc.jwk import RSAKey

from cme_console.app import create_app
from cme_console.settings import ConsoleSettings
from cme_shared.auth import TokenVerifier
from cme_shared.settings import ServiceSettings

pytestmark = pytest.mark.unit

SECRET = "console-unit-secret-" + "x" * 40


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@pytest.fixture
def client():
    # Services nowhere: a page that got past the CSRF check would answer 502, not 403.
    settings = ConsoleSettings(env="test", jwt_secret=SECRET, casework_url="http://127.0.0.1:9",
                               intake_url="http://127.0.0.1:9", disclosure_url="http://127.0.0.1:9",
                               rights_url="http://127.0.0.1:9", log_level="WARNING")
    with TestClient(create_app(settings)) as c:
        yield c


def sign_in(client: TestClient, role="officer", borough="westminster", user_id="officer-1") -> httpx.Response:
    token = csrf_of(client.get("/sign-in").text)
    return client.post("/sign-in", data={"role": role, "borough": borough, "user_id": user_id, "csrf_token": token},
                       follow_redirects=False)


def test_the_development_form_signs_in_with_a_token_the_services_accept(client):
    answer = sign_in(client)
    assert answer.status_code == 303 and answer.headers["location"] == "/caseload"
    cookie = answer.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert "officer-1" not in cookie  # signed and encoded, and the URL never carried it either
    principal = TokenVerifier(ServiceSettings(jwt_secret=SECRET)).verify(
        client.app.state.settings and _session_token(client))
    assert principal.sub == "officer-1" and [r.value for r in principal.roles] == ["officer"]
    assert principal.borough.value == "westminster"


def _session_token(client: TestClient) -> str:
    # The token as the console holds it: read back through a route that shows nothing else.
    from itsdangerous import TimestampSigner
    import json

    raw = client.cookies["cme_console_session"]
    data = TimestampSigner(client.app.state.settings.console_session_secret.get_secret_value()).unsign(raw)
    return json.loads(base64.b64decode(data))["token"]


def test_an_officer_must_choose_a_borough_and_a_proper_user_id(client):
    answer = sign_in(client, borough="", user_id="not a user id!")
    assert answer.status_code == 400
    assert "Select the borough you work for" in answer.text and "Enter your user id" in answer.text
    assert 'href="#borough"' in answer.text  # the error summary links to the field


def test_every_form_is_refused_without_the_sessions_csrf_token(client):
    sign_in(client)
    posts = [r.path for r in routes_of(client.app) if "POST" in (getattr(r, "methods", None) or set())]
    assert len(posts) >= 10
    ids = {"case_id": "6f1c1e0a-0000-4000-8000-000000000001", "escalation_id": "6f1c1e0a-0000-4000-8000-000000000002",
           "disclosure_id": "6f1c1e0a-0000-4000-8000-000000000003", "share_id": "6f1c1e0a-0000-4000-8000-000000000004",
           "request_id": "6f1c1e0a-0000-4000-8000-000000000005", "match_id": "6f1c1e0a-0000-4000-8000-000000000006",
           "ehe_id": "6f1c1e0a-0000-4000-8000-000000000007"}
    for path in posts:
        url = re.sub(r"{(\w+)}", lambda m: ids[m.group(1)], path)
        for data in ({}, {"csrf_token": "forged"}):
            answer = client.post(url, data=data, follow_redirects=False)
            assert answer.status_code == 403, (path, answer.status_code)
            # Refused before any service is asked (they are unreachable here: that would be a 502): for the
            # CSRF token, or first for a role that has no such form.
            assert "This form has expired" in answer.text or "You cannot use this page" in answer.text


def routes_of(router) -> list:
    """Every route, through the routers included (FastAPI keeps each as its original router)."""
    found = []
    for route in router.routes:
        inner = getattr(route, "original_router", None)
        found += routes_of(inner) if inner is not None else [route]
    return found


def test_pages_need_a_session_and_sign_out_ends_it(client):
    assert client.get("/caseload", follow_redirects=False).headers["location"] == "/sign-in"
    sign_in(client)
    token = csrf_of(client.get("/sign-in").text)
    assert client.post("/sign-out", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    assert client.get("/caseload", follow_redirects=False).headers["location"] == "/sign-in"


class FakeProvider:
    """The council's OpenID Connect provider, as much of it as the code flow with PKCE touches."""

    ISSUER = "https://login.council.example"

    def __init__(self) -> None:
        self.key = RSAKey.import_key(generate_private_key(65537, 2048))
        self.codes: dict[str, dict] = {}
        self.access_token = "access-token-for-the-services"

    def authorize(self, query: dict[str, str]) -> str:
        code = "code-" + query["state"][:8]
        self.codes[code] = query
        return code

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(200, json={
                "issuer": self.ISSUER, "authorization_endpoint": f"{self.ISSUER}/authorize",
                "token_endpoint": f"{self.ISSUER}/token", "jwks_uri": f"{self.ISSUER}/jwks",
                "id_token_signing_alg_values_supported": ["RS256"]})
        if request.url.path == "/jwks":
            return httpx.Response(200, json={"keys": [{**self.key.as_dict(private=False), "kid": "k1", "use": "sig"}]})
        if request.url.path == "/token":
            form = parse_qs(request.content.decode())
            asked = self.codes.pop(form["code"][0], None)
            challenge = base64.urlsafe_b64encode(hashlib.sha256(form["code_verifier"][0].encode()).digest()).rstrip(b"=")
            if asked is None or challenge.decode() != asked["code_challenge"]:
                return httpx.Response(400, json={"error": "invalid_grant"})
            now = int(time.time())
            id_token = jose_jwt.encode({"alg": "RS256", "kid": "k1"}, {
                "iss": self.ISSUER, "aud": "cme-console", "sub": "manager-7", "iat": now, "exp": now + 300,
                "nonce": asked.get("nonce"), "roles": ["manager"], "borough": "kensington_and_chelsea"}, self.key)
            return httpx.Response(200, json={"access_token": self.access_token, "token_type": "Bearer",
                                             "expires_in": 300, "id_token": id_token})
        return httpx.Response(404)


def test_production_signs_in_with_openid_connect_code_flow_and_pkce():
    provider = FakeProvider()
    settings = ConsoleSettings(env="production", oidc_metadata_url=f"{FakeProvider.ISSUER}/.well-known/openid-configuration",
                               oidc_client_id="cme-console", oidc_client_secret="s3cret",
                               oidc_redirect_url="https://console.council.example/auth/callback",
                               console_session_secret="production-session-secret-" + "y" * 20,
                               console_cookie_secure=True, log_level="WARNING")
    with TestClient(create_app(settings, oidc_transport=httpx.MockTransport(provider.handler)),
                    base_url="https://console.council.example") as client:
        assert client.get("/sign-in", follow_redirects=False).headers["location"] == "/auth/login"
        redirect = client.get("/auth/login", follow_redirects=False)
        assert redirect.status_code == 302
        sent = {k: v[0] for k, v in parse_qs(urlparse(redirect.headers["location"]).query).items()}
        assert redirect.headers["location"].startswith(f"{FakeProvider.ISSUER}/authorize")
        assert sent["code_challenge_method"] == "S256" and sent["response_type"] == "code"
        assert sent["redirect_uri"] == settings.oidc_redirect_url and "openid" in sent["scope"]
        assert "secure" in redirect.headers["set-cookie"].lower()

        # A forged state is refused; the genuine one signs the person in.
        code = provider.authorize(sent)
        refused = client.get("/auth/callback", params={"code": code, "state": "forged"}, follow_redirects=False)
        assert refused.status_code == 401
        code = provider.authorize(sent)
        answer = client.get("/auth/callback", params={"code": code, "state": sent["state"]}, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/caseload"
        assert _session_token(client) == provider.access_token  # the provider's token goes to the services
        caseload = client.get("/sign-in", follow_redirects=False)
        assert caseload.headers["location"] == "/auth/login"  # no development form in production


def test_production_refuses_to_start_without_its_provider_or_with_development_secrets():
    with pytest.raises(ValueError, match="CME_OIDC_METADATA_URL"):
        ConsoleSettings(env="production")
