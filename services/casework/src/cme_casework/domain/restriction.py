"""Restriction of processing (UK GDPR Art 18) and the exceptions under which a restricted record may be used."""

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


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
