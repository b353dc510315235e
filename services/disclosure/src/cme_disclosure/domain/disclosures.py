"""A disclosure request as officers make it (CONTRACT section 4), and the words of the domain around it."""

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from cme_shared.contracts.categories import DataCategory

Text = Annotated[str, Field(min_length=1, max_length=200)]
LongText = Annotated[str, Field(min_length=1, max_length=4000)]


class RecipientType(StrEnum):
    POLICE = "police"
    HOME_OFFICE = "home_office"
    DWP = "dwp"
    SCHOOL = "school"
    OTHER_LOCAL_AUTHORITY = "other_local_authority"
    INTERNAL = "internal"


class Purpose(StrEnum):
    CME_TRACKING = "cme_tracking"
    SAFEGUARDING = "safeguarding"
    PREVENT = "prevent"
    IMMIGRATION = "immigration"
    CRIME = "crime"
    FRAUD = "fraud"
    SERIOUS_HARM = "serious_harm"
    STATUTORY_TRANSFER = "statutory_transfer"


class Status(StrEnum):
    PENDING = "pending"  # waiting for a second person's decision
    SHARED = "shared"
    REFUSED = "refused"


class RestrictionGround(StrEnum):
    """UK GDPR Art 18(2): what may still be done with restricted data."""

    CONSENT = "consent"
    LEGAL_CLAIMS = "legal_claims"
    PROTECT_ANOTHER_PERSON = "protect_another_person"
    IMPORTANT_PUBLIC_INTEREST = "important_public_interest"


class Recipient(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: RecipientType
    org_id: Annotated[str, Field(max_length=64)] | None = None
    org_name: Text
    requester_name: Text
    requester_role: Text
    requester_rank: Annotated[str, Field(max_length=64)] | None = None


class RestrictionException(BaseModel):
    """Why a share may go ahead although the subject's data is restricted (Art 18(2))."""

    model_config = ConfigDict(extra="forbid")

    ground: RestrictionGround
    reason: LongText


class DisclosureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject_ids: list[UUID] = Field(min_length=1, max_length=50)
    recipient: Recipient
    purpose: Purpose
    legal_gateway: Text
    reference: Annotated[str, Field(max_length=100)] | None = None
    categories: list[DataCategory] = Field(min_length=1)
    reason: LongText
    # Beyond CONTRACT 4, optional: the authorised officer a DWP s109B notice names, and the Art 18(2)
    # ground for sharing a restricted subject's data.
    authorised_officer: Text | None = None
    restriction_exception: RestrictionException | None = None
    # DOMAIN 4 "date received": the day the council received the request; default today (London).
    received_on: date | None = None


class Decision(BaseModel):
    """A second person's decision. Who decides, and in which role, is the token's (`sub`, and the role that
    let the request in), never the body's (SEC-23): the body may only add the decider's job title, which
    the record keeps as their own words beside the token's role."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "refuse"]
    reason: LongText
    job_title: Text | None = Field(default=None, description="the decider's job title as they write it "
                                                               "(an annotation; the record's role is the token's)")
    # DOMAIN 4: a police request is signed off at inspector rank or above. The rank the request states is
    # the requester's word; approving such a request needs the decider's own claim of the rank they saw
    # sign it off, recorded as theirs.
    sign_off_rank: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        default=None, description="police requests: the rank of the officer who signed the request off, as the "
                                  "decider checked it (inspector or above); required to approve one")


class Withholding(BaseModel):
    """Withhold one share from the subject's access requests, to the extent telling would prejudice
    its purpose (DPA 2018 Sch 2 Part 1 para 2 and the like; never blanket), until `review_date`."""

    model_config = ConfigDict(extra="forbid")

    exemption: Text
    reason: LongText
    review_date: date
    job_title: Text | None = Field(default=None, description="the DPO's job title as they write it (an annotation)")
