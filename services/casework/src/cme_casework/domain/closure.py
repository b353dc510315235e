"""Closing a case: a reason from DOMAIN section 2 and the evidence that reason needs.

An officer's word that a child is "sorted" is not enough: each reason names what must be on file,
and `check` refuses a closure that lacks it, saying which piece is missing.
"""

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cme_shared.law.school_age import over_compulsory_school_age, school_leaving_date

Text = Annotated[str, Field(min_length=1, max_length=500)]
SchoolUrn = Annotated[str, Field(pattern=r"^\d{6}$")]  # DfE unique reference number of a school
LaCode = Annotated[str, Field(pattern=r"^\d{3}$")]  # DfE local authority number, e.g. 213 Westminster

# "Untraced after enquiries exhausted": at least this many different agencies asked. A LOCAL RULE, the
# default of `CME_UNTRACED_MIN_AGENCIES`: the DfE CME guidance lists schools, other LAs, health, housing,
# police, DWP and the Home Office among the checks to make, but sets no number (statutory review 2026-12,
# section 3 item 5).
MIN_AGENCIES_FOR_UNTRACED = 3


class ClosureReason(StrEnum):
    ON_ROLL_ELSEWHERE = "on_roll_elsewhere"
    ELECTIVE_HOME_EDUCATION_SUITABLE = "elective_home_education_suitable"
    LEFT_ENGLAND = "left_england"
    TRANSFERRED_TO_ANOTHER_LA = "transferred_to_another_la"
    ALTERNATIVE_PROVISION = "alternative_provision"
    OVER_COMPULSORY_SCHOOL_AGE = "over_compulsory_school_age"
    DECEASED = "deceased"
    IN_CUSTODY = "in_custody"
    DUPLICATE_OR_NOT_CME = "duplicate_or_not_cme"
    UNTRACED_ENQUIRIES_EXHAUSTED = "untraced_enquiries_exhausted"


# Reasons whose evidence needs one of several fields, none of them required on its own.
ONE_OF: dict["ClosureReason", tuple[str, ...]] = {}


