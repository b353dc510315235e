"""Tokens, roles and the production guard (CONTRACT section 2)."""

import time

import jwt
import pytest
from pydantic import ValidationError

from cme_shared.auth import Principal, Role, TokenVerifier, issue_development_token
from cme_shared.contracts.referrals import Borough
from cme_shared.http.errors import ApiError
from cme_shared.settings import DEVELOPMENT_JWT_SECRET, ServiceSettings

pytestmark = pytest.mark.unit


def test_production_refuses_the_development_secret():
    with pytest.raises(ValidationError, match="development JWT secret"):
        ServiceSettings(env="production", jwks_url="https://idp.example/jwks", jwt_secret=DEVELOPMENT_JWT_SECRET)


def test_production_needs_a_jwks_url():
    with pytest.raises(ValidationError, match="JWKS"):
        ServiceSettings(env="production", jwt_secret="a-real-secret-from-a-vault-0123456789")


def test_a_development_token_round_trips_with_its_claims():
    settings = ServiceSettings(jwt_secret="s" * 64)
    token = issue_development_token("s" * 64, sub="u1", roles=["officer"], borough="westminster")
    principal = TokenVerifier(settings).verify(token)
    assert principal == Principal(sub="u1", roles=frozenset({Role.OFFICER}), borough=Borough.WESTMINSTER)
    assert principal.boroughs() == {Borough.WESTMINSTER}


@pytest.mark.parametrize(
    "token",
    [
        issue_development_token("wrong-secret" * 4, sub="u1", roles=["officer"]),
        jwt.encode({"sub": "u1", "roles": ["officer"], "exp": int(time.time()) - 10}, "s" * 64, algorithm="HS256"),
        jwt.encode({"roles": ["officer"], "exp": int(time.time()) + 60}, "s" * 64, algorithm="HS256"),
        jwt.encode({"sub": "u1", "roles": ["officer"], "exp": int(time.time()) + 60}, "s" * 64, algorithm="HS384"),
        jwt.encode({"sub": "u1", "roles": ["wizard"], "exp": int(time.time()) + 60}, "s" * 64, algorithm="HS256"),
    ],
    ids=["bad-signature", "expired", "no-sub", "other-algorithm", "unknown-role"],
)
def test_bad_tokens_are_refused_with_401(token):
    with pytest.raises(ApiError) as refused:
        TokenVerifier(ServiceSettings(jwt_secret="s" * 64)).verify(token)
    assert refused.value.status == 401


def test_cross_borough_roles_see_both_boroughs():
    assert Principal(sub="m", roles=frozenset({Role.MANAGER})).boroughs() == set(Borough)
    assert Principal(sub="o", roles=frozenset({Role.OFFICER})).boroughs() == frozenset()
