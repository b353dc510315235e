"""Bearer-token authentication and roles (CONTRACT section 2).

Development: HS256 with the secret in CME_JWT_SECRET. Production: RS256 or ES256 keys from the tenant's https
JWKS (CME_JWKS_URL), cached and fetched again when a token names a new `kid` (key rotation). Every token must
say `typ` JWT or at+jwt (RFC 9068), carry `sub` (not empty), `iat` and `exp` (at most
CME_JWT_MAX_LIFETIME_SECONDS apart; clocks may differ by CME_JWT_LEEWAY_SECONDS), `iss` and `aud` when
CME_JWT_ISSUER and CME_JWT_AUDIENCE are set (production requires both), and at least one of this platform's
roles. A refusal is a 401 whose code names the rule broken (`token_expired`, `token_issuer_not_accepted`,
`token_no_known_role`...), never the token or its claims.

A route that needs a principal is authenticated before its body is read (SEC-10): FastAPI reads and
parses a body before it runs the route's dependencies, so `authenticate_before_body` does the check when
the route first asks for its body, and `current_principal` then reuses what it found.
"""

from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Annotated, Any

import anyio.to_thread
import jwt
from fastapi import Depends, Request
from fastapi.routing import APIRoute
from jwt.exceptions import InvalidSubjectError
from pydantic import BaseModel
from starlette.datastructures import Headers
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope

from .contracts.referrals import Borough
from .http.errors import ApiError
from .logging import get_logger
from .settings import ServiceSettings

log = get_logger(__name__)


class Role(StrEnum):
    OFFICER = "officer"
    MANAGER = "manager"
    DPO = "dpo"
    AUDITOR = "auditor"
    PARTNER = "partner"
    # The council's records officer (issue 14: retention): the disposal report and legal holds, no case data.
    RECORDS_OFFICER = "records_officer"


# Roles that work across both boroughs (DOMAIN section 1): their tokens carry no borough.
CROSS_BOROUGH = frozenset({Role.MANAGER, Role.DPO, Role.AUDITOR, Role.RECORDS_OFFICER})


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


EVERY_BOROUGH = frozenset(borough.value for borough in Borough)


def visible_boroughs(principal: Principal, include_unassigned: bool) -> frozenset[str | None]:
    """The boroughs (their values) of the records `principal` may see: `Principal.boroughs()`, the acting
    role's alone (SEC-14), and None, standing for a record no borough has been decided for yet (intake's
    triage list, casework's unassigned cases, a disclosure requested without one), when the caller's rule
    reaches those (`include_unassigned`) and the principal sees every borough: officers never see them, a
    manager or the DPO places them (DOMAIN section 1; issue 13). Every service's borough check reads this:

        visible = visible_boroughs(principal, include_unassigned=True)
        if record.borough not in visible: ...            # a record without a borough is seen when None is in it
        named = sorted(b for b in visible if b is not None)
        where = or_(column.in_(named), column.is_(None)) if None in visible else column.in_(named)
    """
    visible: frozenset[str | None] = frozenset(borough.value for borough in principal.boroughs())
    if include_unassigned and visible >= EVERY_BOROUGH:
        visible |= {None}
    return visible


# RFC 9068 access tokens say `at+jwt`; many identity providers still say `JWT`. Compared case-insensitively
# (RFC 7515 4.1.9: media types are case-insensitive).
TOKEN_TYPES = frozenset({"jwt", "at+jwt", "application/at+jwt"})  # RFC 9068 allows the full media type
# Pinned per mode, never read from the token: HS256 with the development secret, RS256/ES256 from the JWKS.
# `none` and every other algorithm are refused.
DEVELOPMENT_ALGORITHMS = ("HS256",)
JWKS_ALGORITHMS = ("RS256", "ES256")
_ROLE_NAMES = frozenset(role.value for role in Role)
_BOROUGH_NAMES = frozenset(borough.value for borough in Borough)

# What a refusal says: a code for the rule the token broke and the claim or header at fault, never the
# token or the values it carries. PyJWT's exceptions, most specific first.
_PYJWT_REFUSALS: tuple[tuple[type[Exception], str, str], ...] = (
    (jwt.ExpiredSignatureError, "token_expired", "the bearer token has expired"),
    (jwt.ImmatureSignatureError, "token_not_yet_valid", "the bearer token is issued or valid only in the future"),
    (jwt.MissingRequiredClaimError, "token_claim_missing", "the bearer token lacks a required claim"),
    (jwt.InvalidIssuerError, "token_issuer_not_accepted", "the bearer token is not from this platform's issuer"),
    (jwt.InvalidAudienceError, "token_audience_not_accepted", "the bearer token is not meant for this platform"),
    (jwt.InvalidAlgorithmError, "token_algorithm_not_accepted", "the bearer token's algorithm is not accepted"),
    (jwt.InvalidSignatureError, "invalid_token", "the bearer token's signature does not verify"),
    (jwt.InvalidIssuedAtError, "token_claim_malformed", "the bearer token's iat is not a time"),
    (InvalidSubjectError, "token_claim_malformed", "the bearer token's sub is not a string"),
    (jwt.PyJWTError, "invalid_token", "the bearer token is malformed or invalid"),
)


