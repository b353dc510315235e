"""Whatever arrives, what the kit says about it stays small: rejections, dead-letter headers and subject
access reply chunks all fit far inside one Kafka record (SEC-01), and no parser input can make the kit
raise anything but Unreadable (SEC-04)."""

import json
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cme_shared.contracts.categories import DataCategory
from cme_shared.contracts.referrals import Problem, Referral, ReferralOutcome, Status
from cme_shared.contracts.rights import (
    MAX_CHUNK_BYTES,
    DataCollectionRequest,
    DataItem,
    FactualRectification,
    collection_replies,
)
from cme_shared.messaging.consumer import (
    MAX_PROBLEMS,
    MAX_REASONS_HEADER_BYTES,
    Delivery,
    Unreadable,
    dead_letter_headers,
    json_kind_parser,
    json_model_parser,
)

pytestmark = pytest.mark.unit

KAFKA_DEFAULT_MAX_RECORD = 1_048_576


def delivery(value: bytes) -> Delivery:
    return Delivery(topic="t", partition=0, offset=0, key=None, value=value)


def unreadable(parse, value: bytes) -> Unreadable:
    with pytest.raises(Unreadable) as caught:
        parse(delivery(value))
    return caught.value


def test_a_document_of_forty_thousand_unknown_keys_gives_a_short_rejection():
    wide = ("{" + ",".join(f'"k{i}":0' for i in range(40_000)) + "}").encode()
    rejection = unreadable(json_model_parser(Referral), wide)

    assert len(rejection.problems) == MAX_PROBLEMS + 1
    assert rejection.problems[-1].code == "too_many_problems"
    assert "40006 in all" in rejection.problems[-1].message
    header = dict(dead_letter_headers([], "unreadable", rejection.problems, "intake.referrals"))["x-dlq-reasons"]
    assert len(header) <= MAX_REASONS_HEADER_BYTES
    outcome = ReferralOutcome(referral_id=None, source_org_id=None, status=Status.REJECTED,
                              errors=rejection.problems, processed_at=datetime.now(UTC))
    assert len(outcome.model_dump_json()) < 16_384


def test_huge_field_names_are_cut_in_what_is_said_about_them():
    rejection = unreadable(json_model_parser(Referral), ('{"' + "x" * 200_000 + '": 1}').encode())
    assert all(len(json.dumps(p.model_dump())) < 2_000 for p in rejection.problems)


def test_the_reasons_header_lists_what_fits_and_says_the_rest_was_left_off():
    problems = [Problem(loc=["f" * 64] * 12, code="c", message="m" * 300) for _ in range(20)]
    header = json.loads(dead_letter_headers([], "unreadable", problems, "c")[1][1])
    assert len(json.dumps(header).encode()) <= MAX_REASONS_HEADER_BYTES
    assert header[-1]["code"] == "too_many_problems" and len(header) < 20


@pytest.mark.parametrize("value", [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"kind":' * 5_000 + b"1" + b"}" * 5_000,
    b'{"kind": "factual_rectification", "x": ' + b"[" * 300 + b"]" * 300 + b"}",
])
def test_deep_documents_are_unreadable_not_a_recursion_error(value):
    for parse in (json_kind_parser({"factual_rectification": FactualRectification}), json_model_parser(Referral)):
        assert {p.code for p in unreadable(parse, value).problems} == {"json_too_deep"}


def test_a_record_larger_than_any_we_accept_is_unreadable():
    assert unreadable(json_model_parser(Referral), b" " * (KAFKA_DEFAULT_MAX_RECORD + 1)).problems[0].code == "too_large"


def test_other_kinds_and_other_shapes_are_someone_elses_business():
    parse = json_kind_parser({"data_collection": DataCollectionRequest})
    for value in (b"[1, 2]", b'{"kind": 3}', b'{"kind": "subject_restricted"}', b"null", b'"text"'):
        assert parse(delivery(value)) is None


@given(st.binary(max_size=2_000) | st.text(max_size=500).map(str.encode)
       | st.recursive(st.none() | st.integers() | st.text(max_size=20),
                      lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                      max_leaves=40).map(lambda doc: json.dumps({"kind": "data_collection", "d": doc}).encode()))
def test_no_input_makes_a_parser_raise_anything_but_unreadable(value):
    for parse in (json_kind_parser({"data_collection": DataCollectionRequest}), json_model_parser(Referral)):
        try:
            parse(delivery(value))
        except Unreadable as rejection:
            assert 1 <= len(rejection.problems) <= MAX_PROBLEMS + 1


def note(text: str) -> DataItem:
    return DataItem(service="casework", record_type="note", record_id=str(uuid.uuid4()), subject_id=uuid.uuid4(),
                    category=DataCategory.EDUCATION,
                    source="an officer", recorded_at=datetime.now(UTC), data={"text": text})


def test_reply_chunks_are_bounded_by_bytes_not_only_by_count():
    """105 notes of 10,000 characters were one 1,076,739-byte chunk; 200 of two-byte characters were 4 MB."""
    items = [note("a" * 10_000) for _ in range(105)] + [note("é" * 10_000) for _ in range(200)]
    replies = collection_replies("casework", uuid.uuid4(), items)

    assert all(len(r.model_dump_json().encode()) <= MAX_CHUNK_BYTES + 4_096 for r in replies)
    assert [item for r in replies for item in r.items] == items  # all of them, in order
    assert [r.chunk for r in replies] == list(range(len(replies)))
    assert replies[-1].last and replies[-1].total_items == len(items)
    assert not any(r.last for r in replies[:-1]) and all(r.total_items is None for r in replies[:-1])


def test_an_item_larger_than_a_chunk_travels_alone():
    big, small = note("b" * (MAX_CHUNK_BYTES + 10)), note("s")
    replies = collection_replies("casework", uuid.uuid4(), [small, big, small])
    assert [len(r.items) for r in replies] == [1, 1, 1]


@pytest.mark.parametrize("sent", ["Amelia Okonkwo 2015-04-03", "Amelia-Okonkwo-2015-04-03", "tel-020-7946-0958", "x" * 65, "a\nb", "é", "", "-leading", "a" * 10_000])
def test_a_correlation_id_that_does_not_look_like_one_is_replaced(sent):
    from cme_shared import correlation

    bound = correlation.bind(sent)
    try:
        assert bound != sent and uuid.UUID(bound)
    finally:
        correlation.clear()


@pytest.mark.parametrize("sent", [str(uuid.uuid4()), "req-42", "partner.batch_7"])
def test_a_correlation_id_of_the_usual_shape_is_kept(sent):
    from cme_shared import correlation

    try:
        assert correlation.bind(sent) == sent
    finally:
        correlation.clear()
