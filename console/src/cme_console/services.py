"""The four services' public HTTP APIs, called with the signed-in person's own token (CONTRACT section 8).

The console has no other way to any data: what a page shows is what these answers hold for that person,
scoped by their role and borough exactly as the services scope it. Each call says why it was made
(`X-CME-Purpose`, which the services write into their access logs) and carries the request's
correlation id.
"""

from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from cme_shared.logging import get_logger

from .settings import ConsoleSettings

Service = Literal["intake", "casework", "disclosure", "rights"]
SERVICES: tuple[Service, ...] = ("intake", "casework", "disclosure", "rights")

log = get_logger("cme_console.services")
# How long the console waits for a printed letter: above rights' own limit for a print (pdf_timeout_seconds, 60 s).
LETTER_TIMEOUT_SECONDS = 65.0


@dataclass
class ServiceProblem(Exception):
    """A service said no, or did not answer. `errors` are its `{loc, code, message}` items (no personal
    data: the services keep it out of error bodies)."""

    service: str
    status: int
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def codes(self) -> list[str]:
        return [str(e.get("code", "")) for e in self.errors]

    def __str__(self) -> str:
        return f"{self.service} answered {self.status} ({', '.join(self.codes) or 'no code'})"


class SignedOut(ServiceProblem):
    """The token was refused (expired, or revoked): the person signs in again."""


class Services:
    """One person's view of the platform: every call carries their bearer token."""

    def __init__(self, settings: ConsoleSettings, client: httpx.AsyncClient, token: str, correlation_id: str | None):
        self._urls: dict[str, str] = {"intake": settings.intake_url, "casework": settings.casework_url,
                                      "disclosure": settings.disclosure_url, "rights": settings.rights_url}
        self._client = client
        self._token = token
        self._correlation_id = correlation_id

    def _headers(self, purpose: str) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self._token}", "X-CME-Purpose": f"officer console: {purpose}"}
        if self._correlation_id:
            headers["X-Correlation-ID"] = self._correlation_id
        return headers

    async def _call(self, service: Service, method: str, path: str, *, purpose: str, params: dict | None = None,
                    body: Any = None, timeout: float | None = None) -> httpx.Response:
        extra = {} if timeout is None else {"timeout": timeout}
        try:
            response = await self._client.request(method, self._urls[service] + path, params=params, json=body,
                                                  headers=self._headers(purpose), **extra)
        except httpx.HTTPError as exc:
            log.warning("service_unreachable", target_service=service, error_type=type(exc).__name__)
            raise ServiceProblem(service, 503, [{"loc": [], "code": "service_unreachable",
                                                 "message": f"the {service} service did not answer"}]) from None
        if response.status_code >= 400:
            errors = _errors_of(response)
            log.info("service_refused", target_service=service, status_code=response.status_code,
                     codes=",".join(str(e.get("code", "")) for e in errors)[:200])
            problem = SignedOut if response.status_code == 401 else ServiceProblem
            raise problem(service, response.status_code, errors)
        return response

    async def get(self, service: Service, path: str, *, purpose: str, params: dict | None = None) -> Any:
        return (await self._call(service, "GET", path, purpose=purpose, params=params)).json()

    async def get_text(self, service: Service, path: str, *, purpose: str, params: dict | None = None) -> str:
        return (await self._call(service, "GET", path, purpose=purpose, params=params)).text

    async def get_raw(self, service: Service, path: str, *, purpose: str, params: dict | None = None,
                      timeout: float | None = LETTER_TIMEOUT_SECONDS) -> httpx.Response:
        """The answer as it came (a letter's HTML or PDF), for the console to pass on. A letter is printed
        while the reader waits: rights gives a print up to `CME_PDF_TIMEOUT_SECONDS` (60 s), so the console
        waits a little longer than that rather than its usual timeout (a busy machine took over 10 s)."""
        return await self._call(service, "GET", path, purpose=purpose, params=params, timeout=timeout)

    async def post(self, service: Service, path: str, body: Any, *, purpose: str) -> Any:
        response = await self._call(service, "POST", path, purpose=purpose, body=body)
        return response.json() if response.content else None


async def public_get(client: httpx.AsyncClient, settings: ConsoleSettings, path: str) -> httpx.Response:
    """The disclosure log's public endpoints (tree head, key, checkpoint): no token needed."""
    try:
        response = await client.get(settings.disclosure_url + path)
    except httpx.HTTPError:
        raise ServiceProblem("disclosure", 503, [{"loc": [], "code": "service_unreachable",
                                                  "message": "the disclosure service did not answer"}]) from None
    if response.status_code >= 400:
        raise ServiceProblem("disclosure", response.status_code, _errors_of(response))
    return response


def _errors_of(response: httpx.Response) -> list[dict[str, Any]]:
    try:
        errors = response.json().get("errors", [])
    except ValueError:
        return []
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []
