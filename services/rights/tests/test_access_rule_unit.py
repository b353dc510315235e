"""The authorisation rule (domain/access.py): role x action x borough, and the second person."""

import pytest

from cme_rights.domain import access
from cme_rights.domain.access import ROLES, Action, Denied
from cme_shared.auth import Principal, Role, require_roles
from cme_shared.contracts.referrals import Borough
from cme_shared.http.errors import ApiError

pytestmark = pytest.mark.unit

W, KC = Borough.WESTMINSTER.value, Borough.KENSINGTON_AND_CHELSEA.value


def caller(*roles: Role, borough: str | None = None, sub: str = "someone", action: Action = Action.READ) -> Principal:
    """The principal as the route for `action` admits it (require_roles picks the acting role)."""
    token = Principal(sub=sub, roles=frozenset(roles), borough=borough)
    return require_roles(*ROLES[action])(token)


def verdict(principal: Principal, action: Action, borough: str | None, created_by: str = "creator") -> str:
    try:
        access.check(principal, action, borough=borough, created_by=created_by)
    except Denied as denied:
        return f"{denied.status} {denied.code}"
    return "allowed"


@pytest.mark.parametrize(("roles", "borough", "request_borough", "expected"), [
    ((Role.OFFICER,), W, W, "allowed"),
    ((Role.OFFICER,), W, KC, "404 not_found"),  # another borough's request does not exist for them
    ((Role.OFFICER,), KC, W, "404 not_found"),
    ((Role.OFFICER,), W, None, "404 not_found"),  # a request of no borough: the cross-borough roles only
    ((Role.DPO,), None, W, "allowed"),
    ((Role.DPO,), None, KC, "allowed"),
    ((Role.DPO,), None, None, "allowed"),
    ((Role.OFFICER, Role.DPO), KC, W, "404 not_found"),  # acts as the narrower role: never widened (SEC-14)
    ((Role.OFFICER, Role.AUDITOR), KC, W, "404 not_found"),
])
def test_an_officer_sees_their_own_boroughs_requests_and_the_dpo_every_one(roles, borough, request_borough,
                                                                            expected):
    assert verdict(caller(*roles, borough=borough), Action.READ, request_borough) == expected


def test_an_officer_whose_token_names_no_borough_is_not_let_in_as_an_officer():
    with pytest.raises(ApiError) as refused:
        caller(Role.OFFICER, borough=None)
    assert (refused.value.status, refused.value.code) == (403, "officer_borough_missing")


@pytest.mark.parametrize("action", [Action.DRAFT, Action.VERIFY_IDENTITY, Action.APPROVE, Action.EXEMPT,
                                    Action.REFUSE, Action.DECIDE_DPO, Action.APPROVE_PROPOSAL])
def test_drafts_identity_and_approvals_are_the_dpos(action):
    with pytest.raises(ApiError) as refused:
        caller(Role.OFFICER, borough=W, action=action)
    assert (refused.value.status, refused.value.code) == (403, "forbidden_role")
    assert verdict(caller(Role.DPO, action=action), action, W) == "allowed"


@pytest.mark.parametrize("role", [Role.MANAGER, Role.AUDITOR, Role.PARTNER])
def test_other_roles_are_not_admitted_at_all(role):
    for action in Action:
        with pytest.raises(ApiError):
            caller(role, action=action)


def test_the_person_who_recorded_a_request_never_decides_it():
    for action in access.DECISIONS:
        role = Role.DPO if ROLES[action] == access.DPO_ONLY else Role.OFFICER
        principal = caller(role, borough=W, sub="creator", action=action)
        assert verdict(principal, action, W, created_by="creator") == "403 same_person"
        assert verdict(caller(role, borough=W, sub="another", action=action), action, W) == "allowed"
    # recording a clock event or reading is not deciding
    assert verdict(caller(Role.OFFICER, borough=W, sub="creator", action=Action.CLOCK), Action.CLOCK, W,
                   created_by="creator") == "allowed"
    with pytest.raises(Denied) as same:
        access.check_approver(caller(Role.DPO, sub="officer-2", action=Action.APPROVE_PROPOSAL),
                              proposed_by="officer-2")
    assert same.value.code == "same_person"


def test_only_a_dpos_decision_takes_effect_at_once_and_only_the_dpo_verifies_identity():
    officer = caller(Role.OFFICER, borough=W, action=Action.DECIDE)
    dpo = caller(Role.DPO, action=Action.DECIDE)
    assert not access.takes_effect(officer) and access.takes_effect(dpo)
    assert not access.takes_effect(caller(Role.OFFICER, Role.DPO, borough=W, action=Action.DECIDE))
    with pytest.raises(Denied) as denied:
        access.check_identity(caller(Role.OFFICER, borough=W, action=Action.CREATE))
    assert (denied.value.status, denied.value.code) == (403, "identity_needs_dpo")
    access.check_identity(caller(Role.DPO, action=Action.CREATE))


def test_a_request_belongs_to_the_borough_of_the_subjects_records():
    assert access.borough_of_new_request(caller(Role.OFFICER, borough=W, action=Action.CREATE)) == W
    assert access.borough_of_new_request(caller(Role.DPO, action=Action.CREATE)) is None
    assert access.borough_of_records(W, {KC}) == KC  # recorded in Westminster, the child's records are in K&C
    assert access.borough_of_records(W, set()) == W  # no borough known: stays where it was recorded
    assert access.borough_of_records(None, set()) is None
    # Records in both boroughs: the pack would hold both, so the request is the cross-borough roles' alone.
    assert access.borough_of_records(KC, {W, KC}) is None
    assert access.borough_of_records(None, {KC, W}) is None
    assert access.borough_of_records(W, {"somewhere-else"}) == W  # an unknown name is ignored
    assert access.scope(caller(Role.OFFICER, borough=KC, action=Action.LIST)) == (frozenset({KC}), False)
    assert access.scope(caller(Role.DPO, action=Action.LIST)) == (frozenset({W, KC}), True)
