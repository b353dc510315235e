"""The data categories of the privacy notice (DOMAIN section 1).

Every stored field is tagged with one: disclosure minimisation, subject access and retention all work
per category.
"""

from enum import StrEnum
from typing import Any

from pydantic import BaseModel


class DataCategory(StrEnum):
    CONTACT = "contact"
    DEMOGRAPHICS = "demographics"
    EDUCATION = "education"
    STATUTORY_SERVICES = "statutory_services"
    BENEFITS = "benefits"
    COUNCIL_TAX = "council_tax"
    HOME_OFFICE = "home_office"
    POLICE_PROBATION = "police_probation"


CATEGORY_KEY = "x-data-category"


def category(value: DataCategory) -> dict[str, Any]:
    """`Field(json_schema_extra=category(...))`: the tag shows in the generated JSON Schema too."""
    return {CATEGORY_KEY: value.value}


def field_categories(model: type[BaseModel], prefix: str = "") -> dict[str, DataCategory]:
    """Map each tagged field path (`child.address`) of a model to its data category."""
    tags: dict[str, DataCategory] = {}
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if CATEGORY_KEY in extra:
            tags[path] = DataCategory(extra[CATEGORY_KEY])
        annotation = info.annotation
        for candidate in getattr(annotation, "__args__", (annotation,)):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                tags.update(field_categories(candidate, prefix=f"{path}."))
    return tags