def _refused(code: str, message: str, where: str | None = None) -> ApiError:
    return ApiError(401, code, message, ["header", "authorization", *([where] if where else [])])


class TokenVerifier:
    """Checks a bearer token against every rule of CONTRACT section 2 (SEC-07, SEC-23, SEC-31) and gives its
    Principal, or raises ApiError 401 naming the rule broken (503 when the key set cannot be fetched)."""

    def __init__(self, settings: ServiceSettings) -> None:
        self._settings = settings
        self._jwks = jwt.PyJWKClient(
            settings.jwks_url, lifespan=settings.jwks_cache_seconds, timeout=settings.jwks_timeout_seconds,
            cooldown_duration=settings.jwks_refresh_cooldown_seconds,
        ) if settings.jwks_url else None

    async def verify_async(self, token: str) -> Principal:
        """`verify` for async code: a JWKS fetch (at start, when the cache expires, after a rotation) blocks,
        so it runs in a worker thread and the event loop goes on serving other requests."""
        if self._jwks is None:
            return self.verify(token)
        return await anyio.to_thread.run_sync(self.verify, token)

    def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _refused("invalid_token", "the bearer token is not a JWT") from None
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in TOKEN_TYPES:
            raise _refused("token_type_not_accepted", "the bearer token's typ must be JWT or at+jwt", "typ")
        # Before any key is looked up: a token no key of ours could verify costs no JWKS fetch.
        if header.get("alg") not in (JWKS_ALGORITHMS if self._jwks is not None else DEVELOPMENT_ALGORITHMS):
            raise _refused("token_algorithm_not_accepted", "the bearer token's algorithm is not accepted", "alg")
        claims = self._decode(token, header)
        return self._principal(claims)

    def _decode(self, token: str, header: dict[str, Any]) -> dict[str, Any]:
        settings = self._settings
        required = ["sub", "exp", "iat"]
        required += ["iss"] if settings.jwt_issuer is not None else []
        required += ["aud"] if settings.jwt_audience is not None else []
        # Without a configured audience (development), a token's `aud` is not checked, as before.
        options: dict[str, Any] = {"require": required, "verify_aud": settings.jwt_audience is not None}
        key: Any
        if self._jwks is not None:
            key, algorithms = self._signing_key(header), JWKS_ALGORITHMS
        else:
            key, algorithms = settings.jwt_secret.get_secret_value(), DEVELOPMENT_ALGORITHMS
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=list(algorithms), options=options,  # type: ignore[arg-type]
                audience=settings.jwt_audience, issuer=settings.jwt_issuer, leeway=settings.jwt_leeway_seconds,
            )
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise self._refusal(exc) from None
        if int(claims["exp"]) - int(claims["iat"]) > settings.jwt_max_lifetime_seconds:  # PyJWT read both as int
            raise _refused("token_lifetime_too_long", "the bearer token lives longer than this platform allows "
                           f"({settings.jwt_max_lifetime_seconds} s from iat to exp)", "exp")
        return claims

    def _signing_key(self, header: dict[str, Any]) -> jwt.PyJWK:
        """The JWKS key the token names: from the cached set, or from a fresh fetch when the `kid` is new (a
        rotation), at most once per cool-down."""
        assert self._jwks is not None
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise _refused("token_key_id_missing", "the bearer token names no signing key (kid)", "kid")
        try:
            return self._jwks.get_signing_key(kid)
        except jwt.PyJWKClientConnectionError:
            log.warning("jwks_unavailable", error_code="identity_provider_unavailable")
            raise ApiError(503, "identity_provider_unavailable",
                           "the identity provider's keys cannot be fetched now; retry shortly") from None
        except jwt.PyJWKClientError:
            raise _refused("token_signing_key_unknown", "the bearer token's signing key is not in the "
                           "identity provider's key set", "kid") from None
        except jwt.PyJWTError:  # a key set that is not one (PyJWKSetError)
            log.warning("jwks_unusable", error_code="identity_provider_keys_unusable")
            raise ApiError(503, "identity_provider_unavailable",
                           "the identity provider's key set cannot be used now; retry shortly") from None

    @staticmethod
    def _refusal(exc: Exception) -> ApiError:
        for kind, code, message in _PYJWT_REFUSALS:
            if isinstance(exc, kind):
                claim = exc.claim if isinstance(exc, jwt.MissingRequiredClaimError) else None
                return _refused(code, message, claim)
        return _refused("invalid_token", "the bearer token is malformed or invalid")

    @staticmethod
    def _principal(claims: dict[str, Any]) -> Principal:
        sub = claims["sub"]
        # PyJWT has checked it is a string. Blank counts as empty, zero-width and other invisible characters
        # included: the two-person rule compares subs.
        if not any(ch.isprintable() and not ch.isspace() for ch in sub):
            raise _refused("token_subject_empty", "the bearer token's sub is empty", "sub")
        for claim in ("exp", "iat", "nbf"):  # RFC 7519 2: NumericDate is a number, never a string
            if claim in claims and (isinstance(claims[claim], bool) or not isinstance(claims[claim], (int, float))):
                raise _refused("token_claim_malformed", f"the bearer token's {claim} must be a number", claim)
        roles = claims.get("roles", [])
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):  # null, a number, a text
            raise _refused("token_roles_malformed", "the bearer token's roles must be a list of strings", "roles")
        # Roles of other applications in the same tenant are ignored; a token with none of ours is refused.
        known = frozenset(Role(r) for r in roles if r in _ROLE_NAMES)
        if not known:
            raise _refused("token_no_known_role", "the bearer token carries none of this platform's roles "
                           f"({', '.join(Role)})", "roles")
        borough = claims.get("borough")
        if borough is not None and (not isinstance(borough, str) or borough not in _BOROUGH_NAMES):
            raise _refused("token_borough_unknown", "the bearer token's borough is not one this platform "
                           "serves", "borough")
        org_id = claims.get("org_id")
        if org_id is not None and not isinstance(org_id, str):
            raise _refused("token_claim_malformed", "the bearer token's org_id must be a string", "org_id")
        try:
            return Principal(sub=sub, roles=known, borough=borough, org_id=org_id)
        except ValueError:  # pydantic's ValidationError: nothing above should let one through
            raise _refused("token_claim_malformed", "the bearer token's claims are malformed") from None


