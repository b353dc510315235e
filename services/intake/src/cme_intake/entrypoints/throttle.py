"""The public referral form's limits: the kit's throttle (cme_shared.http.throttle, SEC-11) with intake's
noun and refusal counter."""

from typing import Any

from cme_shared.http.throttle import (
    Network,
    PublicFormLimits as _PublicFormLimits,
    Throttled,
    TokenBuckets,
    client_address,
    client_key,
    network_key,
    refusal_counter,
)

__all__ = ["Network", "PUBLIC_REFUSALS", "PublicFormLimits", "Throttled", "TokenBuckets", "client_address",
           "client_key", "network_key"]

PUBLIC_REFUSALS = refusal_counter("cme_public_referrals_refused_total", "referral")


class PublicFormLimits(_PublicFormLimits):
    def __init__(self, **limits: Any) -> None:
        super().__init__(counter=PUBLIC_REFUSALS, noun="referrals", **limits)
