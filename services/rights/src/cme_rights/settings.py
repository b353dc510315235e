from typing import Annotated

from pydantic import IPvAnyNetwork, Field, SecretStr

from cme_shared.settings import ServiceSettings


class RightsSettings(ServiceSettings):
    service_name: str = "rights"
    http_port: int = 8004
    database_url: SecretStr = SecretStr("postgresql+asyncpg://cme_rights:cme_rights@127.0.0.1:5432/cme_rights")

    # Data collection (CME_COLLECTION_*). Every service named here must answer a DataCollectionRequest
    # before an access pack is whole; the identity index answers lookups; disclosure holds the recipients.
    collection_services: list[str] = ["intake", "casework", "disclosure"]
    lookup_service: str = "intake"
    recipients_service: str = "disclosure"
    # A service that has not answered in `collection_timeout_seconds` is asked again; after
    # `collection_max_attempts` asks it is recorded as not having answered.
    collection_timeout_seconds: float = 120.0
    collection_max_attempts: int = 4
    collection_poll_seconds: float = 2.0
    # SEC-18: the collected answers of a released request are deleted this long after its release (the
    # released pack keeps what the requester was given); the collection task looks every
    # `chunk_prune_interval_seconds`.
    chunk_retention_days: float = 30.0
    chunk_prune_interval_seconds: float = 3600.0
    # The same task counts the requests overdue and due within 7 days for /metrics this often
    # (adapters/backlog_metrics.py); the alert rules in deploy/monitoring expect a count at most a minute old.
    backlog_metrics_seconds: Annotated[float, Field(gt=0, le=60)] = 60.0

    # The printable pack's font (a Unicode TrueType font: names are not all Latin-1); without the file,
    # WeasyPrint uses fontconfig's DejaVu Sans or another sans-serif font.
    pdf_font_path: str | None = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    # SEC-25: the pack is printed in a separate process (WeasyPrint's layout would hold the event loop),
    # at most this long, once per released response (a draft's each time the DPO asks).
    pdf_timeout_seconds: float = 60.0

    # The public complaint form (POST /public/complaints, no token): each client network (an IPv4 address, an
    # IPv6 /64) may send `public_complaint_burst` complaints at once, then one every 60 / per_minute seconds.
    public_complaint_per_minute: Annotated[float, Field(gt=0)] = 2.0
    public_complaint_burst: Annotated[int, Field(ge=1)] = 5
    # Clients held at most (least recently seen dropped first), and all clients together a minute: beyond it
    # 429 `public_form_busy` whoever asks (cme_shared.http.throttle).
    public_complaint_max_clients: Annotated[int, Field(ge=1)] = 10_000
    public_complaint_global_per_minute: Annotated[float, Field(gt=0)] = 30.0
    # The proxies in front of rights (CME_TRUSTED_PROXIES, a JSON list of CIDRs): only a request whose TCP
    # peer is one of them has its X-Forwarded-For read. Empty: the peer is the client.
    trusted_proxies: list[IPvAnyNetwork] = Field(default_factory=list)
