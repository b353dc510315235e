"""The disclosure policy: a table (data, `policy_table.json`) and the rules that read it. Pure.

A request is weighed, never granted automatically (DOMAIN 4): the table says which categories a
recipient may receive for a purpose, under which gateway, with what reference and whose approval;
anything not in the table is refused. Only the allowed categories are released (UK GDPR Art 5(1)(c)
data minimisation) and the fields they stand for are recorded.

The law both this service and casework apply is `cme_shared.law`, written once: no request may cite the
immigration exemption (`gateways.cites_immigration_exemption`); a row may accept a gateway by a named rule
(`gateway_rules`, e.g. the safeguarding condition DPA 2018 Sch 1 Part 2 para 18) as well as by its own
patterns; and the CME tracking fields (`minimisation.CME_TRACKING_FIELDS`) are the only fields a tracking
share with a school or another council releases, so a table cannot widen them.
"""

import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from cme_shared.contracts.categories import DataCategory
from cme_shared.law.gateways import GATEWAY_RULES, cites_immigration_exemption
from cme_shared.law.minimisation import CME_TRACKING_FIELDS, tracking_fields_only

from .disclosures import RecipientType

_TRACKING_FIELDS = {category: list(fields) for category, fields in CME_TRACKING_FIELDS.items()}

REQUIREMENTS = frozenset({"reference", "inspector_sign_off", "authorised_officer"})


class PolicyRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recipient: RecipientType
    purpose: str
    categories: list[DataCategory]
    gateways: list[str]  # case-insensitive regular expressions
    gateway_rules: list[str] = []  # rules of cme_shared.law.gateways.GATEWAY_RULES, by name
    gateway_example: str
    requires: list[str] = []
    fields: str | None = None  # a named field list narrowing the catalogue (e.g. CME tracking fields)
    approval_roles: list[str]


