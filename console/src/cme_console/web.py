"""What every page shares: rendering with GOV.UK Frontend macros, who is signed in, CSRF-checked forms,
and answers for the services' refusals.

Forms are posted, never sent in a URL, so nothing a person types about a child reaches a URL or an
access line; URLs hold ids and codes only.
"""

from datetime import date, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import ChainableUndefined, ChoiceLoader, Environment, PackageLoader, PrefixLoader, select_autoescape
from starlette.datastructures import FormData

from cme_shared.clock import LONDON, SYSTEM_CLOCK

from . import labels
from .people import CSRF_FIELD, Person, csrf_ok, csrf_token, services_for, signed_in
from .services import Services

TEMPLATES = Path(__file__).parent / "templates"


class NotSignedIn(Exception):
    """No session, or the services refused its token: the person is sent to sign in."""


class Forbidden(Exception):
    """The signed-in role has no page here (the services would refuse it too)."""


class CsrfRefused(Exception):
    """A form posted without this session's CSRF token."""


def environment() -> Environment:
    env = Environment(
        loader=ChoiceLoader([
            PackageLoader("cme_console", "templates"),
            PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")}),
        ]),
        autoescape=select_autoescape(["html"]),
        undefined=ChainableUndefined,  # the GOV.UK macros read optional params as params.x.y
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(long_date=long_date, date_time=date_time, label=labels.label)
    return env


def long_date(value: Any) -> str:
    """Dates in full, as GOV.UK writes them: 4 January 2027."""
    if value in (None, ""):
        return "Not known"
    day = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    if isinstance(day, datetime):
        day = day.astimezone(LONDON).date()
    return f"{day.day} {day:%B %Y}"


def date_time(value: Any) -> str:
    """A moment in London time: 4 January 2027 at 2:05pm."""
    if value in (None, ""):
        return "Not known"
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    local = moment.astimezone(LONDON)
    hour = local.hour % 12 or 12
    return f"{local.day} {local:%B %Y} at {hour}:{local:%M}{'am' if local.hour < 12 else 'pm'}"


def person(request: Request, *roles: str) -> Person:
    """The signed-in person, who must hold one of `roles` (any role when none are named)."""
    found = signed_in(request)
    if found is None:
        raise NotSignedIn()
    if roles and not found.has(*roles):
        raise Forbidden()
    return found


def services(request: Request, *roles: str) -> tuple[Person, Services]:
    who = person(request, *roles)
    return who, services_for(request, who)


async def posted(request: Request) -> FormData:
    """The form, once its CSRF token matched this session's (every POST goes through here)."""
    form = await request.form()
    if not csrf_ok(request, form.get(CSRF_FIELD)):
        raise CsrfRefused()
    return form


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    env: Environment = request.app.state.templates
    who = signed_in(request)
    flash = request.session.pop("flash", None) if who is not None else None
    html = env.get_template(template).render(
        request=request, person=who, csrf_token=csrf_token(request), csrf_field=CSRF_FIELD, flash=flash,
        development=request.app.state.settings.development_sign_in,
        council_name=request.app.state.settings.console_council_name, today=SYSTEM_CLOCK.today(), **context)
    return HTMLResponse(html, status_code=status_code)


def done(request: Request, url: str, message: str) -> RedirectResponse:
    """After a form: a notice on the next page (kept in the session, never in the URL) and a 303."""
    request.session["flash"] = message
    return RedirectResponse(url, status_code=303)


def form_errors(problem: Any, names: dict[str, str] | None = None) -> list[dict[str, str]]:
    """A service's 4xx errors as the GOV.UK error summary lists them: the field and what is wrong.

    `names` maps the API's field (last item of `loc`) to the form field's id, so each error links to it."""
    names = names or {}
    items = []
    for error in getattr(problem, "errors", []) or []:
        loc = [str(part) for part in error.get("loc", []) if part not in ("body", "query")]
        field = next((names[p] for p in reversed(loc) if p in names), None)
        where = " ".join(labels.label(p) for p in loc if not p.isdigit())
        text = f"{where.capitalize()}: {error.get('message', '')}" if where else str(error.get("message", ""))
        items.append({"text": text, "href": f"#{field}" if field else "#main-content"})
    if not items:
        items.append({"text": f"The {getattr(problem, 'service', 'service')} service could not do this "
                              f"(status {getattr(problem, 'status', '?')}).", "href": "#main-content"})
    return items
