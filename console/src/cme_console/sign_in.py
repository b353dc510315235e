"""Signing in and out (CONTRACT section 8).

Development and test (`CME_ENV` not `production`): `GET /sign-in` is a form to choose a role, a borough
and a user id; the console mints the same development token `make token` prints, with the services' own
secret (`cme_shared.auth.issue_development_token`).

Production: OpenID Connect, authorization code with PKCE (S256), by authlib. The provider's access token
(or ID token, `CME_OIDC_SERVICE_TOKEN`) is what the services verify (their JWKS, issuer and audience); its
`roles` and `borough` claims choose the console's menus only.
"""

import re
from typing import Any

import httpx
from authlib.integrations.starlette_client import OAuth, OAuthError
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from cme_shared.auth import issue_development_token
from cme_shared.logging import get_logger

from .people import BOROUGH_NAMES, ROLE_NAMES, claims_for_display, sign_in
from .settings import ConsoleSettings
from .web import posted, render

log = get_logger("cme_console.sign_in")

USER_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Officers and managers work for one borough; the DPO and auditors across both (CONTRACT section 2).
BOROUGH_ROLES = {"officer", "manager"}
PROVIDER = "council"


def oidc_client(settings: ConsoleSettings, transport: httpx.AsyncBaseTransport | None = None) -> Any:
    """The council's OpenID Connect provider as authlib's Starlette client (None when not configured)."""
    if not settings.oidc_metadata_url:
        return None
    oauth = OAuth()
    client_kwargs: dict[str, Any] = {"scope": settings.oidc_scope, "code_challenge_method": "S256"}
    if transport is not None:
        client_kwargs["transport"] = transport
    oauth.register(
        PROVIDER, server_metadata_url=settings.oidc_metadata_url, client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else None,
        client_kwargs=client_kwargs,
    )
    return oauth.create_client(PROVIDER)


def landing(roles: list[str]) -> str:
    if "officer" in roles or "manager" in roles:
        return "/caseload"
    if "dpo" in roles:
        return "/rights"
    return "/log"


def router(settings: ConsoleSettings, oidc: Any) -> APIRouter:
    api = APIRouter()

    def sign_in_form(request: Request, errors: list[dict[str, str]] | None = None, status_code: int = 200,
                     values: dict[str, str] | None = None) -> Response:
        return render(request, "sign_in.html", status_code=status_code, errors=errors or [], values=values or {},
                      roles=ROLE_NAMES, boroughs=BOROUGH_NAMES, oidc=oidc is not None)

    @api.get("/sign-in")
    async def sign_in_page(request: Request) -> Response:
        if not settings.development_sign_in:
            return RedirectResponse("/auth/login", status_code=303)
        return sign_in_form(request)

    @api.post("/sign-in")
    async def sign_in_development(request: Request) -> Response:
        if not settings.development_sign_in:
            return RedirectResponse("/auth/login", status_code=303)
        form = await posted(request)
        role, borough, sub = (str(form.get(k, "")).strip() for k in ("role", "borough", "user_id"))
        errors = []
        if role not in ROLE_NAMES:
            errors.append({"text": "Select your role", "href": "#role"})
        if role in BOROUGH_ROLES and borough not in BOROUGH_NAMES:
            errors.append({"text": "Select the borough you work for", "href": "#borough"})
        if not USER_ID.fullmatch(sub):
            errors.append({"text": "Enter your user id: letters, numbers, dots, dashes or underscores, "
                                   "up to 64 characters", "href": "#user_id"})
        if errors:
            return sign_in_form(request, errors, 400, {"role": role, "borough": borough, "user_id": sub})
        chosen = borough if role in BOROUGH_ROLES else None
        token = issue_development_token(settings.jwt_secret.get_secret_value(), sub=sub, roles=[role],
                                        borough=chosen, ttl_seconds=settings.token_ttl_seconds,
                                        issuer=settings.jwt_issuer, audience=settings.jwt_audience)
        sign_in(request, token, sub=sub, roles=[role], borough=chosen)
        log.info("signed_in", role=role, borough=chosen, sub=sub)
        return RedirectResponse(landing([role]), status_code=303)

    @api.get("/auth/login")
    async def oidc_login(request: Request) -> Response:
        if oidc is None:
            return render(request, "error.html", status_code=404, title="Sign-in is not set up",
                          message="This console has no OpenID Connect provider configured.")
        return await oidc.authorize_redirect(request, settings.oidc_redirect_url)

    @api.get("/auth/callback")
    async def oidc_callback(request: Request) -> Response:
        if oidc is None:
            return render(request, "error.html", status_code=404, title="Sign-in is not set up",
                          message="This console has no OpenID Connect provider configured.")
        try:
            token = await oidc.authorize_access_token(request)
        except OAuthError as exc:
            log.warning("oidc_refused", error_code=str(exc.error or "oauth_error")[:60])
            return render(request, "error.html", status_code=401, title="You could not be signed in",
                          message="The council's sign-in service did not confirm who you are. Try again.")
        service_token = token.get(settings.oidc_service_token)
        if not service_token:
            return render(request, "error.html", status_code=401, title="You could not be signed in",
                          message="The council's sign-in service gave no token for the platform.")
        claims = {**(token.get("userinfo") or {}), **claims_for_display(service_token)}
        roles = [r for r in claims.get("roles", []) if r in ROLE_NAMES] if isinstance(claims.get("roles"), list) else []
        borough = claims.get("borough") if claims.get("borough") in BOROUGH_NAMES else None
        sub = str(claims.get("sub", ""))
        sign_in(request, service_token, sub=sub, roles=roles, borough=borough)
        log.info("signed_in", role=roles[0] if roles else None, borough=borough, sub=sub)
        return RedirectResponse(landing(roles), status_code=303)

    @api.post("/sign-out")
    async def sign_out(request: Request) -> Response:
        await posted(request)
        request.session.clear()
        return RedirectResponse("/sign-in", status_code=303)

    return api
