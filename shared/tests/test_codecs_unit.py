"""Compressed batches inflate into bounded memory: a compression bomb is a batch that cannot be read (and so
goes to the dead-letter topic as it was on the log), never gigabytes held by a consumer."""

import gzip
import resource

import cramjam
import pytest
from aiokafka.codec import gzip_encode, lz4_encode, snappy_encode, zstd_encode
from aiokafka.errors import CorruptRecordException
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.memory_records import MemoryRecords

import cme_shared.messaging  # noqa: F401  (installs the bounded decoders)
from cme_shared.messaging.codecs import (
    MAX_INFLATED_BATCH_BYTES,
    InflatedTooLarge,
    gzip_decode,
    lz4_decode,
    snappy_decode,
    zstd_decode,
)

pytestmark = pytest.mark.unit

CODECS = {  # Kafka's compression type ids
    "gzip": (1, gzip_encode, gzip_decode),
    "snappy": (2, snappy_encode, snappy_decode),
    "lz4": (3, lz4_encode, lz4_decode),
    "zstd": (4, zstd_encode, zstd_decode),
}


def batch(compression: int, values: list[bytes]) -> bytes:
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=compression, is_transactional=False,
                                        producer_id=-1, producer_epoch=-1, base_sequence=-1, batch_size=1 << 30)
    for offset, value in enumerate(values):
        builder.append(offset, timestamp=None, key=None, value=value, headers=[])
    return bytes(builder.build())


@pytest.mark.parametrize("codec", CODECS)
def test_ordinary_batches_read_as_before(codec):
    compression, encode, decode = CODECS[codec]
    values = [b'{"referral_id": "r-%d", "details": "%s"}' % (i, b"x" * 300) for i in range(200)]
    records = list(MemoryRecords(batch(compression, values)).next_batch())
    assert [r.value for r in records] == values
    assert decode(encode(b"".join(values))) == b"".join(values)


@pytest.mark.parametrize("codec", CODECS)
def test_a_bomb_is_refused_without_inflating_it(codec):
    compression, encode, _ = CODECS[codec]
    bomb = batch(compression, [b"\x00" * (64 * 1024 * 1024)])  # compresses to a few KB at most
    assert len(bomb) < 4 * 1024 * 1024
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(InflatedTooLarge):
        list(MemoryRecords(bomb).next_batch())
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kb < 3 * MAX_INFLATED_BATCH_BYTES // 1024  # bounded by the limit, not the 64 MB inside


def test_garbage_is_corrupt_not_a_crash():
    for decode in (gzip_decode, snappy_decode, lz4_decode, zstd_decode):
        with pytest.raises(CorruptRecordException):
            decode(b"\x82SNAPPY\x00" + b"\xff" * 40)


def test_several_gzip_members_and_the_java_snappy_framing_are_read():
    assert gzip_decode(gzip.compress(b"one ") + gzip.compress(b"two")) == b"one two"
    framed = snappy_encode(b"y" * 100_000, xerial_compatible=True, xerial_blocksize=32 * 1024)
    assert snappy_decode(framed) == b"y" * 100_000
    assert cramjam  # the codec library is installed with the kit
