"""The partner referral contract (CONTRACT section 3): `cme.referrals.v1` and its outcomes.

These models are what intake validates with and what the AsyncAPI document is generated from.
They forbid unknown fields and are strict: a number is never coerced into a string, nor "yes" into
a boolean. A field whose type admits null may be left out; lists default to empty.
"""

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ..problems import Problem
from .categories import DataCategory, category

SCHEMA_VERSION = 1

Text = Annotated[str, Field(max_length=200)]
# CONTRACT section 3 rejects a missing name, never an empty one: "" is a string, and a referral about a
# child whose name the partner does not know must not be lost (intake warns instead).
Name = Annotated[str, Field(max_length=100)]
LongText = Annotated[str, Field(max_length=10_000)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SourceType(StrEnum):
    SCHOOL = "school"
    OTHER_LOCAL_AUTHORITY = "other_local_authority"
    NHS = "nhs"
    CHILDRENS_SOCIAL_CARE = "childrens_social_care"
    EARLY_HELP = "early_help"
    POLICE = "police"
    YOUTH_JUSTICE = "youth_justice"
    HOUSING = "housing"
    ADMISSIONS = "admissions"
    HOME_OFFICE = "home_office"
    PARENT = "parent"
    PUBLIC = "public"
    OTHER_PROFESSIONAL = "other_professional"


class Borough(StrEnum):
    WESTMINSTER = "westminster"
    KENSINGTON_AND_CHELSEA = "kensington_and_chelsea"


class NotificationKind(StrEnum):
    DELETION_FROM_ROLL = "deletion_from_roll"
    NOT_ATTENDING = "not_attending"
    FAILED_TO_START = "failed_to_start"
    MOVED_NO_FORWARDING_ADDRESS = "moved_no_forwarding_address"
    NEW_ARRIVAL_NOT_IN_SCHOOL = "new_arrival_not_in_school"
    CHILD_NOT_IN_SCHOOL_CONCERN = "child_not_in_school_concern"
    NEW_PUPIL_REGISTERED = "new_pupil_registered"
    CHANGE_OF_CIRCUMSTANCES = "change_of_circumstances"


# School Attendance (Pupil Registration) (England) Regulations 2024 (SI 2024/208) reg 9(1)(a)-(o).
DeletionGround = Literal[
    "9(1)(a)", "9(1)(b)", "9(1)(c)", "9(1)(d)", "9(1)(e)", "9(1)(f)", "9(1)(g)", "9(1)(h)",
    "9(1)(i)", "9(1)(j)", "9(1)(k)", "9(1)(l)", "9(1)(m)", "9(1)(n)", "9(1)(o)",
]


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


class Relationship(StrEnum):
    MOTHER = "mother"
    FATHER = "father"
    STEP_PARENT = "step_parent"
    GRANDPARENT = "grandparent"
    FOSTER_CARER = "foster_carer"
    GUARDIAN = "guardian"
    OTHER = "other"
    UNKNOWN = "unknown"


class Address(Strict):
    line1: Text
    line2: Text | None = None
    town: Text | None = None
    postcode: Annotated[str, Field(max_length=16)] | None = None
    uprn: Annotated[str, Field(max_length=12)] | None = None


class Contact(Strict):
    name: Name
    role: Text | None = None
    email: Text | None = None
    phone: Annotated[str, Field(max_length=32)] | None = None


class Source(Strict):
    type: SourceType
    org_id: Annotated[str, Field(max_length=64)] | None = None
    org_name: Text | None = None
    contact: Contact | None = None
    anonymous: bool = False

    @model_validator(mode="after")
    def _only_the_public_may_be_anonymous(self) -> "Source":
        if self.anonymous and self.type is not SourceType.PUBLIC:
            raise ValueError("anonymous is allowed only for source type 'public'")
        return self


class Notification(Strict):
    kind: NotificationKind
    deletion_ground: DeletionGround | None = None
    deletion_date: date | None = None
    last_attended_on: date | None = None
    destination_school_urn: Annotated[str, Field(max_length=16)] | None = Field(
        default=None, json_schema_extra=category(DataCategory.EDUCATION)
    )
    destination_start_date: date | None = None
    future_address: Address | None = Field(default=None, json_schema_extra=category(DataCategory.CONTACT))
    future_address_from: date | None = None
    details: LongText | None = None


class Send(Strict):
    ehcp: bool | None = None
    sen_support: bool | None = None


class Flags(Strict):
    looked_after: bool | None = None
    child_protection_plan: bool | None = None
    child_in_need: bool | None = None
    young_carer: bool | None = None
    gypsy_roma_traveller: bool | None = None
    known_to_youth_justice: bool | None = None


class Child(Strict):
    first_name: Name = Field(json_schema_extra=category(DataCategory.CONTACT))
    last_name: Name = Field(json_schema_extra=category(DataCategory.CONTACT))
    middle_names: Text | None = Field(default=None, json_schema_extra=category(DataCategory.CONTACT))
    preferred_name: Text | None = Field(default=None, json_schema_extra=category(DataCategory.CONTACT))
    aliases: list[Text] = Field(default=[], max_length=20, json_schema_extra=category(DataCategory.CONTACT))
    date_of_birth: date | None = Field(default=None, json_schema_extra=category(DataCategory.DEMOGRAPHICS))
    sex: Sex = Field(default=Sex.UNKNOWN, json_schema_extra=category(DataCategory.DEMOGRAPHICS))
    upn: Annotated[str, Field(max_length=16)] | None = Field(
        default=None, json_schema_extra=category(DataCategory.EDUCATION)
    )
    nhs_number: Annotated[str, Field(max_length=16)] | None = Field(
        default=None, json_schema_extra=category(DataCategory.DEMOGRAPHICS)
    )
    address: Address | None = Field(default=None, json_schema_extra=category(DataCategory.CONTACT))
    current_school_urn: Annotated[str, Field(max_length=16)] | None = Field(
        default=None, json_schema_extra=category(DataCategory.EDUCATION)
    )
    previous_school_urn: Annotated[str, Field(max_length=16)] | None = Field(
        default=None, json_schema_extra=category(DataCategory.EDUCATION)
    )
    send: Send | None = Field(default=None, json_schema_extra=category(DataCategory.EDUCATION))
    flags: Flags | None = Field(default=None, json_schema_extra=category(DataCategory.STATUTORY_SERVICES))


class Carer(Strict):
    title: Annotated[str, Field(max_length=20)] | None = None
    first_name: Text | None = Field(default=None, json_schema_extra=category(DataCategory.CONTACT))
    last_name: Text | None = Field(default=None, json_schema_extra=category(DataCategory.CONTACT))
    relationship: Relationship = Field(json_schema_extra=category(DataCategory.DEMOGRAPHICS))
    parental_responsibility: bool | None = None
    lives_with_child: bool | None = None
    address: Address | None = Field(default=None, json_schema_extra=category(DataCategory.CONTACT))
    phones: list[Annotated[str, Field(max_length=32)]] = Field(
        default=[], max_length=10, json_schema_extra=category(DataCategory.CONTACT)
    )
    email: Text | None = Field(default=None, json_schema_extra=category(DataCategory.CONTACT))


class Safeguarding(Strict):
    concern: bool
    details: LongText | None = Field(default=None, json_schema_extra=category(DataCategory.STATUTORY_SERVICES))


class Referral(Strict):
    """One partner referral about a child who may be missing education."""

    schema_version: Literal[1]
    referral_id: Annotated[str, Field(min_length=1, max_length=64)]
    submitted_at: AwareDatetime
    source: Source
    borough: Borough | None = None
    notification: Notification
    child: Child
    carers: list[Carer] = Field(default=[], max_length=20)
    safeguarding: Safeguarding | None = None

    @field_validator("schema_version", mode="before")
    @classmethod
    def _a_json_integer(cls, value: object) -> object:
        # Python's True == 1 == 1.0: without this, `true` or `1.0` would pass as schema version 1.
        if type(value) is not int:
            raise PydanticCustomError("literal_error", "Input should be 1")
        return value


class Status(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


class ReferralOutcome(BaseModel):
    schema_version: Literal[1] = SCHEMA_VERSION
    referral_id: str | None
    source_org_id: str | None
    status: Status
    intake_id: UUID | None = None
    child_subject_id: UUID | None = None
    errors: list[Problem] = []
    warnings: list[Problem] = []
    processed_at: datetime
