"""Kafka record codecs that refuse compression bombs.

The broker bounds a record batch as it travels (about 1 MiB, compressed), never what it inflates to: a zstd
batch of 6.5 KB can hold a 200 MB value, and ten of them in one fetch held 3 GB of memory in a test, enough to
kill a service on every restart (it reads the same offsets again). aiokafka inflates a batch whole with
cramjam and no limit; these decoders take the same input and inflate into a buffer of bounded size, raising
`InflatedTooLarge` past it. aiokafka raises that while it reads the batch, so the kit's fetch guard
(`fetching.py`) dead-letters the batch as it was on the log (compressed, so small) and moves past it.

`install()` puts them in place of aiokafka's decoders in its record readers (the compiled ones and the pure
Python ones). No batch a partner's client builds comes near the limit: librdkafka and the Java client cap a
batch at 1 MB before compression by default.
"""

import io
import struct
import zlib
from collections.abc import Callable

import cramjam
from aiokafka.errors import CorruptRecordException

# What one record batch may inflate to: four times Kafka's default maximum record, and far above any batch
# a producer builds by default; a record over 1 MiB is refused by the kit's parsers anyway.
MAX_INFLATED_BATCH_BYTES = 4 * 1024 * 1024

_XERIAL_HEADER = b"\x82SNAPPY\x00"


class InflatedTooLarge(CorruptRecordException):
    """A compressed batch inflates past MAX_INFLATED_BATCH_BYTES: treated as a batch that cannot be read."""

    def __init__(self, codec: str) -> None:
        super().__init__(f"{codec} batch inflates past {MAX_INFLATED_BATCH_BYTES} bytes")


def _into(codec: str, decompress_into: Callable[[bytes, bytearray], int], payload: bytes, limit: int) -> bytes:
    out = bytearray(limit + 1)
    try:
        written = decompress_into(bytes(payload), out)
    except cramjam.DecompressionError as exc:
        if "buffer" in str(exc) or "smaller than required" in str(exc):
            raise InflatedTooLarge(codec) from None
        raise CorruptRecordException(f"{codec} batch cannot be decompressed") from None
    if written > limit:
        raise InflatedTooLarge(codec)
    return bytes(out[:written])


def zstd_decode(payload: bytes, limit: int = MAX_INFLATED_BATCH_BYTES) -> bytes:
    return _into("zstd", cramjam.zstd.decompress_into, payload, limit)


def lz4_decode(payload: bytes, limit: int = MAX_INFLATED_BATCH_BYTES) -> bytes:
    return _into("lz4", cramjam.lz4.decompress_into, payload, limit)


def snappy_decode(payload: bytes, limit: int = MAX_INFLATED_BATCH_BYTES) -> bytes:
    data = bytes(payload)
    if len(data) <= 16 or not data.startswith(_XERIAL_HEADER):  # raw snappy, as librdkafka sends it
        return _into("snappy", cramjam.snappy.decompress_raw_into, data, limit)
    # The Java client's xerial framing: a 16-byte header, then blocks of (length, raw snappy).
    out = io.BytesIO()
    cursor = 16
    while cursor < len(data):
        if len(data) - cursor < 4:
            raise CorruptRecordException("snappy batch cannot be decompressed")
        (block_size,) = struct.unpack_from("!i", data, cursor)
        cursor += 4
        if block_size < 0 or cursor + block_size > len(data):
            raise CorruptRecordException("snappy batch cannot be decompressed")
        out.write(_into("snappy", cramjam.snappy.decompress_raw_into, data[cursor:cursor + block_size],
                        limit - out.tell()))
        cursor += block_size
    return out.getvalue()


def gzip_decode(payload: bytes, limit: int = MAX_INFLATED_BATCH_BYTES) -> bytes:
    data, out = bytes(payload), bytearray()
    while data:  # a gzip stream may hold several members, one after another
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            out += inflater.decompress(data, limit + 1 - len(out))
        except zlib.error:
            raise CorruptRecordException("gzip batch cannot be decompressed") from None
        if len(out) > limit or inflater.unconsumed_tail:
            raise InflatedTooLarge("gzip")
        data = inflater.unused_data
    return bytes(out)


_DECODERS = {"gzip_decode": gzip_decode, "snappy_decode": snappy_decode, "lz4_decode": lz4_decode,
             "zstd_decode": zstd_decode}


def install() -> None:
    """Use these decoders wherever aiokafka reads record batches (idempotent)."""
    import aiokafka.record.default_records as default_records
    import aiokafka.record.legacy_records as legacy_records

    modules = [default_records, legacy_records]
    try:
        from aiokafka.record._crecords import default_records as c_default_records
        from aiokafka.record._crecords import legacy_records as c_legacy_records
        modules += [c_default_records, c_legacy_records]
    except ImportError:  # aiokafka built without its C extensions: the pure Python readers only
        pass
    for module in modules:
        for name, decoder in _DECODERS.items():
            if hasattr(module, name):
                setattr(module, name, decoder)