# Where `authenticate_before_body` leaves the principal it verified, for `current_principal`.
PRINCIPAL_SCOPE_KEY = "cme.principal"


def _bearer(headers: Headers) -> str:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "missing_token", "an Authorization: Bearer token is required")
    return token


def current_principal(request: Request) -> Principal:
    verified = request.scope.get(PRINCIPAL_SCOPE_KEY)
    if isinstance(verified, Principal):
        return verified
    # A sync dependency: FastAPI runs it in a worker thread, so a JWKS fetch here does not block the loop.
    verifier: TokenVerifier = request.app.state.token_verifier
    principal = verifier.verify(_bearer(request.headers))
    request.scope[PRINCIPAL_SCOPE_KEY] = principal  # the access line reads it, rather than verifying again
    return principal


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
        verifier: TokenVerifier = scope["app"].state.token_verifier
        scope[PRINCIPAL_SCOPE_KEY] = await verifier.verify_async(_bearer(Headers(scope=scope)))
    return receive


def require_roles(*roles: Role) -> Callable[..., Principal]:
    """The principal, acting as the first of `roles` (in the order given) that its token holds: a route
    lists its roles narrowest first, so a token with two roles gets the narrower scope."""
    allowed = frozenset(roles)

    def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        for role in roles:
            # An officer works for one borough: a token that names none cannot act as an officer (it could
            # write records that neither it nor any officer could read back).
            if role in principal.roles and not (role is Role.OFFICER and principal.borough is None):
                return principal.acting_as(role)
        if Role.OFFICER in allowed and Role.OFFICER in principal.roles:
            raise ApiError(403, "officer_borough_missing", "an officer's token must name the officer's borough")
        raise ApiError(403, "forbidden_role", f"this needs one of the roles: {', '.join(sorted(allowed))}")

    return dependency


def issue_development_token(
    secret: str, *, sub: str, roles: Iterable[str], borough: str | None = None,
    org_id: str | None = None, ttl_seconds: int = 8 * 3600, issuer: str | None = None,
    audience: str | None = None,
) -> str:
    """An HS256 token as the development and test services accept it: `typ: at+jwt`, `iat`, `exp` (8 hours
    by default, inside the 12-hour maximum lifetime), and `iss`/`aud` when the services are given an issuer
    and audience (`testing.fixtures.bearer` passes the settings' own)."""
    from .clock import SYSTEM_CLOCK

    now = int(SYSTEM_CLOCK.now().timestamp())
    claims: dict[str, Any] = {"sub": sub, "roles": list(roles), "iat": now, "exp": now + ttl_seconds}
    if borough:
        claims["borough"] = borough
    if org_id:
        claims["org_id"] = org_id
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm="HS256", headers={"typ": "at+jwt"})
