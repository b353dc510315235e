"""Which shares casework may make itself, and which must go through the disclosure service.

Casework's own shares are routine CME tracking: telling a school of a child, asking or telling another
council, a statutory transfer of the record. Anything else (police, Home Office, DWP, safeguarding,
special categories of data) is a disclosure the council must weigh and record with its decision, so it
goes through the disclosure service's `POST /disclosures` (DOMAIN section 4).
"""

import re
from collections.abc import Sequence

from cme_shared.contracts.categories import DataCategory, field_categories
from cme_shared.contracts.referrals import Referral

from .closure import Problem

# Education Act 1996 s436A and DfE "Children missing education" (Aug 2024): an LA tracks a child with
# schools and other LAs (and its own teams); SI 2024/208 reg 13 and the CTF / s436A duty cover a transfer to
# the council where the child now lives. Those are the only recipients and purposes casework shares for.
CASEWORK_SHARE_RECIPIENTS = frozenset({"school", "other_local_authority", "internal"})
CASEWORK_SHARE_PURPOSES = frozenset({"cme_tracking", "statutory_transfer"})
# UK GDPR Art 5(1)(c) data minimisation, ICO Data Sharing Code: tracking a child needs who and where the
# child is (contact), which child (demographics) and the schooling (education). Statutory services,
# benefits, council tax, Home Office and police data are never part of a routine tracking share.
CASEWORK_SHARE_CATEGORIES = frozenset({DataCategory.CONTACT, DataCategory.DEMOGRAPHICS, DataCategory.EDUCATION})
# DPA 2018 Sch 2 Part 1 para 4 (immigration) can be applied only by the Secretary of State: a council share
# must rest on its own gateway and never cite it (DOMAIN section 4).
IMMIGRATION_EXEMPTION = re.compile(r"sch(edule)?\.?\s*2.*para(graph)?\.?\s*4", re.IGNORECASE)
# The fields a share may release, with their data categories, as the partner Referral contract tags them.
FIELD_CATEGORIES: dict[str, DataCategory] = field_categories(Referral)

NEEDS_DISCLOSURE = "share_needs_disclosure_request"
USE_DISCLOSURE = "use the disclosure service's POST /disclosures for this share"


def check_share(*, recipient_type: str, purpose: str, legal_gateway: str, categories: Sequence[DataCategory],
                fields_released: Sequence[str]) -> list[Problem]:
    """The problems that stop casework making this share itself (never echoing what was asked for)."""
    problems: list[Problem] = []

    def needs_disclosure(loc: tuple[str | int, ...], why: str) -> None:
        problems.append(Problem(loc, NEEDS_DISCLOSURE, f"{why}: {USE_DISCLOSURE}"))

    if recipient_type not in CASEWORK_SHARE_RECIPIENTS:
        needs_disclosure(("recipient", "type"), "casework shares only with schools, other councils and internal teams")
    if purpose not in CASEWORK_SHARE_PURPOSES:
        needs_disclosure(("purpose",), "casework shares only for CME tracking and statutory transfer")
    if IMMIGRATION_EXEMPTION.search(legal_gateway):
        needs_disclosure(("legal_gateway",), "a council share never cites DPA 2018 Sch 2 para 4")
    for i, category in enumerate(categories):
        if category not in CASEWORK_SHARE_CATEGORIES:
            needs_disclosure(("categories", i), "casework shares only contact, demographics and education data")
    declared = set(categories)
    for i, name in enumerate(fields_released):
        tagged = FIELD_CATEGORIES.get(name)
        if tagged is None:
            problems.append(Problem(("fields_released", i), "unknown_field",
                                    "name a field of the referral contract (e.g. child.first_name)"))
        elif tagged not in CASEWORK_SHARE_CATEGORIES:
            needs_disclosure(("fields_released", i), "this field is outside contact, demographics and education")
        elif tagged not in declared:
            problems.append(Problem(("fields_released", i), "field_outside_categories",
                                    f"this field is {tagged.value} data, which the share's categories do not list"))
    if purpose == "statutory_transfer" and recipient_type != "other_local_authority":
        problems.append(Problem(("recipient", "type"), "transfer_needs_local_authority",
                                "a statutory transfer goes to another local authority"))
    return problems

