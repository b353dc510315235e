from pathlib import Path

from pydantic import SecretStr

from cme_shared.settings import ServiceSettings


class CaseworkSettings(ServiceSettings):
    service_name: str = "casework"
    http_port: int = 8002
    database_url: SecretStr = SecretStr("postgresql+asyncpg://cme_casework:cme_casework@127.0.0.1:5432/cme_casework")
    # DOMAIN section 2, configurable (typical LA practice): first enquiries within 10 school days of the
    # referral; a review every 20 school days.
    first_enquiries_school_days: int = 10
    review_school_days: int = 20
    # Each borough's terms, half terms and training days (JSON; see adapters/term_dates.json for the
    # shape). Unset: the bundled 2026/27 defaults, which must be checked against the councils' own.
    term_dates_file: Path | None = None
