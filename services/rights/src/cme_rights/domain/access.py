"""Who may do what to which rights request (issue 13): role x action x borough, written once (pure).

- **Role**: the role that let the request in (`principal.acting_role`, chosen by `require_roles` from
  `ROLES[action]`, narrowest first), never widened by another role in the token.
- **Borough**: every request belongs to one: the borough of the subject's records (from the identity
  index's answer) or, while none is known, the borough of the officer who recorded it (a DPO's request
  with no known borough belongs to none). An officer sees and acts on their own borough's requests only;
  another borough's request is "not found" (404), so its existence is not revealed, and lists leave it
  out. The cross-borough roles see every borough's requests and those of none, as far as their role
  allows (here only the DPO is admitted at all).
- **Segregation of duties**: the person who recorded a request never decides it (`DECISIONS`), and a
  proposed decision is approved by neither its proposer nor the request's creator (403 `same_person`).
  An officer's rectification, restriction or lift is a proposal that takes effect only when a DPO
  approves it (`takes_effect`).
- Drafts, identity verification, exemptions, refusals, approvals and the DPO-only rights are the DPO's
  (the "rights team" is the dpo role).
"""

from enum import StrEnum

from cme_shared.auth import CROSS_BOROUGH, Principal, Role, visible_boroughs
from cme_shared.contracts.referrals import Borough
from cme_shared.refusal import Refusal


class Action(StrEnum):
    CREATE = "create"  # record a request
    LIST = "list"  # the worklist
    READ = "read"  # the request's detail
    CLOCK = "clock"  # clock events other than identity received
    VERIFY_IDENTITY = "verify_identity"  # identity_verified on a new request, or the identity_received event
    COLLECT = "collect"  # gather again
    DRAFT = "draft"  # the prepared response, before approval
    READ_RESPONSE = "read_response"  # the released response (JSON or PDF)
    APPROVE = "approve"  # release the prepared response
    EXEMPT = "exempt"
    REFUSE = "refuse"
    DECIDE = "decide"  # rectification, restriction, lift, transfer, complaint outcome
    DECIDE_DPO = "decide_dpo"  # erasure, objection
    ACKNOWLEDGE = "acknowledge"  # a complaint's acknowledgement
    PROGRESS = "progress"  # a progress update a complainant is sent
    APPROVE_PROPOSAL = "approve_proposal"  # approve or reject an officer's proposed decision
    HOLD = "hold"  # place, lift and list legal holds (retention, issue 14)
    RETENTION_REPORT = "retention_report"  # the dry-run disposal report
    ASSIGN_BOROUGH = "assign_borough"  # give a request with no borough (a public complaint) its borough


STAFF = (Role.OFFICER, Role.DPO)
DPO_ONLY = (Role.DPO,)
# Retention (issue 14): the records officer's, and the DPO's; both cross-borough (holds name no borough).
RECORDS = (Role.RECORDS_OFFICER, Role.DPO)
# Who may ask for each action, narrowest first (a token holding both acts as an officer).
ROLES: dict[Action, tuple[Role, ...]] = {
    Action.CREATE: STAFF, Action.LIST: STAFF, Action.READ: STAFF, Action.CLOCK: STAFF,
    Action.VERIFY_IDENTITY: DPO_ONLY, Action.COLLECT: STAFF, Action.DRAFT: DPO_ONLY, Action.READ_RESPONSE: STAFF,
    Action.APPROVE: DPO_ONLY, Action.EXEMPT: DPO_ONLY, Action.REFUSE: DPO_ONLY, Action.DECIDE: STAFF,
    Action.DECIDE_DPO: DPO_ONLY, Action.ACKNOWLEDGE: STAFF, Action.APPROVE_PROPOSAL: DPO_ONLY,
    Action.PROGRESS: STAFF, Action.HOLD: RECORDS, Action.RETENTION_REPORT: RECORDS,
    Action.ASSIGN_BOROUGH: DPO_ONLY,
}
# Deciding a request: never by the person who recorded it.
DECISIONS = frozenset({Action.APPROVE, Action.REFUSE, Action.DECIDE, Action.DECIDE_DPO, Action.APPROVE_PROPOSAL})


class Denied(Refusal):
    """The rule says no: status, code and message, never personal data."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(status, code, message)


def not_found() -> Denied:
    return Denied(404, "not_found", "no rights request with this id")


def allowed_role(principal: Principal, action: Action) -> bool:
    return principal.acting_role in ROLES[action]


def sees_every_borough(principal: Principal) -> bool:
    return principal.acting_role in CROSS_BOROUGH


def visible(principal: Principal, borough: str | None) -> bool:
    """Whether the request's borough is within the principal's scope (`scope`)."""
    return borough in _seen(principal)


def _seen(principal: Principal) -> frozenset[str | None]:
    """The boroughs of the requests the principal sees, by the kit's rule (cme_shared.auth.visible_boroughs):
    the acting role's boroughs, and a request of no borough for the cross-borough roles only, as
    unassigned cases are."""
    # A principal with no acting role (none admitted by a route) sees no unassigned request.
    return visible_boroughs(principal, include_unassigned=principal.acting_role is not None)


def check(principal: Principal, action: Action, *, borough: str | None, created_by: str) -> None:
    """The rule for one action on one request: 403 for a role the action does not admit, 404 for a
    request outside the principal's boroughs, 403 `same_person` for its creator deciding it."""
    if not allowed_role(principal, action):
        raise Denied(403, "forbidden_role", "this needs one of the roles: "
                     + ", ".join(r.value for r in ROLES[action]))
    if not visible(principal, borough):
        raise not_found()
    if action in DECISIONS and principal.sub == created_by:
        raise Denied(403, "same_person", "the person who recorded a request may not decide it")


def check_approver(principal: Principal, *, proposed_by: str) -> None:
    """A proposal is approved by a second person: never the one who proposed it."""
    if principal.sub == proposed_by:
        raise Denied(403, "same_person", "a proposed decision is approved by someone other than its proposer")


def check_identity(principal: Principal) -> None:
    """Only the DPO sets identity as verified (a new request's flag, or the identity_received event)."""
    if not allowed_role(principal, Action.VERIFY_IDENTITY):
        raise Denied(403, "identity_needs_dpo", "only the DPO may record a requester's identity as verified")


def takes_effect(principal: Principal) -> bool:
    """A DPO's rectification, restriction or lift takes effect at once; an officer's is a proposal."""
    return principal.acting_role is Role.DPO


def borough_of_new_request(principal: Principal) -> str | None:
    """Until the subject's records say otherwise: the officer's borough (a DPO's request: none)."""
    if sees_every_borough(principal) or principal.borough is None:
        return None
    return principal.borough.value


def borough_of_records(current: str | None, found: set[str]) -> str | None:
    """The borough of the subject's records. A subject with records in more than one borough belongs to
    none: the pack would hold both boroughs' records, which no officer of one may read, so the request
    is the cross-borough roles' (the DPO's). No records found: as it was recorded."""
    known = [b.value for b in Borough if b.value in found]
    if not known:
        return current
    return known[0] if len(known) == 1 else None


def scope(principal: Principal) -> tuple[frozenset[str], bool]:
    """For lists: the boroughs the principal sees, and whether requests of no borough are included."""
    seen = _seen(principal)
    return frozenset(b for b in seen if b is not None), None in seen
