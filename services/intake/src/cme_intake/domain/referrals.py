"""Rules about a referral itself: who sent it (the idempotency key) and which borough it belongs to."""

import hashlib

from cme_shared.contracts.referrals import Borough, Referral


def idempotency_key(referral: Referral) -> str:
    """(source.org_id, referral_id) per the contract; an anonymous referral is keyed by its content."""
    if referral.source.org_id is not None:
        return f"org:{referral.source.org_id}:{referral.referral_id}"
    digest = hashlib.sha256(referral.model_dump_json(exclude={"submitted_at"}).encode()).hexdigest()
    return f"content:{digest}"


# Postcode districts wholly within one borough (a default; operators replace it by configuration).
DEFAULT_POSTCODE_DISTRICTS: dict[str, Borough] = {
    **{d: Borough.WESTMINSTER for d in ("W1", "W2", "W9", "WC2", "NW1", "NW8", "SW1")},
    **{d: Borough.KENSINGTON_AND_CHELSEA for d in ("W8", "W10", "W11", "SW3", "SW5", "SW7", "SW10")},
}


def decide_borough(referral: Referral, districts: dict[str, Borough] = DEFAULT_POSTCODE_DISTRICTS) -> Borough | None:
    """The referral's own borough, else the child's postcode district's; None means triage."""
    if referral.borough is not None:
        return referral.borough
    address = referral.child.address
    if address is None or not address.postcode:
        return None
    outward = address.postcode.strip().upper().split(" ")[0]
    if len(outward) > 4:  # postcode written without its space
        outward = outward[:-3]
    return districts.get(outward)
