"""Bearer-token authentication and roles (CONTRACT section 2).

Development: HS256 with the secret in CME_JWT_SECRET. Production: RS256 keys from a JWKS URL.
"""

from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from pydantic import BaseModel

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

    def boroughs(self) -> frozenset[Borough]:
        """The boroughs whose records this person may see."""
        if self.roles & CROSS_BOROUGH:
            return frozenset(Borough)
        return frozenset({self.borough}) if self.borough else frozenset()


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


def current_principal(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "missing_token", "an Authorization: Bearer token is required")
    verifier: TokenVerifier = request.app.state.token_verifier
    return verifier.verify(token)


def require_roles(*roles: Role) -> Callable[..., Principal]:
    allowed = frozenset(roles)

    def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not principal.roles & allowed:
            raise ApiError(403, "forbidden_role", f"this needs one of the roles: {', '.join(sorted(allowed))}")
        return principal

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
