"""Who is signed in: the session cookie's contents, and the CSRF token every form carries.

The session (Starlette's SessionMiddleware: signed with itsdangerous, HTTP-only, SameSite=Lax, Secure in
production) holds the person's bearer token, the claims the console shows (user id, role, borough) and a
per-session CSRF token. No child's or carer's data is ever put in it.
"""

import secrets
from dataclasses import dataclass
from typing import Any

import jwt
from fastapi import Request

from .services import Services

CSRF_FIELD = "csrf_token"
ROLE_NAMES = {"officer": "CME officer", "manager": "CME manager", "dpo": "Data protection officer",
              "auditor": "Auditor"}
BOROUGH_NAMES = {"westminster": "Westminster", "kensington_and_chelsea": "Kensington and Chelsea"}


@dataclass(frozen=True)
class Person:
    sub: str
    roles: tuple[str, ...]
    borough: str | None
    token: str

    @property
    def role(self) -> str:
        """The role the console's menus follow: the first the token holds (the services act the same way)."""
        return self.roles[0] if self.roles else ""

    def has(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)

    @property
    def described(self) -> str:
        where = f", {BOROUGH_NAMES.get(self.borough, self.borough)}" if self.borough else ""
        return f"{ROLE_NAMES.get(self.role, self.role)}{where}"


def claims_for_display(token: str) -> dict[str, Any]:
    """The token's claims, to choose menus and greet the person only: the services verify the token on every
    call and decide what it may do; the console never decides access from these."""
    try:
        return jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}


def sign_in(request: Request, token: str, *, sub: str, roles: list[str], borough: str | None) -> None:
    request.session.clear()
    request.session.update({"token": token, "sub": sub, "roles": roles, "borough": borough,
                            CSRF_FIELD: secrets.token_urlsafe(32)})


def signed_in(request: Request) -> Person | None:
    session = request.session
    if not session.get("token"):
        return None
    return Person(sub=str(session.get("sub", "")), roles=tuple(session.get("roles") or ()),
                  borough=session.get("borough"), token=str(session["token"]))


def csrf_token(request: Request) -> str:
    """The session's CSRF token; made on first use (the sign-in form is posted before anyone signs in)."""
    token = request.session.get(CSRF_FIELD)
    if not token:
        token = request.session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return str(token)


def csrf_ok(request: Request, submitted: Any) -> bool:
    expected = request.session.get(CSRF_FIELD)
    return bool(expected) and isinstance(submitted, str) and secrets.compare_digest(expected, submitted)


def services_for(request: Request, person: Person) -> Services:
    from cme_shared import correlation

    app = request.app
    return Services(app.state.settings, app.state.http, person.token, correlation.current())
