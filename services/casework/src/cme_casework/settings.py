from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from cme_shared.contracts.referrals import Borough
from cme_shared.settings import ServiceSettings

Days = Annotated[int, Field(ge=0, le=200)]


class BoroughClockSettings(BaseModel):
    """One borough's own deadlines (statutory review 2026-12, section 3 item 3); unset: the service's."""

    model_config = ConfigDict(extra="forbid")

    first_enquiries_school_days: Days | None = None
    review_school_days: Annotated[int, Field(ge=1, le=200)] | None = None
    escalation_working_days: Annotated[int, Field(ge=0, le=10)] | None = None


class CaseworkSettings(ServiceSettings):
    service_name: str = "casework"
    http_port: int = 8002
    database_url: SecretStr = SecretStr("postgresql+asyncpg://cme_casework:cme_casework@127.0.0.1:5432/cme_casework")
    # DOMAIN section 2, configurable (typical LA practice): first enquiries within 10 school days of the
    # referral; a review every 20 school days; a high-risk child escalated the same working day (0).
    first_enquiries_school_days: Days = 10
    review_school_days: Annotated[int, Field(ge=1, le=200)] = 20
    escalation_working_days: Annotated[int, Field(ge=0, le=10)] = 0
    # Per borough, e.g. CME_BOROUGH_CLOCKS='{"kensington_and_chelsea": {"first_enquiries_school_days": 5}}'.
    borough_clocks: dict[Borough, BoroughClockSettings] = {}
    # LOCAL RULE from DOMAIN's "normally": a ground (a) deletion naming the school and start date opens no
    # case if the child misses at most this many school days before the start (domain/opening.py).
    ground_a_start_gap_school_days: Days = 5
    # LOCAL RULE (no statutory number): agencies asked before a case may close as untraced.
    untraced_min_agencies: Annotated[int, Field(ge=1, le=10)] = 3
    # Each borough's terms, half terms and training days (JSON; see adapters/term_dates.json for the
    # shape). Unset: the bundled 2026/27 and 2027/28 defaults, which must be checked against the councils'.
    term_dates_file: Path | None = None
    # Warn (log line, metric) this many days before a borough's term dates run out.
    term_dates_warning_days: Annotated[int, Field(ge=0, le=366)] = 60
    # How often the overdue-cases gauge is counted again from the database (adapters/backlog_metrics.py);
    # the alert rules in deploy/monitoring expect a count at most a minute old.
    backlog_metrics_seconds: Annotated[float, Field(gt=0, le=60)] = 60.0
    # Elective home education (domain/ehe.py). LOCAL RULES in working days (no statutory number): the first
    # informal enquiry after a notice, the parent's response, the assessment, the s437 and s438 notices; and
    # the review of a suitable arrangement (months; 2019 guidance: normally annually).
    ehe_enquiry_working_days: Days = 10
    ehe_response_working_days: Days = 15
    ehe_assessment_working_days: Days = 10
    ehe_s437_working_days: Days = 10
    ehe_s438_working_days: Days = 10
    ehe_review_months: Annotated[int, Field(ge=1, le=36)] = 12
    # The children-not-in-school register (Education Act 1996 ss436B-436G, not commenced): off, nothing of it
    # is reachable or written; CME_CASEWORK_CNIS_REGISTER=true turns it on.
    casework_cnis_register: bool = False
