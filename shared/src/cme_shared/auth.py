"""Bearer-token authentication and roles (CONTRACT section 2).

Development: HS256 with the secret in CME_JWT_SECRET. Production: RS256 keys from a JWKS URL.

A route that needs a principal is authenticated before its body is read (SEC-10): FastAPI reads and
parses a body before it runs the route's dependencies, so `authenticate_before_body` does the check when
the route first asks for its body, and `current_principal` then reuses what it found.
"""

from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.datastructures import Headers
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope

from .contracts.referrals import Borough
from .http.errors import ApiError
from .settings import ServiceSettings


class Role(StrEnum):
    OFFICER = "officer"
    MANAGER = "manager"
    DPO = "dpo"
    AUDITOR = "auditor"
    PARTNER = "partner"


# Roles that work across both boroughs (DOMAIN section 1): their tokens carry no borough.
CROSS_BOROUGH = frozenset({Role.MANAGER, Role.DPO, Role.AUDITOR})


class Principal(BaseModel):
    sub: str
    roles: frozenset[Role]
    borough: Borough | None = None
    org_id: str | None = None
    # The role that let the request in (set by `require_roles`): what it may do and see is that role's.
    acting_role: Role | None = None

    def boroughs(self) -> frozenset[Borough]:
        """The boroughs whose records this person may see: those of the role that let the request in,
        never widened by another role in the token (SEC-14). Before a role has been chosen, the narrowest:
        all boroughs only when every role in the token works across both."""
        scope = {self.acting_role} if self.acting_role is not None else set(self.roles)
        if scope and scope <= CROSS_BOROUGH:
            return frozenset(Borough)
        return frozenset({self.borough}) if self.borough else frozenset()

    def acting_as(self, role: Role) -> "Principal":
        return self.model_copy(update={"acting_role": role})


class TokenVerifier:
    def __init__(self, settings: ServiceSettings) -> None:
        self._settings = settings
        self._jwks = jwt.PyJWKClient(settings.jwks_url) if settings.jwks_url else None

    def verify(self, token: str) -> Principal:
        options = {"require": ["sub", "exp"], "verify_aud": self._settings.jwt_audience is not None}
        try:
            if self._jwks is not None:
                key: Any = self._jwks.get_signing_key_from_jwt(token).key
                claims = jwt.decode(token, key, algorithms=["RS256"], audience=self._settings.jwt_audience, options=options)
            else:
                claims = jwt.decode(
                    token, self._settings.jwt_secret.get_secret_value(), algorithms=["HS256"],
                    audience=self._settings.jwt_audience, options=options,
                )
            return Principal(
                sub=claims["sub"], roles=frozenset(claims.get("roles", [])),
                borough=claims.get("borough"), org_id=claims.get("org_id"),
            )
        except (jwt.PyJWTError, ValueError) as exc:
            raise ApiError(401, "invalid_token", "the bearer token is missing, expired or invalid") from exc


# Where `authenticate_before_body` leaves the principal it verified, for `current_principal`.
PRINCIPAL_SCOPE_KEY = "cme.principal"


def _bearer(headers: Headers, verifier: TokenVerifier) -> Principal:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "missing_token", "an Authorization: Bearer token is required")
    return verifier.verify(token)


def current_principal(request: Request) -> Principal:
    verified = request.scope.get(PRINCIPAL_SCOPE_KEY)
    if isinstance(verified, Principal):
        return verified
    return _bearer(request.headers, request.app.state.token_verifier)


def needs_principal(route: BaseRoute | None) -> bool:
    """Whether the route depends on `current_principal`, directly or through `require_roles` and the like.

    Read from the route's own dependencies, so that a new route is authenticated early without being listed;
    a route that needs none (the operational endpoints, the public referral form) is left alone.
    """
    if not isinstance(route, APIRoute):
        return False
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        if dependant.call is current_principal:
            return True
        pending.extend(dependant.dependencies)
    return False


async def authenticate_before_body(scope: Scope, receive: Receive) -> Receive:
    """A check for `BeforeBody`: a request without a valid token is answered 401 before any byte of its body
    is read or parsed. The role check (403) stays with the route's dependencies."""
    if needs_principal(scope.get("route")):
        scope[PRINCIPAL_SCOPE_KEY] = _bearer(Headers(scope=scope), scope["app"].state.token_verifier)
    return receive


def require_roles(*roles: Role) -> Callable[..., Principal]:
    """The principal, acting as the first of `roles` (in the order given) that its token holds: a route
    lists its roles narrowest first, so a token with two roles gets the narrower scope."""
    allowed = frozenset(roles)

    def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        for role in roles:
            if role in principal.roles:
                return principal.acting_as(role)
        raise ApiError(403, "forbidden_role", f"this needs one of the roles: {', '.join(sorted(allowed))}")

    return dependency


def issue_development_token(
    secret: str, *, sub: str, roles: Iterable[str], borough: str | None = None,
    org_id: str | None = None, ttl_seconds: int = 8 * 3600,
) -> str:
    import time

    now = int(time.time())
    claims: dict[str, Any] = {"sub": sub, "roles": list(roles), "iat": now, "exp": now + ttl_seconds}
    if borough:
        claims["borough"] = borough
    if org_id:
        claims["org_id"] = org_id
    return jwt.encode(claims, secret, algorithm="HS256")
