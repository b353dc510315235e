"""Enquiries: whom casework asks where a child is, what they said, and which source confirmed which fact.

The privacy notice names the sources (other LAs, schools, NHS, professionals, the police) and, for
proof of address, council tax, housing, parking, the fraud team and the services above: every fact
records which of them confirmed it (DOMAIN section 1).
"""

from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cme_shared.contracts.categories import DataCategory


class Agency(StrEnum):
    SCHOOL = "school"
    OTHER_LOCAL_AUTHORITY = "other_local_authority"
    HEALTH = "health"
    HOUSING = "housing"
    COUNCIL_TAX = "council_tax"
    PARKING = "parking"
    FRAUD_TEAM = "fraud_team"
    DWP = "dwp"
    HOME_OFFICE = "home_office"
    POLICE = "police"


# The privacy notice's category for what each agency tells us (DOMAIN section 1).
AGENCY_CATEGORY = {
    Agency.SCHOOL: DataCategory.EDUCATION,
    Agency.OTHER_LOCAL_AUTHORITY: DataCategory.EDUCATION,
    Agency.HEALTH: DataCategory.STATUTORY_SERVICES,
    Agency.HOUSING: DataCategory.STATUTORY_SERVICES,
    Agency.COUNCIL_TAX: DataCategory.COUNCIL_TAX,
    Agency.PARKING: DataCategory.CONTACT,  # parking permits: proof of address only
    Agency.FRAUD_TEAM: DataCategory.CONTACT,  # proof of address only
    Agency.DWP: DataCategory.BENEFITS,
    Agency.HOME_OFFICE: DataCategory.HOME_OFFICE,
    Agency.POLICE: DataCategory.POLICE_PROBATION,
}


class Outcome(StrEnum):
    FOUND_IN_EDUCATION = "found_in_education"
    FOUND_NOT_IN_EDUCATION = "found_not_in_education"
    INFORMATION_PROVIDED = "information_provided"
    NOT_KNOWN = "not_known"
    NO_REPLY = "no_reply"
    DECLINED = "declined"


class FactField(StrEnum):
    ADDRESS = "address"
    SCHOOL_ON_ROLL = "school_on_roll"
    LEFT_ENGLAND = "left_england"
    LAST_IN_EDUCATION_ON = "last_in_education_on"  # the start of "time missing" in the DfE return
    HOUSEHOLD = "household"
    OTHER = "other"


class Fact(BaseModel):
    """One thing a source confirmed: "council tax confirmed the address", "the school has the child on roll"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: FactField
    value: Annotated[str, Field(min_length=1, max_length=500)]
    confirmed_by: Agency

    @model_validator(mode="after")
    def _dates_are_dates(self) -> "Fact":
        if self.field is FactField.LAST_IN_EDUCATION_ON:
            date.fromisoformat(self.value)  # raises ValueError: pydantic reports it against the fact
        return self
