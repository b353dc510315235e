"""Restriction of processing (UK GDPR Art 18) and the exceptions under which a restricted record may be used."""

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from .history import SYSTEM_CASEWORK


class ExceptionGround(StrEnum):
    # UK GDPR Art 18(2): besides storage, restricted data may be processed only on these grounds.
    CONSENT = "consent"
    LEGAL_CLAIMS = "legal_claims"
    PROTECTION_OF_ANOTHER_PERSON = "protection_of_another_person"  # safeguarding
    IMPORTANT_PUBLIC_INTEREST = "important_public_interest"


class RestrictionException(BaseModel):
    """An officer's recorded reason for acting on a restricted subject's case."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ground: ExceptionGround
    reason: Annotated[str, Field(min_length=10, max_length=2000)]


def recorded(exception: RestrictionException, actor: str) -> dict[str, Any]:
    """The exception as a history entry carries it: the ground, the reason, and who recorded it."""
    return {**exception.model_dump(mode="json"), "actor": actor}


# UK GDPR Art 18(2): restricted data may still be processed "for the protection of the rights of another
# natural or legal person or for reasons of important public interest". A child with a child protection
# plan, a child in need, a looked-after child or a safeguarding concern is escalated to MASH / social care
# the same working day (DOMAIN section 2): a restriction never parks such a referral.
SAFEGUARDING_EXCEPTION = recorded(RestrictionException(
    ground=ExceptionGround.PROTECTION_OF_ANOTHER_PERSON,
    reason="high-risk referral (child protection plan, child in need, looked after or safeguarding concern): "
           "processed despite the restriction to protect the child (UK GDPR Art 18(2))",
), SYSTEM_CASEWORK)
