"""The children-not-in-school register (Education Act 1996 ss436B-436G, inserted by the Children's Wellbeing and
Schools Act 2026 s38; not yet commenced): what an entry may hold, field by field, each with its data category.

- s436B: each local authority keeps a register of the children of compulsory school age in its area who are
  not registered pupils at a relevant school (in practice here: children with an open EHE record).
- s436C(1) (mandatory content): the child's name, date of birth and address; the name and address of each
  parent; whether the education is provided by a parent and, if so, which parent and for how much of the
  time; the name, address and type of each other person who provides it, where and for how long.
- s436C(2) (optional content): whether the child has special educational needs, and child-protection
  matters the authority considers relevant; and (regulations) other prescribed information, such as the
  child's protected characteristics, here only when an officer records them.

Nothing else may be kept in an entry or leave in its export: `FIELDS` is the whole of it. The feature is off
unless `CME_CASEWORK_CNIS_REGISTER=true` (settings): until commencement no register is kept.
"""

from dataclasses import dataclass
from typing import Any

from cme_shared.contracts.categories import DataCategory


@dataclass(frozen=True)
class RegisterField:
    name: str
    category: DataCategory
    source: str  # the provision that requires or allows it
    mandatory: bool


FIELDS: tuple[RegisterField, ...] = (
    RegisterField("child_name", DataCategory.CONTACT, "s436C(1)(a)", True),
    RegisterField("child_date_of_birth", DataCategory.DEMOGRAPHICS, "s436C(1)(a)", True),
    RegisterField("child_address", DataCategory.CONTACT, "s436C(1)(a)", True),
    RegisterField("parents", DataCategory.CONTACT, "s436C(1)(b)", True),  # each parent's name and address
    RegisterField("education_by_parent", DataCategory.EDUCATION, "s436C(1)(c)", True),  # which parent, how much
    RegisterField("other_providers", DataCategory.EDUCATION, "s436C(1)(d)", True),  # name, address, type, place, hours
    RegisterField("special_educational_needs", DataCategory.EDUCATION, "s436C(2)", False),
    RegisterField("child_protection_matters", DataCategory.STATUTORY_SERVICES, "s436C(2)", False),
    RegisterField("protected_characteristics", DataCategory.DEMOGRAPHICS, "s436C(2) (prescribed)", False),
)
FIELD_NAMES = tuple(f.name for f in FIELDS)
BY_NAME = {f.name: f for f in FIELDS}
# The export's columns: the child (by subject id, so the officer can find the record), the borough, the fields.
EXPORT_COLUMNS = ("child_subject_id", "borough", *FIELD_NAMES)


def minimised(content: dict[str, Any]) -> dict[str, Any]:
    """Only the fields s436C requires or allows, in their order; anything else is dropped."""
    return {name: content.get(name) for name in FIELD_NAMES}


def seeded(date_of_birth: str | None) -> dict[str, Any]:
    """The entry an EHE record starts (casework holds no names: officers enter the rest)."""
    return minimised({"child_date_of_birth": date_of_birth})


def categories() -> dict[str, str]:
    return {f.name: f.category.value for f in FIELDS}
