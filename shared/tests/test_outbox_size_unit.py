"""The relay's size check agrees with its producer and never under-counts what the broker is sent; and the
line between a row's own fault (quarantined after its attempts) and the platform's (waited out)."""

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    OutOfOrderSequenceNumber,
    RecordListTooLargeError,
    RequestTimedOutError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
)
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from hypothesis import given
from hypothesis import strategies as st

from cme_shared.messaging.outbox import is_row_fault, record_size, refusal_code

pytestmark = pytest.mark.unit

LIMIT = 1_048_576
HEADERS = [("event_id", b"0f1e2d3c-0000-4000-8000-000000000001"), ("event_type", b"ReferralOutcome"),
           ("content-type", b"application/json"), ("correlation_id", b"c-1")]


async def test_a_record_at_the_limit_is_taken_by_the_producer_and_one_byte_more_is_not():
    key = b"aggregate-1"
    length = LIMIT - record_size(key, b"", HEADERS) - 8
    while record_size(key, b"x" * length, HEADERS) < LIMIT:  # the value's length prefix grows with it
        length += 1
    value = b"x" * length
    assert record_size(key, value, HEADERS) == LIMIT
    producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1", max_request_size=LIMIT)  # never started
    try:
        producer._serialize(key, value, HEADERS)  # the producer takes it: the relay sends it
        with pytest.raises(MessageSizeTooLargeError):
            producer._serialize(key, value + b"x", HEADERS)
    finally:
        await producer.stop()
    assert record_size(key, value + b"x", HEADERS) > LIMIT  # the relay quarantines it instead


@given(key=st.none() | st.binary(max_size=300), value=st.binary(max_size=5000),
       headers=st.lists(st.tuples(st.text(max_size=40), st.binary(max_size=2000)), max_size=8))
def test_the_size_is_never_less_than_the_batch_the_broker_receives(key, value, headers):
    # The broker checks a whole record batch against message.max.bytes; a record sent alone is one batch.
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False, producer_id=1,
                                        producer_epoch=0, base_sequence=0, batch_size=2**30)
    builder.append(0, timestamp=1_767_225_600_000, key=key, value=value, headers=headers)
    assert len(builder.build()) <= record_size(key, value, headers)


def test_a_long_header_counts_as_much_as_the_payload():
    # The dead letters of SEC-01 carried their size in a header: it must be measured, not only the value.
    reasons = [("x-dlq-reasons", b"r" * 900_000)]
    assert record_size(None, b"{}", reasons) > 900_000


@pytest.mark.parametrize("error", [
    MessageSizeTooLargeError(), RecordListTooLargeError(), TypeError("header value must be bytes"),
])
def test_what_the_row_itself_causes_is_its_fault(error):
    assert is_row_fault(error)


@pytest.mark.parametrize("error", [
    KafkaConnectionError(), RequestTimedOutError(), KafkaTimeoutError(), NotLeaderForPartitionError(),
    UnknownTopicOrPartitionError(), TopicAuthorizationFailedError(),
    OutOfOrderSequenceNumber(),  # what the records after a refused one get: not theirs to answer for
    ConnectionError("broker away"), TimeoutError(),
])
def test_an_outage_or_a_cluster_problem_is_never_the_rows_fault(error):
    assert not is_row_fault(error)


def test_the_reason_names_the_error_type_never_its_message():
    assert refusal_code(ValueError("the payload was {'first_name': 'Ada'}")) == "refused:ValueError"
