"""Who may call what (issue 13): every operation of every service's OpenAPI document, called by every kind of
caller (no token, expired, foreign issuer, foreign key, no known role; each role; officers of each borough and
of none; tokens with several roles), against the expected answer written once in ADMITS below.

Each cell is called with the operation's path ids pointing at records seeded in Westminster (tests/seeded.py)
and an empty JSON body, so the answer shows the authorisation layer alone: 401 for a token that is not valid,
403 for a role the operation does not admit, 404 for an officer of another borough (or none) on a Westminster
record, anything else (200, 202, 404 for an unknown id, 409, 422, 429) for an admitted caller. The test fails
on any cell that differs, and on any operation missing from the table (a new route must say who may call it).
"""

import os
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest

from cme_shared.testing.served import SERVICES, service_app, serving

from seeded import SEEDERS

pytestmark = pytest.mark.integration

ISSUER, AUDIENCE = "https://idp.cme.test/tenant-1", "cme-platform"
OPERATIONAL = {"/healthz", "/readyz", "/metrics", "/asyncapi.json"}
PUBLIC = "public"  # an operation anyone may call, token or not


@dataclass(frozen=True)
class Rule:
    """Who an operation admits: its roles in the order the route lists them (a token with several acts as the
    first it holds), and whether it reads a borough's record (an officer of another borough gets 404)."""

    roles: tuple[str, ...]
    scoped: bool = False


def rule(*roles: str, scoped: bool = False) -> Rule:
    return Rule(tuple(roles), scoped)


O, M, D, A, P, R = "officer", "manager", "dpo", "auditor", "partner", "records_officer"

