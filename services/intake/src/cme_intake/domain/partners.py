"""Which Kafka partner may refer for which org (CONTRACT section 7: a partner bound to an `ORG_ID` may refer
only for it).

Kafka tells a consumer nothing about who produced a record, so the binding is proved in the record itself:
a bound partner's principal has a secret key (`make kafka-user ... ORG_ID=` prints it) and sends two headers
with every referral: `x-cme-partner` (its username) and `x-cme-partner-mac` (HMAC-SHA256 of the record's
value bytes under that key, lower-case hex). Intake then knows the sender and holds it to its org:
- a referral whose headers name a partner must carry that partner's valid MAC, and be for its org;
- a referral with no partner headers is taken as CONTRACT section 3 describes it (a partner built to the
  contract sends none), unless its org is bound with `require_mac`: then it must come signed by that
  org's partner, so nobody else can refer as that school nor squat its referral ids.

A bound partner that leaves its headers off looks like an unbound one: the headers are the only link Kafka
offers between a record and its producer. `require_mac` on every binding closes that, once each partner's
integrator sends the headers; the README says so.
"""

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field

from cme_shared.contracts.referrals import Problem

PARTNER_HEADER = "x-cme-partner"
MAC_HEADER = "x-cme-partner-mac"

MESSAGES = {
    "partner_header_repeated": f"{PARTNER_HEADER} or {MAC_HEADER} appears more than once",
    "partner_unknown": f"{PARTNER_HEADER} names no partner bound to an org",
    "partner_mac_missing": f"{PARTNER_HEADER} is set but {MAC_HEADER} is missing",
    "partner_mac_invalid": f"{MAC_HEADER} is not the partner's HMAC-SHA256 of the record value",
    "org_not_permitted": "this partner is bound to another org: source.org_id must be its own",
    "partner_signature_required": (f"source.org_id is bound to a partner: its referrals must carry "
                                   f"{PARTNER_HEADER} and {MAC_HEADER}"),
}


def mac(key: bytes, value: bytes) -> str:
    """The MAC a bound partner sends in `x-cme-partner-mac`."""
    return hmac.new(key, value, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Binding:
    principal: str
    org_id: str
    key: bytes = field(repr=False)
    require_mac: bool = False  # its org's referrals must carry this partner's MAC


@dataclass(frozen=True)
class Bindings:
    by_principal: Mapping[str, Binding] = field(default_factory=dict)

    @property
    def bound_orgs(self) -> frozenset[str]:
        return frozenset(binding.org_id for binding in self.by_principal.values())

    @property
    def orgs_requiring_mac(self) -> frozenset[str]:
        return frozenset(b.org_id for b in self.by_principal.values() if b.require_mac)


def check(bindings: Bindings, headers: list[tuple[str, bytes | None]], value: bytes,
          org_id: str | None) -> Problem | None:
    """None when the record may be for `org_id` (its `source.org_id`, stripped); else why not."""
    named = [v for name, v in headers if name == PARTNER_HEADER]
    macs = [v for name, v in headers if name == MAC_HEADER]
    if len(named) > 1 or len(macs) > 1:
        return _problem([], "partner_header_repeated")
    if not named:
        if macs:
            return _problem([], "partner_unknown")
        if org_id is not None and org_id in bindings.orgs_requiring_mac:
            return _problem(["source", "org_id"], "partner_signature_required")
        return None
    principal = (named[0] or b"").decode("utf-8", errors="replace")
    binding = bindings.by_principal.get(principal)
    if binding is None:
        return _problem([], "partner_unknown")
    if not macs or macs[0] is None:
        return _problem([], "partner_mac_missing")
    if not hmac.compare_digest(mac(binding.key, value).encode(), macs[0].strip().lower()):
        return _problem([], "partner_mac_invalid")
    if org_id != binding.org_id:
        return _problem(["source", "org_id"], "org_not_permitted")
    return None


def _problem(loc: list[str | int], code: str) -> Problem:
    return Problem(loc=loc, code=code, message=MESSAGES[code])
