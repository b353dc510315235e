"""Prometheus metrics shared by the kit; services add their own beside them."""

from prometheus_client import Counter, Gauge

MESSAGES = Counter(
    "cme_consumed_messages_total", "Kafka records settled by a reliable consumer", ["consumer", "outcome"]
)
DEAD_LETTERS = Counter(
    "cme_dead_letters_total", "Records dead-lettered by a reliable consumer, by kind and rule code",
    ["consumer", "kind", "code"],
)
HTTP_REQUESTS = Counter(
    "cme_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)

# The outbox relay's. The gauges are refreshed by the relay's loop every few seconds, not per scrape.
OUTBOX_PUBLISHED = Counter("cme_outbox_published_total", "Outbox rows published and acknowledged by the broker")
OUTBOX_QUARANTINES = Counter(
    "cme_outbox_quarantined_total", "Outbox rows the relay quarantined, by reason code", ["reason"]
)
OUTBOX_QUARANTINED = Gauge(
    "cme_outbox_quarantined_rows", "Outbox rows quarantined now: kept, not sent, until an operator releases them"
)
OUTBOX_UNPUBLISHED = Gauge("cme_outbox_unpublished_rows", "Outbox rows waiting to be sent (not quarantined)")
OUTBOX_OLDEST_AGE = Gauge(
    "cme_outbox_oldest_unpublished_age_seconds", "Age of the oldest outbox row waiting to be sent; 0 when none waits"
)