# The expected answer of every operation: written once, checked cell by cell.
ADMITS: dict[tuple[str, str, str], Rule | str] = {
    # Every service: the DPO's list of who looked at a subject.
    **{(service, "GET", "/access-log"): rule(D) for service in SERVICES},

    # Intake: partners send, anyone may use the public form; held public referrals wait for an officer of
    # their borough (a manager for the triage list's); sealed referrers open to the DPO alone.
    ("intake", "POST", "/referrals"): rule(P),
    ("intake", "POST", "/public/referrals"): PUBLIC,
    ("intake", "GET", "/triage/awaiting-acceptance"): rule(O, M),
    ("intake", "POST", "/referrals/{intake_id}/accept"): rule(O, M, scoped=True),
    ("intake", "GET", "/referrals/{intake_id}/third-party"): rule(D),
    ("intake", "POST", "/referrals/{intake_id}/third-party/{detail_id}/unseal"): rule(D),
    ("intake", "GET", "/referrals/{intake_id}"): rule(O, M, D, scoped=True),
    ("intake", "GET", "/triage"): rule(M, D),
    ("intake", "GET", "/possible-matches"): rule(O, M, D),
    ("intake", "POST", "/possible-matches/{match_id}/resolve"): rule(O, M),
    ("intake", "POST", "/possible-matches/{match_id}/approval"): rule(M),
    ("intake", "POST", "/possible-matches/{match_id}/unmerge"): rule(M),
    # Retention (issue 14, item 1): intake's legal holds and its dry-run disposal report.
    ("intake", "POST", "/legal-holds"): rule(R, D),
    ("intake", "GET", "/legal-holds"): rule(R, D),
    ("intake", "POST", "/legal-holds/{hold_id}/lift"): rule(R, D),
    ("intake", "GET", "/retention/report"): rule(R, D),

    ("casework", "GET", "/cases"): rule(O, M, D),
    ("casework", "GET", "/cases/overdue"): rule(O, M, D),
    ("casework", "GET", "/cases/triage"): rule(M, D),
    ("casework", "GET", "/cases/{case_id}"): rule(O, M, D, scoped=True),
    ("casework", "GET", "/returns/cme-census"): rule(O, M),
    ("casework", "GET", "/returns/cme-any-time"): rule(O, M),
    ("casework", "GET", "/referrals/routed"): rule(O, M),
    ("casework", "GET", "/referrals/held"): rule(O, M),
    ("casework", "POST", "/referrals/held/{entry_id}/release"): rule(O, M),
    ("casework", "GET", "/shares/pending"): rule(O, M),
    ("casework", "POST", "/cases/{case_id}/enquiries"): rule(O, M),
    ("casework", "POST", "/cases/{case_id}/enquiries/{enquiry_id}/answer"): rule(O, M),
    ("casework", "POST", "/cases/{case_id}/escalations"): rule(O, M),
    ("casework", "POST", "/cases/{case_id}/escalations/{escalation_id}/sent"): rule(O, M),
    ("casework", "POST", "/cases/{case_id}/escalations/{escalation_id}/outcome"): rule(O, M),
    ("casework", "POST", "/cases/{case_id}/reviews"): rule(O, M),
    ("casework", "POST", "/cases/{case_id}/notes"): rule(O, M),
    ("casework", "POST", "/cases/{case_id}/notes/{note_id}/corrections"): rule(O, M),
    ("casework", "POST", "/cases/{case_id}/notes/{note_id}/addenda"): rule(D),
    ("casework", "POST", "/cases/{case_id}/closure"): rule(O, M),
    ("casework", "POST", "/cases/{case_id}/closure-proposal/confirm"): rule(O, M, scoped=True),
    ("casework", "POST", "/cases/{case_id}/closure-proposal/reject"): rule(O, M),
    ("casework", "POST", "/cases/{case_id}/reopen"): rule(O, M),
    ("casework", "POST", "/cases/{case_id}/shares"): rule(O, M),
    ("casework", "POST", "/cases/{case_id}/shares/{share_id}/decision"): rule(M),
    ("casework", "POST", "/cases/{case_id}/borough"): rule(M),
    ("casework", "POST", "/cases/{case_id}/allocation"): rule(O, M),
    ("casework", "GET", "/cases/{case_id}/closure-readiness"): rule(O, M, D, scoped=True),
    # Retention (issue 14, item 1): casework's legal holds and its dry-run disposal report.
    ("casework", "POST", "/legal-holds"): rule(R, D),
    ("casework", "GET", "/legal-holds"): rule(R, D),
    ("casework", "POST", "/legal-holds/{hold_id}/lift"): rule(R, D),
    ("casework", "GET", "/retention/report"): rule(R, D),
    # Elective home education records, scoped as cases (issue 14, item 2); the register (item 3) exists only
    # with CME_CASEWORK_CNIS_REGISTER on (off here: its routes are absent and answer 404).
    ("casework", "GET", "/ehe-records"): rule(O, M, D),
    ("casework", "GET", "/ehe-records/{ehe_id}"): rule(O, M, D, scoped=True),
    ("casework", "POST", "/ehe-records/notices"): rule(O, M),
    ("casework", "POST", "/ehe-records/{ehe_id}/steps"): rule(O, M),
    ("casework", "GET", "/returns/ehe-count"): rule(O, M),
    ("casework", "GET", "/cnis-register/export"): rule(M, D),
    ("casework", "GET", "/cnis-register/{child_subject_id}"): rule(O, M, D, scoped=True),
    ("casework", "PUT", "/cnis-register/{child_subject_id}"): rule(O, M),

    ("disclosure", "POST", "/disclosures"): rule(O, M, D),
    ("disclosure", "GET", "/disclosures"): rule(O, M, D, A),
    ("disclosure", "GET", "/disclosures/pending"): rule(M, D),
    ("disclosure", "POST", "/disclosures/{disclosure_id}/decision"): rule(M, D),
    ("disclosure", "POST", "/disclosures/{disclosure_id}/withholding"): rule(D),
    ("disclosure", "GET", "/disclosures/{disclosure_id}"): rule(O, M, D, A, scoped=True),
    ("disclosure", "GET", "/subjects/{subject_id}/recipients"): rule(O, M, D),
    ("disclosure", "GET", "/reports/shares"): rule(M, D, A),
    # Checkpoints are meant to be gossiped (C2SP tlog-checkpoint): the head, key and checkpoint are open.
    # Retention (issue 14, item 1): disclosure's legal holds and its dry-run disposal report.
    ("disclosure", "POST", "/legal-holds"): rule(R, D),
    ("disclosure", "GET", "/legal-holds"): rule(R, D),
    ("disclosure", "POST", "/legal-holds/{hold_id}/lift"): rule(R, D),
    ("disclosure", "GET", "/retention/report"): rule(R, D),
    ("disclosure", "GET", "/log/tree-head"): PUBLIC,
    ("disclosure", "GET", "/log/public-key"): PUBLIC,
    ("disclosure", "GET", "/log/checkpoint"): PUBLIC,
    ("disclosure", "GET", "/log/leaves"): rule(M, D, A),
    ("disclosure", "GET", "/log/proofs/inclusion"): rule(O, M, D, A),
    ("disclosure", "GET", "/log/proofs/consistency"): rule(O, M, D, A),

    # Rights (CONTRACT section 4: officer, dpo): drafts, approval and the decisions only a DPO makes.
    ("rights", "POST", "/requests"): rule(O, D),
    ("rights", "GET", "/requests/{request_id}"): rule(O, D, scoped=True),
    ("rights", "POST", "/requests/{request_id}/clock"): rule(O, D),
    ("rights", "POST", "/requests/{request_id}/approve"): rule(D),
    ("rights", "GET", "/requests/{request_id}/response"): rule(O, D, scoped=True),
    ("rights", "GET", "/requests/{request_id}/draft"): rule(D),
    ("rights", "POST", "/requests/{request_id}/collect"): rule(O, D, scoped=True),
    ("rights", "POST", "/requests/{request_id}/exemptions"): rule(D),
    ("rights", "POST", "/requests/{request_id}/refusal"): rule(D),
    ("rights", "POST", "/requests/{request_id}/rectification-decision"): rule(O, D),
    ("rights", "POST", "/requests/{request_id}/erasure-decision"): rule(D),
    ("rights", "POST", "/requests/{request_id}/restriction-decision"): rule(O, D),
    ("rights", "POST", "/requests/{request_id}/restriction-lift"): rule(O, D),
    ("rights", "POST", "/requests/{request_id}/proposal-decision"): rule(D),
    ("rights", "POST", "/requests/{request_id}/objection-decision"): rule(D),
    ("rights", "POST", "/requests/{request_id}/transfer-decision"): rule(O, D),
    ("rights", "POST", "/requests/{request_id}/complaint-acknowledgement"): rule(O, D),
    ("rights", "POST", "/requests/{request_id}/complaint-outcome"): rule(O, D),
    ("rights", "POST", "/requests/{request_id}/progress"): rule(O, D),
    ("rights", "POST", "/requests/{request_id}/borough"): rule(D),
    ("rights", "POST", "/public/complaints"): PUBLIC,
    ("rights", "GET", "/worklist"): rule(O, D),
    # Retention (issue 14): legal holds and the dry-run disposal report, the records officer's and the DPO's.
    ("rights", "POST", "/legal-holds"): rule(R, D),
    ("rights", "GET", "/legal-holds"): rule(R, D),
    ("rights", "POST", "/legal-holds/{hold_id}/lift"): rule(R, D),
    ("rights", "GET", "/retention/report"): rule(R, D),
}