class PolicyTable(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str
    notes: str = ""
    field_catalogue: dict[DataCategory, list[str]]
    # The law's list (cme_shared.law.minimisation), shared with casework: a table may repeat it, not change it.
    cme_tracking_fields: dict[DataCategory, list[str]] = _TRACKING_FIELDS
    inspector_or_above: list[str]
    rows: list[PolicyRow]

    def row(self, recipient: str, purpose: str) -> PolicyRow | None:
        for row in self.rows:
            if row.recipient == recipient and row.purpose == purpose:
                return row
        return None

    def signs_off(self, rank: str | None) -> bool:
        """Whether an officer of this rank (any spelling) may sign a police request off."""
        return normalise_rank(rank) in self.inspector_or_above

    def accepts_gateway(self, row: PolicyRow, legal_gateway: str) -> bool:
        return (any(re.search(p, legal_gateway, re.IGNORECASE) for p in row.gateways)
                or any(GATEWAY_RULES[name](legal_gateway) for name in row.gateway_rules))

    def fields_for(self, row: PolicyRow, categories: list[DataCategory]) -> list[str]:
        source = self.field_catalogue
        if row.fields is not None:
            source = getattr(self, row.fields)
        return [f for c in categories for f in source.get(c, [])]


def load_policy(path: Path | None = None) -> PolicyTable:
    text = path.read_text() if path else resources.files(__package__).joinpath("policy_table.json").read_text()
    table = PolicyTable.model_validate(json.loads(text))
    for row in table.rows:
        unknown = set(row.requires) - REQUIREMENTS
        if unknown:
            raise ValueError(f"policy row {row.recipient}/{row.purpose}: unknown requirement(s) {sorted(unknown)}")
        for pattern in row.gateways:
            re.compile(pattern)
        unknown = set(row.gateway_rules) - set(GATEWAY_RULES)
        if unknown:
            raise ValueError(f"policy row {row.recipient}/{row.purpose}: unknown gateway rule(s) {sorted(unknown)}")
        if tracking_fields_only(row.recipient, row.purpose) and row.fields != "cme_tracking_fields":
            raise ValueError(f"policy row {row.recipient}/{row.purpose} must release only the CME tracking fields "
                             "(\"fields\": \"cme_tracking_fields\")")
        if row.fields is not None and row.fields not in ("cme_tracking_fields",):
            raise ValueError(f"policy row {row.recipient}/{row.purpose}: unknown field list {row.fields!r}")
    if {c: sorted(f) for c, f in table.cme_tracking_fields.items()} != {c: sorted(f) for c, f in _TRACKING_FIELDS.items()}:
        raise ValueError("cme_tracking_fields differ from the law's list (cme_shared.law.minimisation), which "
                         "casework applies too: remove them from the table")
    return table


@dataclass(frozen=True)
class Finding:
    """Why a request fails the policy: a code and a message with no personal data."""

    code: str
    message: str
    loc: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {"loc": list(self.loc), "code": self.code, "message": self.message}


@dataclass(frozen=True)
class Assessment:
    findings: list[Finding]
    categories_released: list[DataCategory] = field(default_factory=list)
    categories_not_released: list[DataCategory] = field(default_factory=list)
    fields_released: list[str] = field(default_factory=list)
    approval_roles: list[str] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return not self.findings


# Qualifiers in front of a rank that do not change it ("Temporary Detective Inspector", "A/DI").
_RANK_QUALIFIERS = frozenset({"acting", "temporary", "detective", "det", "a", "t", "d"})
# Abbreviated words and whole abbreviated ranks, as police requests write them.
_RANK_WORDS = {"insp": "inspector", "supt": "superintendent", "ch": "chief", "dep": "deputy", "asst": "assistant",
               "commr": "commissioner", "cmdr": "commander", "cdr": "commander"}
_RANK_ABBREVIATIONS = {"di": "inspector", "dci": "chief inspector", "ci": "chief inspector",
                       "dsupt": "superintendent", "dsu": "superintendent", "dcs": "chief superintendent",
                       "csupt": "chief superintendent", "dac": "deputy assistant commissioner",
                       "ac": "assistant commissioner", "dc": "constable", "pc": "constable", "ds": "sergeant",
                       "ps": "sergeant"}


def normalise_rank(rank: str | None) -> str:
    """A police rank as the policy table names it ("chief_inspector"), whatever the spelling:
    qualifiers (acting, temporary, detective) dropped, usual abbreviations expanded."""
    if not rank:
        return ""
    words = re.sub(r"[^a-z ]", " ", rank.lower()).split()
    while len(words) > 1 and words[0] in _RANK_QUALIFIERS:
        words = words[1:]
    expanded = [w2 for w in words for w2 in _RANK_ABBREVIATIONS.get(w, _RANK_WORDS.get(w, w)).split()]
    return "_".join(expanded)


def assess(
    table: PolicyTable,
    *,
    recipient_type: str,
    purpose: str,
    legal_gateway: str,
    reference: str | None,
    requester_rank: str | None,
    authorised_officer: str | None,
    categories: list[DataCategory],
) -> Assessment:
    """Weigh one request against the table: every failed rule is a finding; no finding, no refusal."""
    findings: list[Finding] = []
    if cites_immigration_exemption(legal_gateway):
        findings.append(Finding(
            "immigration_exemption_not_available",
            "DPA 2018 Sch 2 para 4 can be applied only by the Secretary of State; cite the council's own gateway",
            ("legal_gateway",),
        ))
    row = table.row(recipient_type, purpose)
    if row is None:
        findings.append(Finding("not_in_policy", f"the policy has no entry for sharing with {recipient_type} "
                                                 f"for {purpose}", ("purpose",)))
        return Assessment(findings, categories_not_released=list(dict.fromkeys(categories)))
    if not table.accepts_gateway(row, legal_gateway):
        findings.append(Finding("gateway_not_accepted",
                                f"this share needs a gateway such as: {row.gateway_example}", ("legal_gateway",)))
    if "reference" in row.requires and not (reference and reference.strip()):
        code = "notice_reference_required" if recipient_type == RecipientType.DWP else "crime_reference_required"
        findings.append(Finding(code, "this recipient's request must carry its reference", ("reference",)))
    # The rank the request states is the requester's word: enough to refuse a request that says it was not
    # signed off at inspector rank, never enough to approve one (the decider confirms it: service_layer).
    if "inspector_sign_off" in row.requires and not table.signs_off(requester_rank):
        findings.append(Finding("inspector_sign_off_required",
                                "a police request must be signed off at inspector rank or above",
                                ("recipient", "requester_rank")))
    if "authorised_officer" in row.requires and not (authorised_officer and authorised_officer.strip()):
        # Social Security Administration Act 1992 s109B: the notice names the authorised officer.
        findings.append(Finding("authorised_officer_required",
                                "a s109B notice must name the authorised officer", ("authorised_officer",)))
    requested = list(dict.fromkeys(categories))
    released = [c for c in requested if c in row.categories]
    withheld = [c for c in requested if c not in row.categories]
    if not released:
        findings.append(Finding("no_category_allowed", "none of the requested categories may go to this recipient "
                                                       "for this purpose", ("categories",)))
    return Assessment(findings, released, withheld, table.fields_for(row, released), list(row.approval_roles))


@dataclass(frozen=True)
class DisclosureRules:
    """What the handlers weigh a request by: the policy table and the limits the council configures."""

    policy: PolicyTable
    withholding_max_days: int = 365  # the latest review date of a withholding from access requests
    requests_per_hour: int = 60  # per person (SEC-29: every request is a permanent leaf)
