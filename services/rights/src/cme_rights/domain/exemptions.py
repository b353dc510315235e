"""When the DPO may withhold a record of an access pack under a DPA 2018 exemption (pure).

The codes and the wording the pack shows are `responses.EXEMPTIONS`; this module holds the conditions
some of them carry beyond the DPO's judgement, checked before a record is withheld (DOMAIN section 5:
item by item, with a recorded reason). Sources, as the statutory review of Dec 2026 (section 3 item 9)
asked for them:

- Child abuse data, DPA 2018 Sch 3 Part 5 para 21: applies only where the request is made by a person
  with parental responsibility for a data subject under 18 (in England), and complying would not be in
  the child's best interests (the DPO's judgement, given as the reason).
- Health data, DPA 2018 Sch 3 Part 2: the serious harm test (disclosure likely to cause serious harm to
  the physical or mental health of the data subject or another individual). A controller that is not a
  health professional, as the council is not, may rely on it only with the opinion of the appropriate
  health professional, obtained within the last six months (ICO right of access guidance, "Health
  data").
- Statements and records of special educational needs, DPA 2018 Sch 4 para 4: information whose
  disclosure the SEN enactments prohibit or restrict; the DPO names the restriction in the reason.
- Crime and taxation (Sch 2 Part 1 para 2), legal professional privilege (Sch 2 Part 4 para 19), social
  work and education data under the serious harm test (Sch 3 Parts 3 and 4): the DPO's judgement alone.
"""

from dataclasses import dataclass
from datetime import date

from cme_shared.refusal import Refusal

from .clock import add_months
from .requests import ActingAs

ADULT_AGE = 18  # Sch 3 Part 5 para 21(1): "an individual aged under 18"
HEALTH_OPINION_MONTHS = 6  # the health professional's opinion must be this recent
PARENTAL_RESPONSIBILITY = frozenset({ActingAs.PARENT, ActingAs.GUARDIAN})


class ExemptionRefused(Refusal):
    """The exemption's conditions are not met; `code` and `message` never hold personal data. `field`: the
    body's field at fault, if one is."""

    def __init__(self, code: str, message: str, status: int = 409, field: str | None = None) -> None:
        super().__init__(status, code, message, ["body", field] if field else None)
        self.field = field


@dataclass(frozen=True)
class ExemptionClaim:
    """What the DPO says when withholding a record, and the request facts the conditions turn on."""

    exemption: str
    acting_as: ActingAs
    subject_date_of_birth: date | None
    today: date
    health_professional_opinion_on: date | None = None
    health_professional: str | None = None


def _age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def check(claim: ExemptionClaim) -> None:
    """Nothing when the exemption may be applied; ExemptionRefused saying which condition fails."""
    if claim.exemption == "child_abuse_data":
        if claim.acting_as not in PARENTAL_RESPONSIBILITY:
            raise ExemptionRefused(
                "exemption_needs_parental_request",
                "the child abuse data exemption applies only to a request by a person with parental "
                "responsibility (DPA 2018 Sch 3 Part 5 para 21)")
        if claim.subject_date_of_birth is not None and _age_on(claim.subject_date_of_birth, claim.today) >= ADULT_AGE:
            raise ExemptionRefused(
                "exemption_subject_adult",
                "the child abuse data exemption applies only while the data subject is under 18 "
                "(DPA 2018 Sch 3 Part 5 para 21)")
    if claim.exemption == "health_serious_harm":
        opinion_on = claim.health_professional_opinion_on
        if opinion_on is None or not (claim.health_professional or "").strip():
            raise ExemptionRefused(
                "health_opinion_required",
                "the health data exemption needs the appropriate health professional's opinion that the "
                "serious harm test is met: give health_professional and health_professional_opinion_on "
                "(DPA 2018 Sch 3 Part 2)", status=422, field="health_professional_opinion_on")
        if opinion_on > claim.today:
            raise ExemptionRefused("health_opinion_in_future", "the opinion's date cannot be later than today",
                                   status=422, field="health_professional_opinion_on")
        if opinion_on < add_months(claim.today, -HEALTH_OPINION_MONTHS):
            raise ExemptionRefused(
                "health_opinion_too_old",
                "the health professional's opinion is more than six months old: ask for a new one "
                "(DPA 2018 Sch 3 Part 2)", field="health_professional_opinion_on")