@dataclass(frozen=True)
class Caller:
    name: str
    roles: tuple[str, ...] = ()
    borough: str | None = None
    valid: bool = True  # False: a token the services must refuse (401)
    claims: tuple[tuple[str, Any], ...] = ()
    secret: str | None = None  # None: the services' own


ALL = (O, M, D, A, P, R)
CALLERS = [
    Caller("no token", valid=False),
    Caller("expired", ALL, "westminster", valid=False, claims=(("exp", -60), ("iat", -3600))),
    Caller("foreign issuer", ALL, "westminster", valid=False, claims=(("iss", "https://idp.elsewhere.example"),)),
    Caller("foreign audience", ALL, "westminster", valid=False, claims=(("aud", "another-platform"),)),
    Caller("foreign key", ALL, "westminster", valid=False, secret="not-the-platform-secret-" + "y" * 40),
    Caller("no role", (), "westminster", valid=False),
    Caller("unknown role", ("admin",), "westminster", valid=False),
    Caller("officer westminster", (O,), "westminster"),
    Caller("officer kensington", (O,), "kensington_and_chelsea"),
    Caller("officer without borough", (O,)),
    Caller("manager", (M,)),
    Caller("dpo", (D,)),
    Caller("auditor", (A,)),
    Caller("partner", (P,)),
    Caller("records officer", (R,)),
    Caller("officer+auditor kensington", (O, A), "kensington_and_chelsea"),
    Caller("officer+dpo kensington", (O, D), "kensington_and_chelsea"),
    Caller("partner+officer westminster", (P, O), "westminster"),
    Caller("manager+dpo", (M, D)),
    Caller("every role kensington", ALL, "kensington_and_chelsea"),
]


def token_of(caller: Caller, secret: str) -> dict[str, str]:
    if caller.name == "no token":
        return {}
    now = int(time.time())
    claims: dict[str, Any] = {"sub": f"matrix-{caller.name.replace(' ', '-')}", "roles": list(caller.roles),
                              "iat": now, "exp": now + 600, "iss": ISSUER, "aud": AUDIENCE}
    if caller.borough:
        claims["borough"] = caller.borough
    if P in caller.roles:
        claims["org_id"] = "100001"
    for name, value in caller.claims:
        claims[name] = now + value if name in ("exp", "iat") else value
    encoded = jwt.encode(claims, caller.secret or secret, algorithm="HS256", headers={"typ": "JWT"})
    return {"Authorization": f"Bearer {encoded}"}


