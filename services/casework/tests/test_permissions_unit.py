"""The one authorisation rule: role x action x borough, from the role the request acts as (SEC-14)."""

import pytest

from cme_casework.domain.permissions import RULES, Action, grant, roles_for
from cme_shared.auth import Principal, Role, require_roles
from cme_shared.contracts.referrals import Borough

pytestmark = pytest.mark.unit

BOTH = ("westminster", "kensington_and_chelsea")


def test_an_officer_reaches_their_own_borough_and_a_manager_both_and_the_unassigned():
    assert grant(Action.READ_CASE, Role.OFFICER, ["westminster"]).boroughs == {"westminster"}
    assert grant(Action.READ_CASE, Role.MANAGER, BOTH).boroughs == {*BOTH, None}
    assert grant(Action.TRIAGE, Role.MANAGER, BOTH).boroughs == {None}
    assert grant(Action.LIST_CASES, Role.OFFICER, []).boroughs == frozenset()  # no borough claim: nothing


def test_every_action_lists_its_roles_narrowest_first_and_only_managers_decide_shares():
    for action, roles in RULES.items():
        order = [Role.OFFICER, Role.MANAGER, Role.DPO]
        assert list(roles) == [r for r in order if r in roles], action
        assert Role.AUDITOR not in roles and Role.PARTNER not in roles
    assert roles_for(Action.DECIDE_SHARE) == (Role.MANAGER,)
    assert Role.OFFICER in roles_for(Action.PROPOSE_SHARE)


@pytest.mark.parametrize("other", [Role.AUDITOR, Role.MANAGER, Role.DPO])
def test_another_role_in_the_token_widens_nothing_an_officer_does(other):
    token = Principal(sub="o", roles=frozenset({Role.OFFICER, other}), borough=Borough.WESTMINSTER)
    for action, roles in RULES.items():
        if Role.OFFICER not in roles:
            continue
        acting = require_roles(*roles_for(action))(token)  # as the route's dependency chooses
        scope = grant(action, acting.acting_role, (b.value for b in acting.boroughs()))
        assert scope.boroughs == {"westminster"}, action
