"""Rules about a referral itself: who sent it (the idempotency key), which borough it belongs to, and
what of the referrer may be kept where."""

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from cme_shared.contracts.referrals import Address, Borough, Referral, SourceType

from .identifiers import postcode_district

# Postcode districts wholly or mostly within one borough: a default that operators replace through
# CME_POSTCODE_DISTRICTS (settings). A district not listed sends the referral to the triage list.
# NW1 (mostly Camden: Camden Town, Euston, King's Cross) and WC2 (split between Westminster and Camden)
# are not listed: a manager places them (statutory review 2026-12, section 3 item 12).
STRADDLING_DISTRICTS = frozenset({"NW1", "WC2"})
DEFAULT_POSTCODE_DISTRICTS: dict[str, Borough] = {
    **{d: Borough.WESTMINSTER for d in ("W1", "W2", "W9", "NW8", "SW1")},
    **{d: Borough.KENSINGTON_AND_CHELSEA for d in ("W8", "W10", "W11", "SW3", "SW5", "SW7", "SW10")},
}

# A member of the public or a parent is not an organisation: their details are third-party data to the
# child (DPA 2018 Sch 2 Part 3 para 16) and are kept sealed, apart from the referral.
PRIVATE_REFERRERS = frozenset({SourceType.PUBLIC, SourceType.PARENT})

# The public form's channel. Anyone may post to it, so what it receives is kept and answered but waits
# for an officer to accept it before casework hears of it (no case opens on a stranger's word alone, SEC-11):
# named and anonymous referrals alike (an anonymous one is the easier to forge). Partners' referrals (Kafka,
# POST /referrals) come from an accountable organisation and flow on at once, whatever their source type.
PUBLIC_FORM_CHANNEL = "http-public"
HELD_FOR_OFFICER = "public_form"  # the reason a held referral is held


def waits_for_officer(channel: str) -> bool:
    return channel == PUBLIC_FORM_CHANNEL


def org_id(referral: Referral) -> str | None:
    value = (referral.source.org_id or "").strip()
    return value or None


def idempotency_key(referral: Referral) -> str:
    """(source.org_id, referral_id) per the contract; without an org_id, keyed by the content itself."""
    if (org := org_id(referral)) is not None:
        return f"org:{org}:{referral.referral_id}"
    digest = hashlib.sha256(referral.model_dump_json(exclude={"submitted_at"}).encode()).hexdigest()
    return f"content:{digest}"


def borough_of(address: Address | None, districts: Mapping[str, Borough]) -> Borough | None:
    """The borough of a well-formed postcode's district; None for a malformed or unlisted one."""
    if address is None or address.postcode is None:
        return None
    district = postcode_district(address.postcode)
    return districts.get(district) if district else None


def decide_borough(
    referral: Referral, districts: Mapping[str, Borough] = DEFAULT_POSTCODE_DISTRICTS
) -> Borough | None:
    """The referral's own borough, else the child's postcode district's; None means the triage list.

    A malformed postcode is not guessed from (`W2 9` may not be in W2 at all): it goes to triage.
    """
    return referral.borough or borough_of(referral.child.address, districts)


def has_private_referrer(referral: Referral) -> bool:
    return referral.source.type in PRIVATE_REFERRERS


def referrer_contact(referral: Referral) -> dict[str, Any] | None:
    """The contact details to seal, or None: an anonymous referral keeps no referrer data at all."""
    if not has_private_referrer(referral) or referral.source.anonymous or referral.source.contact is None:
        return None
    return referral.source.contact.model_dump(mode="json")


def stored_payload(referral: Referral) -> dict[str, Any]:
    """The referral as kept with the case record: a private referrer's contact is not in it, nor the
    `org_name` they may have typed (a member of the public is no organisation; it stays in the sealed bytes)."""
    payload = referral.model_dump(mode="json")
    if has_private_referrer(referral) or referral.source.anonymous:
        payload["source"]["contact"] = None
        payload["source"]["org_name"] = None
    return payload


def keeps_raw_in_clear(referral: Referral) -> bool:
    """The received bytes are kept as they are unless they hold a private referrer's details (a contact, or
    an org_name they typed)."""
    if not (has_private_referrer(referral) or referral.source.anonymous):
        return True
    return referral.source.contact is None and referral.source.org_name is None


def source_label(source_type: str, org_id: str | None, org_name: str | None) -> str:
    """Where data came from, as a subject access response lists it (UK GDPR Art 15(1)(g))."""
    if source_type == SourceType.PUBLIC:
        return "a member of the public"
    if source_type == SourceType.PARENT:
        return "a parent or carer"
    label = source_type.replace("_", " ")
    return " ".join(part for part in (label, org_id, f"({org_name})" if org_name else None) if part)


NUL = "\x00"
REPLACEMENT = "\ufffd"


def text_safe(value: str) -> str:
    """PostgreSQL text and jsonb cannot hold U+0000 (valid JSON, so a partner may send it)."""
    return value.replace(NUL, REPLACEMENT)


def without_nul_characters(referral: Referral) -> tuple[Referral, list[list[str | int]]]:
    """The referral with every U+0000 replaced by U+FFFD, and where that happened (for warnings)."""
    replaced: list[list[str | int]] = []

    def clean(value: Any, loc: list[str | int]) -> Any:
        if isinstance(value, str) and NUL in value:
            replaced.append(loc)
            return text_safe(value)
        if isinstance(value, dict):
            return {k: clean(v, [*loc, k]) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v, [*loc, i]) for i, v in enumerate(value)]
        return value

    cleaned = clean(referral.model_dump(mode="json"), [])
    if not replaced:
        return referral, []
    return Referral.model_validate_json(json.dumps(cleaned)), replaced
