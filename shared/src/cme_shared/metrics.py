"""Prometheus metrics shared by the kit; services add their own beside them."""

from prometheus_client import Counter, Gauge, Histogram

MESSAGES = Counter(
    "cme_consumed_messages_total", "Kafka records settled by a reliable consumer", ["consumer", "outcome"]
)
DEAD_LETTERS = Counter(
    "cme_dead_letters_total", "Records dead-lettered by a reliable consumer, by kind and rule code",
    ["consumer", "kind", "code"],
)
# How long a reliable consumer takes to settle one record (or one batch, outcome "batch"), handler and commit
# included: deploy/monitoring's p99 panel and CmeHandlerSlow read it. messaging/consumer.py does not observe it yet
# (issue 17): until it does, the series stays empty.
HANDLER_SECONDS = Histogram(
    "cme_handler_duration_seconds", "Time to settle a record (or a batch) in a reliable consumer, by outcome",
    ["consumer", "outcome"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
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
# The kit's pruning of its own copies (messaging/pruning.py): published outbox rows, processed inbox rows.
KIT_PRUNED = Counter("cme_kit_pruned_rows_total", "Rows the kit's pruner deleted, by table", ["table"])

# The kit's consumers' (messaging/health.py), refreshed by each consumer's watchdog every few seconds.
# Labels are the consumer's route name, its group, the topic and the partition number: never a value.
_PARTITION = ["consumer", "group", "topic", "partition"]
CONSUMER_LAG = Gauge(
    "cme_consumer_lag_records", "Records on an assigned partition after the offset the consumer has settled up to",
    _PARTITION,
)
CONSUMER_POSITION = Gauge(
    "cme_consumer_position_offset", "The offset each assigned partition waits at (the next one to settle)", _PARTITION
)
CONSUMER_LAST_PROGRESS = Gauge(
    "cme_consumer_last_progress_timestamp_seconds",
    "When the partition last moved on, or was last seen with nothing waiting (Unix time)", _PARTITION,
)
CONSUMER_STALLED = Gauge(
    "cme_consumer_stalled",
    "1 while records wait on the partition and it has not moved for CME_CONSUMER_STALL_SECONDS, or a batch "
    "there can be neither decoded nor dead-lettered", _PARTITION,
)
CONSUMER_FETCH_ERRORS = Counter(
    "cme_consumer_fetch_errors_total", "Failed fetches or batch decodes, by exception type",
    ["consumer", "group", "topic", "error_type"],
)