def expected(caller: Caller, admits: Rule | str) -> str:
    """"admitted", "401", "403" or "404" for one cell."""
    if admits == PUBLIC:
        return "admitted"
    assert isinstance(admits, Rule)
    if not caller.valid:
        return "401"
    # An officer's token that names no borough cannot act as an officer (cme_shared.auth.require_roles).
    acting = next((role for role in admits.roles if role in caller.roles
                   and not (role == O and caller.borough is None)), None)
    if acting is None:
        return "403"
    if admits.scoped and acting == O and caller.borough != "westminster":
        return "404"
    return "admitted"


def observed(response: httpx.Response) -> str:
    return str(response.status_code) if response.status_code in (401, 403, 404) else "admitted"


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, operation) for path, item in document["paths"].items()
            for method, operation in item.items() if path not in OPERATIONAL and method != "parameters"]


def concrete(path: str, operation: dict[str, Any], seeded: dict[str, str]) -> tuple[str, bool]:
    """The path with its ids filled in, and whether every id is a seeded record's (else: an unknown id)."""
    known = True
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            name = parameter["name"]
            known = known and name in seeded
            kind = parameter.get("schema", {}).get("type")
            value = seeded.get(name) or ("1" if kind == "integer" else str(uuid.uuid4()))
            path = path.replace("{" + name + "}", value)
    return path, known


def discovered(service: str, method: str, path: str, answers: dict[str, str]) -> str:
    """A row for ADMITS from what single-role callers got (CME_MATRIX_DISCOVER=1 prints them): to review."""
    roles = [letter for letter, caller in (("O", "officer westminster"), ("M", "manager"), ("D", "dpo"),
                                           ("A", "auditor"), ("P", "partner")) if answers[caller] not in ("401", "403")]
    if answers["no token"] != "401":
        return f'    ("{service}", "{method}", "{path}"): PUBLIC,'
    scoped = answers["officer westminster"] != "404" and answers["officer kensington"] == "404"
    args = ", ".join([*roles, *(["scoped=True"] if scoped else [])])
    return f'    ("{service}", "{method}", "{path}"): rule({args}),'


@pytest.mark.parametrize("service", SERVICES)
async def test_every_operation_answers_every_caller_as_the_table_says(service, infra, databases, namespace,
                                                                      tmp_path, capsys):
    overrides: dict[str, Any] = {"jwt_issuer": ISSUER, "jwt_audience": AUDIENCE}
    if service == "intake":
        overrides |= {"public_rate_per_minute": 1e6, "public_burst": 1_000_000}
    app, settings = await service_app(service, infra, databases, namespace, tmp_path, **overrides)
    secret = settings.jwt_secret.get_secret_value()
    seeder = token_of(Caller("seeder", ALL, "westminster"), secret)
    differences: list[str] = []
    cells = 0
    async with serving(app, settings) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        seeded = await SEEDERS[service](client, app, seeder)
        listed = operations(app.openapi())
        rows: list[str] = []
        for method, path, operation in listed:
            admits = ADMITS.get((service, method, path))
            url, known = concrete(path, operation, seeded)
            answers: dict[str, str] = {}
            for caller in CALLERS:
                body = {} if method in ("POST", "PUT", "PATCH") else None
                response = await client.request(method, url, json=body, headers={
                    **token_of(caller, secret), "x-cme-purpose": "authorisation matrix"})
                cells += 1
                assert response.status_code < 500, f"{method} {path} as {caller.name}: {response.status_code}"
                answers[caller.name] = got = observed(response)
                if admits is None:
                    continue
                want = expected(caller, admits)
                if want == got or (want == "admitted" and got == "404" and not known):
                    continue  # an admitted caller may find no record at an id nobody seeded
                differences.append(f"{method} {path} as {caller.name}: expected {want}, got {got} "
                                   f"({response.status_code} {response.text[:120]})")
            if admits is None:
                rows.append(discovered(service, method, path, answers))
    with capsys.disabled():
        print(f"\nauthorisation matrix {service}: {len(listed)} operations x {len(CALLERS)} callers = {cells} "
              f"cells, {len(differences)} differences")
        if rows and os.environ.get("CME_MATRIX_DISCOVER"):
            print("\n".join(["", *rows]))
    assert not rows, f"operations with no row in ADMITS (CME_MATRIX_DISCOVER=1 prints suggestions): {rows}"
    assert not differences, "\n".join(differences)