class Evidence(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    confirmed_by: Text  # who confirmed it: a school, a council, the registrar, an officer's check


class OnRollElsewhere(Evidence):
    school_urn: SchoolUrn
    start_date: date


class ElectiveHomeEducationSuitable(Evidence):
    assessed_on: date
    assessed_by: Text
    ehe_id: UUID | None = None  # the EHE record whose assessment it cites (domain/ehe.py), when there is one


class LeftEngland(Evidence):
    kind: Literal["home_office_border_force", "overseas_school_letter", "parent_written_confirmation"]
    received_on: date
    reference: Text | None = None  # the Home Office / Border Force answer's reference
    overseas_school: Text | None = None
    country: Text | None = None

    @model_validator(mode="after")
    def _each_kind_names_its_source(self) -> "LeftEngland":
        needed = LEFT_ENGLAND_KIND_NEEDS.get(self.kind)
        if needed is not None and not getattr(self, needed[0]):
            raise ValueError(needed[1])
        return self


# What each kind of proof that a child left England must also name (the field and the refusal's words).
LEFT_ENGLAND_KIND_NEEDS: dict[str, tuple[str, str]] = {
    "home_office_border_force": ("reference", "a Home Office / Border Force answer needs its reference"),
    "overseas_school_letter": ("overseas_school", "an overseas school letter needs the school's name"),
}


class TransferredToAnotherLa(Evidence):
    la_code: LaCode
    la_name: Text
    accepted_on: date  # the receiving council's acceptance


class AlternativeProvision(Evidence):
    provider: Text
    provider_urn: SchoolUrn | None = None
    start_date: date


class OverCompulsorySchoolAge(Evidence):
    date_of_birth: date


class Deceased(Evidence):
    date_of_death: date


class InCustody(Evidence):
    establishment: Text
    since: date


class DuplicateOrNotCme(Evidence):
    duplicate_of_case_id: UUID | None = None
    not_cme_explanation: Annotated[str, Field(min_length=10, max_length=2000)] | None = None

    @model_validator(mode="after")
    def _says_which(self) -> "DuplicateOrNotCme":
        if all(getattr(self, name) is None for name in ONE_OF[ClosureReason.DUPLICATE_OR_NOT_CME]):
            raise ValueError("give duplicate_of_case_id or not_cme_explanation")
        return self


class UntracedEnquiriesExhausted(Evidence):
    lost_pupil_reference: Text  # Lost Pupil Database / School-to-School "lost" CTF reference
    uploaded_on: date
    recheck_on: date  # the periodic re-check


ONE_OF[ClosureReason.DUPLICATE_OR_NOT_CME] = ("duplicate_of_case_id", "not_cme_explanation")

EVIDENCE: dict[ClosureReason, type[Evidence]] = {
    ClosureReason.ON_ROLL_ELSEWHERE: OnRollElsewhere,
    ClosureReason.ELECTIVE_HOME_EDUCATION_SUITABLE: ElectiveHomeEducationSuitable,
    ClosureReason.LEFT_ENGLAND: LeftEngland,
    ClosureReason.TRANSFERRED_TO_ANOTHER_LA: TransferredToAnotherLa,
    ClosureReason.ALTERNATIVE_PROVISION: AlternativeProvision,
    ClosureReason.OVER_COMPULSORY_SCHOOL_AGE: OverCompulsorySchoolAge,
    ClosureReason.DECEASED: Deceased,
    ClosureReason.IN_CUSTODY: InCustody,
    ClosureReason.DUPLICATE_OR_NOT_CME: DuplicateOrNotCme,
    ClosureReason.UNTRACED_ENQUIRIES_EXHAUSTED: UntracedEnquiriesExhausted,
}


@dataclass(frozen=True)
class Problem:
    loc: tuple[str | int, ...]
    code: str
    message: str


@dataclass(frozen=True)
class ClosureContext:
    """What the case itself must show for a closure: its id, when its current period began, its enquiries."""

    case_id: UUID
    period_opened_on: date
    agencies_asked: frozenset[str]
    today: date
    date_of_birth: date | None = None  # what the case holds, if anything
    min_agencies_for_untraced: int = MIN_AGENCIES_FOR_UNTRACED  # the configured local rule


def check(reason: ClosureReason, evidence: dict[str, Any], closed_on: date,
          case: ClosureContext) -> tuple[Evidence | None, list[Problem]]:
    """The validated evidence, or the problems that refuse the closure (never echoing the evidence)."""
    problems: list[Problem] = []
    if closed_on > case.today:
        problems.append(Problem(("closed_on",), "in_future", "a case cannot be closed on a future date"))
    if closed_on < case.period_opened_on:
        problems.append(Problem(("closed_on",), "before_opening", "a case cannot close before it opened"))
    try:
        proof = EVIDENCE[reason].model_validate(evidence)
    except ValidationError as exc:
        problems.extend(
            Problem(("evidence", *e["loc"]), e["type"], e["msg"])
            for e in exc.errors(include_input=False, include_url=False)
        )
        return None, problems
    problems.extend(_rules(proof, closed_on, case))
    return (proof if not problems else None), problems


# Evidence of something that happened must predate the closure it supports: a child due to start at a
# school next week is not yet on its roll.
EVENT_DATES = ("start_date", "assessed_on", "received_on", "accepted_on", "date_of_death", "since", "uploaded_on")


def _rules(proof: Evidence, closed_on: date, case: ClosureContext) -> list[Problem]:
    late = [Problem(("evidence", name), "after_closure", f"{name} is after the closure date")
            for name in EVENT_DATES if (getattr(proof, name, None) or closed_on) > closed_on]
    return late + _reason_rules(proof, closed_on, case)


def _reason_rules(proof: Evidence, closed_on: date, case: ClosureContext) -> list[Problem]:
    match proof:
        case OverCompulsorySchoolAge(date_of_birth=dob) if case.date_of_birth is not None and dob != case.date_of_birth:
            # The age is the case's child's: evidence about another date of birth proves nothing about this
            # child. A wrong date on the case is put right first (rectification, UK GDPR Art 16).
            return [Problem(("evidence", "date_of_birth"), "date_of_birth_mismatch",
                            "the date of birth does not match the case's; correct the case's date of birth first")]
        case OverCompulsorySchoolAge(date_of_birth=dob) if not over_compulsory_school_age(dob, closed_on):
            return [_still_of_school_age(dob)]
        case DuplicateOrNotCme(duplicate_of_case_id=other) if other == case.case_id:
            return [Problem(("evidence", "duplicate_of_case_id"), "self_reference", "a case is not its own duplicate")]
        case UntracedEnquiriesExhausted(recheck_on=recheck):
            found = _too_few_agencies(case)
            if recheck <= closed_on:
                found.append(Problem(("evidence", "recheck_on"), "recheck_not_after_closure",
                                     "the periodic re-check must be after the closure date"))
            return found
    return []


def _still_of_school_age(dob: date) -> Problem:
    # Education Act 1996 s8: of compulsory school age until the school leaving date.
    return Problem(("evidence", "date_of_birth"), "still_of_compulsory_school_age",
                   f"of compulsory school age until {school_leaving_date(dob).isoformat()}")


def _too_few_agencies(case: ClosureContext) -> list[Problem]:
    if len(case.agencies_asked) >= case.min_agencies_for_untraced:
        return []
    return [Problem(("evidence",), "enquiries_not_exhausted",
                    f"enquiries of at least {case.min_agencies_for_untraced} different agencies "
                    f"must be recorded first ({len(case.agencies_asked)} so far)")]


def lacks(reason: ClosureReason, on_file: dict[str, Any], closed_on: date, case: ClosureContext) -> list[Problem]:
    """What a closure for `reason` on `closed_on` still lacks, given the evidence the case already holds.

    The same rules as `check`: with every piece on file, `check`'s own problems; otherwise each piece still
    to give (`missing`, `one_of_missing`) and the rules the case itself fails whatever evidence is given (too
    few agencies asked for `untraced_enquiries_exhausted`, a child the case shows is still of compulsory
    school age). Names fields only: never a value.
    """
    model = EVIDENCE[reason]
    found = [Problem(("evidence", name), "missing", f"{name} is required")
             for name, spec in model.model_fields.items() if spec.is_required() and on_file.get(name) is None]
    needed = LEFT_ENGLAND_KIND_NEEDS.get(on_file.get("kind", "")) if reason is ClosureReason.LEFT_ENGLAND else None
    if needed is not None and on_file.get(needed[0]) is None:
        found.append(Problem(("evidence", needed[0]), "missing", needed[1]))
    if (names := ONE_OF.get(reason)) and all(on_file.get(n) is None for n in names):
        found.append(Problem(("evidence",), "one_of_missing", f"give one of {', '.join(names)}"))
    if not found:
        return check(reason, on_file, closed_on, case)[1]
    if reason is ClosureReason.UNTRACED_ENQUIRIES_EXHAUSTED:
        found.extend(_too_few_agencies(case))
    if (reason is ClosureReason.OVER_COMPULSORY_SCHOOL_AGE and case.date_of_birth is not None
            and not over_compulsory_school_age(case.date_of_birth, closed_on)):
        found.append(_still_of_school_age(case.date_of_birth))
    return found
