"""schemathesis against every service's OpenAPI, each service served by uvicorn (as `serve` configures it) on
a throw-away database and the real broker.

Every operation gets generated requests, valid and invalid by its schema, each sent with no token and with a
token holding every role; path ids are generated, or those of records seeded first with synthetic personal
data. No answer may be a 5xx (but /readyz's documented 503), carry a stack trace, or, when it is an error,
quote the seeded personal data or a value the request sent; no answer without a token quotes seeded data.

CME_FUZZ_EXAMPLES examples per operation and mode (default 10: CI's size); set it higher for a
long run. The figures are printed whether the test passes or fails.
"""

import asyncio
import json
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from cme_shared.auth import Role
from cme_shared.http.errors import strings_in
from cme_shared.testing.fixtures import bearer
from cme_shared.testing.served import SERVICES, service_app, serving

from seeded import PERSONAL, SEEDERS

# schemathesis draws with `random` inside its strategies, which Hypothesis warns of on every operation.
pytestmark = [pytest.mark.integration,
              pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")]

EXAMPLES = int(os.environ.get("CME_FUZZ_EXAMPLES", "10"))
ALLOWED_5XX = {("GET", "/readyz"): {503}}  # not ready is an answer, not a fault
STACK_TRACE = ("Traceback", 'File "')
MIN_ECHO = 8  # shorter sent values may match ordinary words of an error message by chance

# --- The run ---------------------------------------------------------------------------------------------


@dataclass
class Figures:
    service: str
    operations: int = 0
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        statuses = ", ".join(f"{status}: {count}" for status, count in sorted(self.statuses.items()))
        return (f"schemathesis {self.service}: {self.operations} operations, {self.requests} requests "
                f"({EXAMPLES} examples each), statuses {{{statuses}}}, {len(self.failures)} failures")


def problems_with(response: requests.Response, case: Any, anonymous: bool, vocabulary: str,
                  seen: set[str]) -> list[str]:
    """What is wrong with one answer. `seen`: the distinct bodies answered before this one (a sent value found
    in one of those is the service's own wording, which the generator picked up, not an echo)."""
    problems = []
    status = response.status_code
    if status >= 500 and status not in ALLOWED_5XX.get((case.method, case.path), set()):
        problems.append(f"status {status}")
    text = response.text
    if any(marker in text for marker in STACK_TRACE):
        problems.append("a stack trace in the body")
    if status >= 400 or anonymous:
        problems += [f"quotes seeded personal data {value!r}" for value in PERSONAL if value in text]
    if status >= 400:
        sent = [case.body, case.query, case.path_parameters]
        problems += [f"quotes a value it was sent ({len(value)} characters)" for value in set(strings_in(sent))
                     if len(value) >= MIN_ECHO and value in text and value not in vocabulary
                     and not any(value in earlier for earlier in seen)]
    seen.add(text)
    return problems


def fuzz(service: str, document: dict[str, Any], base_url: str, token: dict[str, str],
         seeded: dict[str, str]) -> Figures:
    """Runs in a worker thread: the service answers on the test's event loop meanwhile."""
    figures = Figures(service)
    schema = schemathesis.openapi.from_dict(document)
    vocabulary = json.dumps(document)  # field names, enum values, formats: not the client's data
    session = requests.Session()
    seen: set[str] = set()
    run_settings = hypothesis_settings(
        hypothesis_settings.default, max_examples=EXAMPLES, deadline=None, database=None,
        suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate],
    )

    def exchange(case: Any, label: str) -> None:
        """One generated request, sent with no token and with the token; whatever is wrong is recorded."""
        for headers in ({}, token):
            who = "token" if headers else "no token"
            try:
                response = case.call(base_url=base_url, session=session, headers=headers, timeout=30)
            except requests.RequestException as exc:
                figures.failures.append(f"{label}, {who}: no answer ({type(exc).__name__})")
                continue
            figures.requests += 1
            figures.statuses[response.status_code] += 1
            for problem in problems_with(response, case, not headers, vocabulary, seen):
                curl = case.as_curl_command(base_url=base_url)[:600]
                figures.failures.append(f"{label}, {who}: {problem}\n    {curl}\n    -> {response.text[:300]}")

    def examples(cases: st.SearchStrategy[Any], label: str) -> Callable[[], None]:
        @run_settings
        @given(case=cases)
        def run(case: Any) -> None:
            exchange(case, label)

        return run

    for result in schema.get_all_operations():
        operation = result.ok()
        figures.operations += 1
        names = {p.name for p in operation.path_parameters}
        known = {name: seeded[name] for name in names if name in seeded}
        for mode in GenerationMode:
            choices = [operation.as_strategy(generation_mode=mode)]
            if known:
                choices.append(operation.as_strategy(generation_mode=mode, path_parameters=known))
            try:
                examples(st.one_of(choices), f"{operation.label} ({mode.value})")()
            except Unsatisfiable:  # nothing to make invalid in an operation without parameters
                pass
    return figures


@pytest.mark.parametrize("service", SERVICES)
async def test_generated_requests_find_no_server_error_stack_trace_or_personal_data(
        service, infra, databases, namespace, tmp_path, capsys):
    # The fuzz is no attacker of the public form: its rate limit would only hide the form's answers.
    overrides = {"public_rate_per_minute": 1e6, "public_burst": 1_000_000,
                 "public_global_per_minute": 1e6} if service == "intake" else {}
    app, settings = await service_app(service, infra, databases, namespace, tmp_path, **overrides)
    token = bearer(settings, *(role.value for role in Role), sub="fuzz-user", borough="westminster",
                   org_id="100001")
    async with serving(app, settings) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            seeded = await SEEDERS[service](client, app, token)
        figures = await asyncio.to_thread(fuzz, service, app.openapi(), base_url, token, seeded)
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            assert (await client.get("/healthz")).status_code == 200
    with capsys.disabled():
        print(f"\n{figures}")
    assert figures.requests > 0
    assert not figures.failures, "\n".join(figures.failures[:30])
