"""Prometheus metrics shared by the kit; services add their own beside them."""

from prometheus_client import Counter

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
