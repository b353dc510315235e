"""The officer console's application: GOV.UK pages over the four services' public APIs (CONTRACT section 8)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from cme_shared.http.app import RequestContext
from cme_shared.logging import configure_logging, get_logger

from . import sign_in
from .pages import access, caseload, cases, census, disclosures, ehe, rights, triage
from .services import ServiceProblem, SignedOut
from .settings import ConsoleSettings
from .web import CsrfRefused, Forbidden, NotSignedIn, environment, render

log = get_logger("cme_console")


def create_app(settings: ConsoleSettings | None = None, *,
               oidc_transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """`oidc_transport` lets a test stand in for the council's provider (httpx.MockTransport)."""
    settings = settings or ConsoleSettings()
    configure_logging("console", settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=settings.service_timeout_seconds) as client:
            app.state.http = client
            yield

    app = FastAPI(title="CME officer console", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.settings = settings
    app.state.templates = environment()
    oidc = sign_in.oidc_client(settings, oidc_transport)

    assets = settings.console_assets_dir
    app.mount("/assets", StaticFiles(directory=assets / "govuk-frontend/dist/govuk/assets", check_dir=False),
              name="assets")
    app.mount("/static/govuk", StaticFiles(directory=assets / "govuk-frontend/dist/govuk", check_dir=False),
              name="govuk")
    app.mount("/static/moj", StaticFiles(directory=assets / "@ministryofjustice/frontend/moj", check_dir=False),
              name="moj")

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.get("/", include_in_schema=False)
    async def home(request: Request) -> Response:
        roles = request.session.get("roles") or []
        return RedirectResponse(sign_in.landing(roles) if request.session.get("token") else "/sign-in", 303)

    app.include_router(sign_in.router(settings, oidc))
    for pages in (caseload, cases, triage, disclosures, rights, census, access, ehe):
        app.include_router(pages.router())

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, _exc: NotSignedIn) -> Response:
        return RedirectResponse("/sign-in", status_code=303)

    @app.exception_handler(SignedOut)
    async def signed_out(request: Request, _exc: SignedOut) -> Response:
        request.session.clear()
        return RedirectResponse("/sign-in", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, _exc: Forbidden) -> Response:
        return render(request, "error.html", status_code=403, title="You cannot use this page",
                      message="Your role does not give you this page. Ask your manager if you need it.")

    @app.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, _exc: CsrfRefused) -> Response:
        log.warning("csrf_refused", path=getattr(request.scope.get("route"), "path", "unmatched"))
        return render(request, "error.html", status_code=403, title="This form has expired",
                      message="Go back, reload the page and send the form again.")

    @app.exception_handler(ServiceProblem)
    async def service_problem(request: Request, exc: ServiceProblem) -> Response:
        if exc.status == 404:
            return render(request, "error.html", status_code=404, title="Page not found",
                          message="There is no such record, or it is not one you can see.")
        if exc.status == 403:
            return render(request, "error.html", status_code=403, title="You cannot see this",
                          message=f"The {exc.service} service does not let your role see or do this.")
        return render(request, "error.html", status_code=502, title="Sorry, there is a problem with the service",
                      message=f"The {exc.service} service could not answer ({exc.status}). Try again later.")

    # Outermost first: RequestContext (correlation id, nosniff, no-store, access line), then the session.
    app.add_middleware(SessionMiddleware, secret_key=settings.console_session_secret.get_secret_value(),
                       session_cookie="cme_console_session", max_age=settings.console_session_max_age_seconds,
                       same_site="lax", https_only=settings.console_cookie_secure)
    app.add_middleware(RequestContext, production=settings.env == "production")
    return app
