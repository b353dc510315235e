"""Who sees which borough's records (cme_shared.auth.visible_boroughs), the one rule the services read.

Sources: DOMAIN section 1 (officers work in their own borough; managers and the DPO across both, and they
place the records no borough has yet); issue 13 (a record belongs to its borough, or to none yet); SEC-14
(the boroughs are those of the role that let the request in, never widened by another role in the token).
"""

import pytest

from cme_shared.auth import EVERY_BOROUGH, Principal, Role, visible_boroughs
from cme_shared.contracts.referrals import Borough

pytestmark = pytest.mark.unit

WESTMINSTER, RBKC = Borough.WESTMINSTER.value, Borough.KENSINGTON_AND_CHELSEA.value


def principal(*roles: Role, borough: Borough | None = None, acting: Role | None = None) -> Principal:
    return Principal(sub="someone", roles=frozenset(roles), borough=borough, acting_role=acting)


@pytest.mark.parametrize("include_unassigned", [False, True])
def test_an_officer_sees_their_own_borough_and_never_the_records_no_borough_has_yet(include_unassigned):
    officer = principal(Role.OFFICER, borough=Borough.WESTMINSTER, acting=Role.OFFICER)
    assert visible_boroughs(officer, include_unassigned) == {WESTMINSTER}


@pytest.mark.parametrize("role", [Role.MANAGER, Role.DPO, Role.AUDITOR])
def test_a_cross_borough_role_sees_both_boroughs_and_the_unassigned_records_when_the_rule_reaches_them(role):
    someone = principal(role, acting=role)
    assert visible_boroughs(someone, include_unassigned=False) == EVERY_BOROUGH == {WESTMINSTER, RBKC}
    assert visible_boroughs(someone, include_unassigned=True) == {WESTMINSTER, RBKC, None}


def test_the_acting_role_decides_not_the_widest_role_in_the_token():
    # SEC-14: a Westminster officer whose token also says manager, acting as an officer, sees Westminster only.
    both = principal(Role.OFFICER, Role.MANAGER, borough=Borough.WESTMINSTER, acting=Role.OFFICER)
    assert visible_boroughs(both, include_unassigned=True) == {WESTMINSTER}
    assert visible_boroughs(both.acting_as(Role.MANAGER), include_unassigned=True) == {WESTMINSTER, RBKC, None}


def test_before_a_role_is_chosen_the_narrowest_reading_of_the_token_holds():
    mixed = principal(Role.OFFICER, Role.MANAGER, borough=Borough.KENSINGTON_AND_CHELSEA)
    assert visible_boroughs(mixed, include_unassigned=True) == {RBKC}
    assert visible_boroughs(principal(Role.MANAGER, Role.DPO), include_unassigned=True) == {WESTMINSTER, RBKC, None}


def test_a_token_with_no_borough_and_no_cross_borough_role_sees_nothing():
    assert visible_boroughs(principal(Role.PARTNER, acting=Role.PARTNER), include_unassigned=True) == frozenset()
    assert visible_boroughs(principal(Role.OFFICER, acting=Role.OFFICER), include_unassigned=True) == frozenset()


def test_the_answer_is_borough_values_and_agrees_with_principal_boroughs():
    manager = principal(Role.MANAGER, acting=Role.MANAGER)
    visible = visible_boroughs(manager, include_unassigned=False)
    assert visible == {b.value for b in manager.boroughs()}
    assert all(type(b) is str for b in visible)  # plain values, as the services' borough columns hold them
