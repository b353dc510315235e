"""Intake's one visibility rule (issue 13, SEC-13, SEC-14): what each role's scope sees, as a condition in Python
and in SQL alike, and who may merge alone."""

import pytest
from sqlalchemy import Column, MetaData, Table, Text, select
from sqlalchemy.dialects import postgresql

from cme_intake.visibility import Scope, visible
from cme_shared.auth import Principal, Role
from cme_shared.contracts.referrals import Borough

pytestmark = pytest.mark.unit

W, K = "westminster", "kensington_and_chelsea"
rows = Table("rows", MetaData(), Column("borough", Text))


def scope(*roles: Role, borough: str | None = None, acting: Role | None = None) -> Scope:
    principal = Principal(sub="someone", roles=frozenset(roles), borough=borough)
    return Scope.of(principal.acting_as(acting or roles[0]))


def sql(condition) -> str:
    return str(select(rows).where(condition).compile(dialect=postgresql.dialect(),
                                                     compile_kwargs={"literal_binds": True}))


def test_an_officer_sees_their_borough_only_and_not_the_triage_list():
    officer = scope(Role.OFFICER, borough=W)
    assert officer.sees(W) and not officer.sees(K) and not officer.sees(None) and not officer.unassigned
    assert "borough IN ('westminster')" in sql(officer.where(rows.c.borough))
    assert "IS NULL" not in sql(officer.where(rows.c.borough))


def test_a_role_acting_across_boroughs_sees_both_and_the_triage_list():
    for role in (Role.MANAGER, Role.DPO):
        cross = scope(role)
        assert cross.sees(W) and cross.sees(K) and cross.sees(None) and cross.unassigned
        assert "borough IS NULL OR" in sql(cross.where(rows.c.borough))


def test_another_role_in_the_token_does_not_widen_the_one_acting():
    assert scope(Role.OFFICER, Role.AUDITOR, borough=W, acting=Role.OFFICER) == scope(Role.OFFICER, borough=W)
    assert not visible(K, frozenset({Borough.WESTMINSTER}))


def test_an_officer_without_a_borough_sees_nothing():
    nobody = scope(Role.OFFICER)
    assert not nobody.sees_any([W, K, None])
    assert "false" in sql(nobody.where(rows.c.borough)).lower()


def test_who_merges_alone():
    officer, manager = scope(Role.OFFICER, borough=W), scope(Role.MANAGER)
    assert officer.merges_alone({W}) and manager.merges_alone({K})
    assert not officer.merges_alone({W, K}) and not manager.merges_alone({W, K})  # two boroughs: two people
    assert not officer.merges_alone({W, None}) and manager.merges_alone({W, None})  # records the officer cannot see
    assert not officer.merges_alone({K})
