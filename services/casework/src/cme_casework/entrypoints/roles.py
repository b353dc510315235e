"""Who may call what (CONTRACT section 2): each route names its action, and `domain.permissions` decides.

`Allowed[Action.X]` is the route's dependency: the token must hold one of the action's roles (403
otherwise); the request then acts as the first of them it holds, and `Caller.grant` says which boroughs'
cases it reaches, from that role alone (SEC-14).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from cme_shared.auth import Principal, require_roles, visible_boroughs

from ..domain.permissions import Action, Grant, grant, roles_for


@dataclass(frozen=True)
class Caller:
    principal: Principal
    grant: Grant

    @property
    def sub(self) -> str:
        return self.principal.sub


def _allowed(action: Action) -> Callable[..., Caller]:
    check_role = require_roles(*roles_for(action))

    def dependency(principal: Annotated[Principal, Depends(check_role)]) -> Caller:
        assert principal.acting_role is not None  # require_roles chose it
        # The boroughs the acting role works in (the kit's one rule); the action's rule then says whether
        # it also reaches the cases no borough has yet.
        named = visible_boroughs(principal, include_unassigned=False)
        return Caller(principal, grant(action, principal.acting_role, (b for b in named if b is not None)))

    return dependency


ListCases = Annotated[Caller, Depends(_allowed(Action.LIST_CASES))]
Triage = Annotated[Caller, Depends(_allowed(Action.TRIAGE))]
ReadCase = Annotated[Caller, Depends(_allowed(Action.READ_CASE))]
ExportCensus = Annotated[Caller, Depends(_allowed(Action.EXPORT_CENSUS))]
ListHeld = Annotated[Caller, Depends(_allowed(Action.LIST_HELD))]
ListRouted = Annotated[Caller, Depends(_allowed(Action.LIST_ROUTED))]
ReleaseHeld = Annotated[Caller, Depends(_allowed(Action.RELEASE_HELD))]
ActOnCase = Annotated[Caller, Depends(_allowed(Action.ACT_ON_CASE))]
ProposeShare = Annotated[Caller, Depends(_allowed(Action.PROPOSE_SHARE))]
ListPendingShares = Annotated[Caller, Depends(_allowed(Action.LIST_PENDING_SHARES))]
DecideShare = Annotated[Caller, Depends(_allowed(Action.DECIDE_SHARE))]
AttachAddendum = Annotated[Caller, Depends(_allowed(Action.ATTACH_ADDENDUM))]
AssignBorough = Annotated[Caller, Depends(_allowed(Action.ASSIGN_BOROUGH))]
AllocateCase = Annotated[Caller, Depends(_allowed(Action.ALLOCATE_CASE))]
ListEhe = Annotated[Caller, Depends(_allowed(Action.LIST_EHE))]
RecordEhe = Annotated[Caller, Depends(_allowed(Action.RECORD_EHE))]
ExportEheCount = Annotated[Caller, Depends(_allowed(Action.EXPORT_EHE_COUNT))]
ReadRegister = Annotated[Caller, Depends(_allowed(Action.READ_REGISTER))]
EnterRegister = Annotated[Caller, Depends(_allowed(Action.ENTER_REGISTER))]
ExportRegister = Annotated[Caller, Depends(_allowed(Action.EXPORT_REGISTER))]
