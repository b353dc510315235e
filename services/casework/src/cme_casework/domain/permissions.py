"""Who may do what to which borough's cases: one rule, role x action x borough (issue 13, SEC-14).

A request acts as one role, the first of the action's roles its token holds, in the order `RULES` lists
them (narrowest first): a Westminster officer whose token also says manager or auditor is an officer
here, and sees Westminster's cases only. The boroughs come from that role alone (`Principal.boroughs()`:
an officer's own borough, both for a cross-borough role); the rule then says whether the role also
reaches the cases no borough has yet (triage). Every route asks this rule and nothing else.

Allocation adds one condition on who the case goes to (`check_allocation`): a manager allocates any case of
their boroughs to anyone; an officer only takes an unallocated case of their own borough for themselves.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum, StrEnum

from cme_shared.auth import Role

from .errors import NotPermitted


class Action(StrEnum):
    LIST_CASES = "list cases"  # GET /cases, /cases/overdue
    TRIAGE = "list triage cases"  # GET /cases/triage
    READ_CASE = "read a case"  # GET /cases/{id}
    EXPORT_CENSUS = "export the census return"  # GET /returns/cme-census
    LIST_HELD = "list held referrals"  # GET /referrals/held
    RELEASE_HELD = "release a held referral"  # POST /referrals/held/{id}/release
    LIST_ROUTED = "list referrals routed without a case"  # GET /referrals/routed (EHE, safeguarding, school age)
    ACT_ON_CASE = "act on a case"  # the case actions (enquiries, escalations, notes, closure, ...)
    PROPOSE_SHARE = "propose a share"  # POST /cases/{id}/shares
    LIST_PENDING_SHARES = "list shares awaiting a decision"  # GET /shares/pending
    DECIDE_SHARE = "decide a share"  # POST /cases/{id}/shares/{share_id}/decision
    ATTACH_ADDENDUM = "attach an addendum"  # POST /cases/{id}/notes/{note_id}/addenda (for rights)
    ASSIGN_BOROUGH = "assign a borough"  # POST /cases/{id}/borough
    ALLOCATE_CASE = "allocate a case to an officer"  # POST /cases/{id}/allocation (see `check_allocation`)
    LIST_EHE = "list EHE records"  # GET /ehe-records, GET /ehe-records/{id} (scoped as cases are)
    RECORD_EHE = "record an EHE notice or step"  # POST /ehe-records/notices, POST /ehe-records/{id}/steps
    EXPORT_EHE_COUNT = "export the EHE count"  # GET /returns/ehe-count (as the census)
    READ_REGISTER = "read a register entry"  # GET /cnis-register/{child} (feature flag)
    ENTER_REGISTER = "enter register details"  # PUT /cnis-register/{child} (feature flag)
    EXPORT_REGISTER = "export the register"  # GET /cnis-register/export (feature flag)


class Reach(Enum):
    """Which cases, of the boroughs the role works in, the action reaches."""

    BOROUGHS = "the role's boroughs"
    BOROUGHS_AND_UNASSIGNED = "the role's boroughs and the cases no borough has yet"
    UNASSIGNED = "only the cases no borough has yet"


_OWN, _ALL, _TRIAGE = Reach.BOROUGHS, Reach.BOROUGHS_AND_UNASSIGNED, Reach.UNASSIGNED

# DOMAIN section 1: officers work in their own borough; managers and the DPO across both, and they
# place the cases no borough has yet. Shares follow the two-person rule (SEC-17): an officer or manager
# proposes, and a manager who did not propose decides (`lifecycle` refuses the proposer).
RULES: dict[Action, dict[Role, Reach]] = {
    Action.LIST_CASES: {Role.OFFICER: _OWN, Role.MANAGER: _ALL, Role.DPO: _ALL},
    Action.TRIAGE: {Role.MANAGER: _TRIAGE, Role.DPO: _TRIAGE},
    Action.READ_CASE: {Role.OFFICER: _OWN, Role.MANAGER: _ALL, Role.DPO: _ALL},
    Action.EXPORT_CENSUS: {Role.OFFICER: _OWN, Role.MANAGER: _ALL},
    Action.LIST_HELD: {Role.OFFICER: _OWN, Role.MANAGER: _ALL},
    Action.RELEASE_HELD: {Role.OFFICER: _OWN, Role.MANAGER: _ALL},
    Action.LIST_ROUTED: {Role.OFFICER: _OWN, Role.MANAGER: _ALL},
    Action.ACT_ON_CASE: {Role.OFFICER: _OWN, Role.MANAGER: _ALL},
    Action.PROPOSE_SHARE: {Role.OFFICER: _OWN, Role.MANAGER: _ALL},
    Action.LIST_PENDING_SHARES: {Role.OFFICER: _OWN, Role.MANAGER: _ALL},
    Action.DECIDE_SHARE: {Role.MANAGER: _ALL},
    Action.ATTACH_ADDENDUM: {Role.DPO: _ALL},
    Action.ASSIGN_BOROUGH: {Role.MANAGER: _ALL},
    Action.ALLOCATE_CASE: {Role.OFFICER: _OWN, Role.MANAGER: _ALL},
    # Elective home education records are scoped as cases are (issue 14, item 2).
    Action.LIST_EHE: {Role.OFFICER: _OWN, Role.MANAGER: _ALL, Role.DPO: _ALL},
    Action.RECORD_EHE: {Role.OFFICER: _OWN, Role.MANAGER: _ALL},
    Action.EXPORT_EHE_COUNT: {Role.OFFICER: _OWN, Role.MANAGER: _ALL},
    # The children-not-in-school register (item 3): its export is the manager's and the DPO's.
    Action.READ_REGISTER: {Role.OFFICER: _OWN, Role.MANAGER: _ALL, Role.DPO: _ALL},
    Action.ENTER_REGISTER: {Role.OFFICER: _OWN, Role.MANAGER: _ALL},
    Action.EXPORT_REGISTER: {Role.MANAGER: _ALL, Role.DPO: _ALL},
}


def roles_for(action: Action) -> tuple[Role, ...]:
    """The roles that may take this action, narrowest first (the order the request picks its role in)."""
    return tuple(RULES[action])


@dataclass(frozen=True)
class Grant:
    """What one request may reach for one action: the role it acts as and the boroughs of the cases it
    reaches (None stands for a case no borough has yet)."""

    action: Action
    role: Role
    boroughs: frozenset[str | None]

    def covers(self, borough: str | None) -> bool:
        return borough in self.boroughs


def grant(action: Action, role: Role, role_boroughs: Iterable[str]) -> Grant:
    """The grant for `role` (one of `roles_for(action)`), from the boroughs that role works in."""
    reach = RULES[action][role]
    named: frozenset[str | None] = frozenset() if reach is Reach.UNASSIGNED else frozenset(role_boroughs)
    return Grant(action, role, named if reach is Reach.BOROUGHS else (named | {None}))


def check_allocation(role: Role, caller_sub: str, officer_sub: str, allocated_to: str | None) -> None:
    """Who a case may be allocated to, by the role the request acts as (403 otherwise).

    A manager allocates (or reallocates) any case their grant reaches to any officer. An officer takes a case
    for themselves, and only one no one holds: giving work to a colleague, or taking it from one, is a
    manager's decision (DOMAIN section 1: managers run the team's caseload).
    """
    if role is Role.MANAGER:
        return
    if officer_sub != caller_sub:
        raise NotPermitted("self_allocation_only", "an officer may allocate a case to themselves only",
                           ["body", "officer"])
    if allocated_to is not None and allocated_to != caller_sub:
        raise NotPermitted("allocated_to_another", "this case is allocated to another officer; a manager reallocates it")
