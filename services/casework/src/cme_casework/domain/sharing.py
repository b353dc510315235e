"""Which shares casework may make itself, and which must go through the disclosure service.

Casework's own shares are routine CME tracking: telling a school of a child, asking or telling another
council, a statutory transfer of the record. Anything else (police, Home Office, DWP, safeguarding,
special categories of data) is a disclosure the council must weigh and record with its decision, so it
goes through the disclosure service's `POST /disclosures` (DOMAIN section 4).

The law both services apply is written once in `cme_shared.law`: the immigration exemption no council
share cites (`gateways.cites_immigration_exemption`), and the CME tracking fields, the only fields a
tracking share with a school or another council releases (`minimisation`), the same list as the
disclosure service's policy (statutory rules review, December 2026, D6 and section 3 item 14).
"""

from collections.abc import Sequence

from cme_shared.contracts.categories import DataCategory, field_categories
from cme_shared.contracts.referrals import Referral
from cme_shared.law.gateways import cites_immigration_exemption
from cme_shared.law.minimisation import is_cme_tracking_field, tracking_fields_only

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
    # DPA 2018 Sch 2 Part 1 para 4 can be applied only by the Secretary of State (DOMAIN section 4).
    if cites_immigration_exemption(legal_gateway):
        needs_disclosure(("legal_gateway",), "a council share never cites DPA 2018 Sch 2 para 4")
    for i, category in enumerate(categories):
        if category not in CASEWORK_SHARE_CATEGORIES:
            needs_disclosure(("categories", i), "casework shares only contact, demographics and education data")
    declared = set(categories)
    tracking = tracking_fields_only(recipient_type, purpose)
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
        elif tracking and not is_cme_tracking_field(name):
            # UK GDPR Art 5(1)(c): tracking a child with a school or council needs no more (cme_shared.law).
            problems.append(Problem(("fields_released", i), "field_not_for_tracking",
                                    "a CME tracking share with a school or another council releases only the CME "
                                    "tracking fields (cme_shared.law.minimisation)"))
    if purpose == "statutory_transfer" and recipient_type != "other_local_authority":
        problems.append(Problem(("recipient", "type"), "transfer_needs_local_authority",
                                "a statutory transfer goes to another local authority"))
    return problems

