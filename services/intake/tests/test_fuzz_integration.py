"""Fuzzing partner messages on the real broker and database (issue 11, build item 6).

Hypothesis generates thousands of partner records from the repository's sample referrals: fields dropped,
mistyped and unknown; huge strings and lists; documents thousands of keys wide or nested far deeper than
the kit's JSON limit; odd unicode (NUL, lone surrogates escaped in JSON, bidi controls, runs of combining
marks); bytes that are not UTF-8; duplicate keys; whitespace padding; tombstones; partner headers, some
without a value. librdkafka producers send them as partners' clients would, with every codec (none, gzip,
snappy, lz4, zstd), to intake running in-process on its own database, with casework beside it.

What must hold for every one of them, whatever it is: exactly one outcome, keyed like the record; a reject
is in the DLQ byte for byte (value, key, the partner's headers) with reasons of at most 8 KiB, and its
outcome stays small; nothing is left unsent in intake's outbox; and an ordinary referral sent afterwards
is accepted and becomes a case an officer can see.

Size: `CME_FUZZ_MESSAGES` (default 3,000: half a minute alone on two cores; 20,000 for a long run). The
run's figures are printed at the end; `CME_FUZZ_SEED` replays a run (the seed is printed too).
"""

import dataclasses
import json
import os
import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, Phase, assume, given, seed, settings
from hypothesis import strategies as st

import cme_casework
from cme_casework.app import create_app as create_casework
from cme_casework.settings import CaseworkSettings
from cme_shared.contracts import topics
from cme_shared.contracts.referrals import Referral
from cme_shared.messaging.consumer import (
    MAX_PROBLEMS,
    MAX_REASONS_HEADER_BYTES,
    Delivery,
    Unreadable,
    json_model_parser,
)
from cme_shared.testing.documents import parent_of, paths
from cme_shared.testing.fixtures import running, service_settings
from cme_shared.testing.infra import SAMPLE_REFERRALS
from cme_shared.testing.kafka import eventually
from cme_shared.testing.partners import CODECS, PartnerRecord, lag, ordinary_referral, publish_async

MESSAGES = int(os.environ.get("CME_FUZZ_MESSAGES", "3000"))
SEED = int(os.environ.get("CME_FUZZ_SEED") or (0 if os.environ.get("CI") else random.randrange(2**32)))
# A record's value and headers together: its dead letter adds at most the reasons (8 KiB) and a few
# hundred bytes, and must still fit in one Kafka record (1 MiB).
LARGEST_RECORD = 900_000
# An outcome lists at most 21 bounded problems: far below this whatever arrived.
LARGEST_OUTCOME = 64 * 1024

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300 + MESSAGES // 5)]

BASES = [json.loads(p.read_bytes()) for p in sorted(SAMPLE_REFERRALS.glob("accepted-*.json"))]
parse = json_model_parser(Referral)

# Characters that have broken parsers, databases, logs and displays: C0 and C1 controls, NUL, bidi
# controls and isolates, zero-width ones, combining marks, a BOM, non-characters, lone surrogates (JSON
# escapes them; UTF-8 cannot hold them), astral and right-to-left text, and JSON's own escapes.
ODD = ["\x00", "\x01", "\x1b", "\x7f", "\x85", "\xa0", "\xe9", "e\u0301", "\u0301", "\u0338", "\u034f",
       "\u200b", "\u200d", "\u200e", "\u200f", "\u202a", "\u202e", "\u2066", "\u2069", "\u2028", "\ufeff",
       "\ufffd", "\uffff", "\U0001f600", "\U0001f1ec\U0001f1e7", "\ud800", "\udfff", "\u0644\u0627", "\\", '"',
       "\n", "\t"]
odd_text = st.lists(st.sampled_from(ODD) | st.text(max_size=2), max_size=12).map("".join)
combining_run = st.integers(10, 5_000).map(lambda n: "a" + "\u0301" * n)
leaf = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=20))
json_values = st.recursive(
    leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=6,
)


@st.composite
def huge_text(draw: st.DrawFn) -> str:
    """A string of some hundreds of kilobytes once in JSON (made by repetition: hypothesis draws a unit)."""
    unit = draw(st.sampled_from(ODD) | st.text(min_size=1, max_size=4))
    budget = draw(st.integers(1_000, 250_000))
    return unit * max(1, budget // max(1, len(json.dumps(unit)) - 2))


@st.composite
def huge_list(draw: st.DrawFn) -> list[Any]:
    return [draw(leaf)] * draw(st.integers(21, 200) | st.integers(1_000, 30_000))


@st.composite
def wide(draw: st.DrawFn) -> dict[str, Any]:
    """Unknown keys by the hundred or thousand (SEC-01's 130 KB referral had 13,000)."""
    prefix = draw(st.just("k") | odd_text)
    value = draw(leaf)
    return {f"{prefix}{i}": value for i in range(draw(st.integers(21, 200) | st.integers(1_000, 15_000)))}


@st.composite
def deep(draw: st.DrawFn) -> str:
    """JSON nested around the kit's limit of 200 or far beyond it. Text, not a Python value: json.dumps
    itself recurses and could not write it."""
    depth = draw(st.integers(1, 20) | st.integers(185, 215) | st.sampled_from([1_000, 10_000, 50_000]))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}"), ('{"kind":"x","v":[', "]}")]))
    return opener * depth + json.dumps(draw(leaf)) + closer * depth


# Small changes are common, big ones rarer (each costs the broker and the database hundreds of KB).
ACTIONS = ["drop"] * 3 + ["replace"] * 3 + ["null"] * 2 + ["unicode"] * 4 + ["wrong_type"] * 2 + ["extra"] * 2 + [
    "combining", "huge_text", "huge_list", "wide", "deep"]


@st.composite
def mutated(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, str]]:
    """A sample referral with 0-3 changes; deep values are left as markers, with their JSON text aside."""
    document = json.loads(json.dumps(draw(st.sampled_from(BASES))))
    fragments: dict[str, str] = {}
    if draw(st.booleans()):  # a fresh referral id half the time; otherwise duplicates happen too
        document["referral_id"] = draw(st.text(min_size=1, max_size=70) | odd_text)
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(paths(document)))
        parent, last = parent_of(document, path), path[-1]
        action = draw(st.sampled_from(ACTIONS))
        if action == "drop":
            del parent[last]
        elif action == "replace":
            parent[last] = draw(json_values)
        elif action == "null":
            parent[last] = None
        elif action == "unicode":  # often still a valid referral: names, details, addresses in odd text
            parent[last] = draw(odd_text)
        elif action == "combining":
            parent[last] = draw(combining_run)
        elif action == "wrong_type":
            value = parent[last]
            parent[last] = ({"a": value} if not isinstance(value, dict) else [value]) if draw(st.booleans()) \
                else draw(st.sampled_from([0, -1, 1.5, True, "1", [], {}, 10**40]))
        elif action == "huge_text":
            parent[last] = draw(huge_text())
        elif action == "huge_list":
            parent[last] = draw(huge_list())
        elif action == "deep":
            marker = f"@@deep-{len(fragments)}@@"
            fragments[marker] = draw(deep())
            parent[last] = marker
        elif action == "wide":
            target = parent[last] if isinstance(parent[last], dict) else document
            target.update(draw(wide()))
        elif isinstance(parent, dict):  # extra: one unknown key
            parent[draw(st.text(min_size=1, max_size=12) | odd_text)] = draw(json_values)
    return document, fragments


CORRUPTIONS = ["none"] * 12 + ["pad", "pad", "pad_not_json", "duplicate_key", "duplicate_key", "truncate",
                                "insert", "not_utf8", "not_utf8", "not_an_object", "binary", "empty", "tombstone"]
NOT_UTF8 = [b"\xff", b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\xe2\x82"]


@st.composite
def value_bytes(draw: st.DrawFn) -> bytes | None:
    document, fragments = draw(mutated())
    text = json.dumps(document, ensure_ascii=draw(st.booleans()),
                      separators=draw(st.sampled_from([None, (",", ":"), (" , ", " :\t")])),
                      indent=draw(st.sampled_from([None, None, None, 2, "\t"])))
    for marker, fragment in fragments.items():
        text = text.replace(json.dumps(marker), fragment)
    encoding = draw(st.sampled_from(["utf-8"] * 10 + ["utf-8-sig", "utf-16-le", "latin-1", "cp1252"]))
    raw = text.encode(encoding, errors="surrogatepass" if encoding.startswith("utf") else "replace")
    corruption = draw(st.sampled_from(CORRUPTIONS))
    if corruption == "pad":  # JSON allows whitespace around the value: still the same referral
        pad = draw(st.text(alphabet=" \t\r\n", min_size=1, max_size=8)).encode()
        raw = pad * draw(st.integers(1, 20_000)) + raw + pad * draw(st.integers(0, 50))
    elif corruption == "pad_not_json":  # whitespace JSON does not allow
        raw = draw(st.sampled_from(["\xa0", "\u3000", "\x0c", "\x0b", "\ufeff"])).encode() + raw
    elif corruption == "duplicate_key":
        member = json.dumps(draw(st.sampled_from(["referral_id", "schema_version", "source", "child", "x"]))) + ":" \
            + json.dumps(draw(json_values))
        if draw(st.booleans()):
            raw = raw.replace(b"{", b"{" + member.encode() + b",", 1)
        else:
            at = raw.rfind(b"}")
            raw = raw[:at] + b"," + member.encode() + raw[at:] if at > 0 else raw
    elif corruption == "truncate":
        raw = raw[: draw(st.integers(0, max(0, len(raw) - 1)))]
    elif corruption == "insert":
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.binary(min_size=1, max_size=8)) + raw[at:]
    elif corruption == "not_utf8":
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.sampled_from(NOT_UTF8)) + raw[at:]
    elif corruption == "not_an_object":
        raw = json.dumps(draw(json_values)).encode()
    elif corruption == "binary":
        raw = draw(st.binary(max_size=256))
    elif corruption == "empty":
        raw = b""
    elif corruption == "tombstone":
        return None
    return raw


HEADER_NAMES = ["event_id", "content-type", "traceparent", "correlation_id", "x-partner-batch", "x-dlq-reasons",
                "\xe9t\xe9", ""]
# Header names beyond the usual ones, and event ids that are not UUIDs: a long one, one with a NUL (the inbox
# keys our own events by it). librdkafka takes header names as C strings (a NUL ends them), so names holding a
# NUL are sent by aiokafka in shared/tests/test_dead_letter_exact_integration.py instead.
# Text only as UTF-8 can carry it (a lone surrogate in a header name crashed librdkafka's Python binding).
header_names = st.sampled_from(HEADER_NAMES) | st.text(st.characters(codec="utf-8", exclude_characters="\x00"),
                                                       min_size=1, max_size=40)
headers = st.lists(st.tuples(header_names,
                             st.none() | st.binary(max_size=64)
                             | st.sampled_from([b"application/json", b"\xff\xfe", b"a\x00", b"9" * 3_000])),
                   max_size=3)


@st.composite
def partner_record(draw: st.DrawFn) -> PartnerRecord:
    record = PartnerRecord(value=draw(value_bytes()), headers=draw(headers))
    assume(size_of(record) <= LARGEST_RECORD)
    return record


def size_of(record: PartnerRecord) -> int:
    return len(record.value or b"") + sum(len(name) + len(value or b"") for name, value in record.headers)


def generate(count: int, run_seed: int) -> list[PartnerRecord]:
    """`count` records drawn by hypothesis (one broker round per example would take hours), each given a
    unique key so that its outcome and dead letter can be found, and the codecs in turn (hypothesis would
    favour the first)."""
    drawn: list[PartnerRecord] = []

    @seed(run_seed)
    @settings(max_examples=count, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(partner_record())
    def collect(record: PartnerRecord) -> None:
        drawn.append(record)

    collect()
    return [dataclasses.replace(record, key=f"fuzz-{i}".encode(), compression=CODECS[i % len(CODECS)])
            for i, record in enumerate(drawn)]


def understood(value: bytes | None) -> Referral | None:
    """What the contract makes of a value (None: it must be rejected), by the kit's own parser."""
    try:
        return parse(Delivery(topic="", partition=0, offset=0, key=None, value=value or b""))
    except Unreadable:
        return None


def same_value(sent: bytes | None, kept: bytes | None) -> bool:
    """A tombstone has no bytes: its dead letter may keep it as none or as empty, both are exact."""
    return (sent or b"") == (kept or b"")


def first_reason(letter: Any) -> str:
    reasons = json.loads(dict(letter.headers).get("x-dlq-reasons") or b"[]")
    return reasons[0]["code"] if reasons else "none"


@pytest_asyncio.fixture
async def casework(databases, infra, namespace) -> AsyncIterator[httpx.AsyncClient]:
    """Casework in the same process, on its own database: what intake accepts must not stop it either."""
    url = await databases.create("casework", Path(cme_casework.__file__).parent / "migrations")
    settings = service_settings(CaseworkSettings, infra, namespace, url)
    async with running(create_casework(settings)) as client:
        yield client


def dead_letter_problems(sent: PartnerRecord, letter: Any, outcome: dict[str, Any]) -> list[tuple[str, str]]:
    """What is wrong with one reject's dead letter and outcome, as (promise broken, detail): none if all holds."""
    wrong = []
    if outcome["status"] != "rejected" or not outcome["errors"]:
        wrong.append(("reject not answered as rejected", f"{outcome['status']}, errors {outcome['errors'][:2]}"))
    if len(outcome["errors"]) > MAX_PROBLEMS + 1:
        wrong.append(("outcome not bounded", f"{len(outcome['errors'])} problems"))
    if letter is None:
        return [*wrong, ("no dead letter", "")]
    if not same_value(sent.value, letter.value):
        wrong.append(("dead letter value not byte for byte", f"{len(letter.value or b'')} bytes kept"))
    kept = list(letter.headers)
    original = kept[: len(sent.headers)]
    if original != sent.headers:  # in order, names and values; a header without a value stays so
        wrong.append(("partner headers not kept as sent", f"sent {sent.headers!r}, kept {original!r}"))
    ours = dict(kept[len(sent.headers):])
    reasons = ours.get("x-dlq-reasons", b"")
    if not reasons or len(reasons) > MAX_REASONS_HEADER_BYTES:
        wrong.append(("x-dlq-reasons missing or over 8 KiB", f"{len(reasons)} bytes"))
    else:
        listed = json.loads(reasons)
        # The header lists the outcome's problems, or as many as fit in 8 KiB and then says so.
        if listed != outcome["errors"] and not (
                listed[-1]["code"] == "too_many_problems" and listed[:-1] == outcome["errors"][: len(listed) - 1]):
            wrong.append(("x-dlq-reasons do not list the outcome's errors", f"{[p['code'] for p in listed][:5]}"))
    return wrong


async def until_done(reader: Any, done: Any, *, idle: float = 60.0) -> str | None:
    """Read until `done(records)`; None then, or why not: nothing new arrived for `idle` seconds (a stalled
    consumer or relay is found within a minute, however long the run)."""
    seen, progressed = len(reader.records), time.monotonic()
    while not done(reader.records):
        await reader.settle(0.5)
        if len(reader.records) > seen:
            seen, progressed = len(reader.records), time.monotonic()
        elif time.monotonic() - progressed > idle:
            return f"{reader.topic}: nothing new for {idle:.0f}s, {seen} records seen"
    return None


async def test_thousands_of_partner_messages_on_every_codec_each_get_one_outcome_and_the_platform_flows_on(
    intake, casework, capsys
):
    started = time.monotonic()
    records = generate(MESSAGES, SEED)
    assert len(records) >= MESSAGES * 0.9, len(records)
    expected = [understood(record.value) for record in records]
    rejects = sum(1 for referral in expected if referral is None)
    generated = time.monotonic()
    topic = intake.names(topics.REFERRALS)
    async with intake.reader(topics.REFERRAL_OUTCOMES) as outcomes, \
            intake.reader(topics.dlq(topics.REFERRALS)) as dead_letters:
        await publish_async(intake.infra.kafka, topic, records)
        published = time.monotonic()
        stalled = await until_done(outcomes, lambda rs: len(rs) >= len(records))
        answered = time.monotonic()
        if stalled is None:
            # Intake is still running: a partner's ordinary referral after all of them is accepted.
            await publish_async(intake.infra.kafka, topic, [PartnerRecord(
                json.dumps(ordinary_referral("after-the-fuzz")).encode(), key=b"after", compression="zstd")])
            stalled = await until_done(outcomes, lambda rs: any(r.key == b"after" for r in rs), idle=30)
        stalled = stalled or await until_done(dead_letters, lambda rs: len(rs) >= rejects, idle=30)
        await outcomes.settle(1.0)
        await dead_letters.settle(0.5)

    outcome = {r.key: json.loads(r.value) for r in outcomes.records}
    outcomes_per_key = Counter(r.key for r in outcomes.records)
    letters_per_key = Counter(r.key for r in dead_letters.records)
    letter = {r.key: r for r in dead_letters.records}
    wrong: list[tuple[str, str]] = []
    for i, (record, referral) in enumerate(zip(records, expected, strict=True)):
        answer = outcome.get(record.key)
        if answer is None:
            problems = [("no outcome", "")]
        elif outcomes_per_key[record.key] > 1 or letters_per_key[record.key] > 1:
            problems = [("more than one outcome or dead letter",
                         f"{outcomes_per_key[record.key]} outcomes, {letters_per_key[record.key]} dead letters")]
        elif referral is None:
            problems = dead_letter_problems(record, letter.get(record.key), answer)
        elif answer["status"] not in ("accepted", "duplicate") or answer["errors"]:
            problems = [(f"a valid referral answered {answer['status']}", str([e["code"] for e in answer["errors"]][:5]))]
        elif record.key in letter:
            problems = [("a valid referral dead-lettered", "")]
        else:
            problems = []
        where = f"#{i} ({record.compression}, {size_of(record):,} bytes, {(record.value or b'')[:60]!r})"
        wrong += [(promise, f"{where}: {detail}") for promise, detail in problems]
    strangers = set(outcome) - {record.key for record in records} - {b"after"}
    largest_outcome = max((len(r.value) for r in outcomes.records), default=0)

    case: dict[str, Any] | None = None
    if outcome.get(b"after", {}).get("status") == "accepted":
        child, officer = outcome[b"after"]["child_subject_id"], intake.officer("westminster")

        async def case_visible() -> list:
            response = await casework.get("/cases", params={"child_subject_id": child}, headers=officer)
            assert response.status_code == 200, response.text
            return response.json()

        [case] = await eventually(case_visible, timeout=60)
    finished = time.monotonic()

    statuses = Counter(answer["status"] for key, answer in outcome.items() if key != b"after")
    codes = Counter(first_reason(r) for r in dead_letters.records)
    figures = "\n".join([
        (f"fuzz: {len(records)} partner messages (seed {SEED}; CME_FUZZ_MESSAGES={MESSAGES}), "
         f"{sum(size_of(r) for r in records) / 1e6:.1f} MB, largest {max(size_of(r) for r in records):,} bytes"),
        "fuzz: per codec " + ", ".join(f"{c} {n}" for c, n in sorted(Counter(r.compression for r in records).items())),
        "fuzz: outcomes " + ", ".join(f"{s} {n}" for s, n in sorted(statuses.items()))
        + f"; largest outcome {largest_outcome:,} bytes",
        f"fuzz: dead letters {len(dead_letters.records)} of {rejects} expected (first reason: "
        + ", ".join(f"{c} {n}" for c, n in codes.most_common(8)) + ")",
        (f"fuzz: generated in {generated - started:.1f}s, published in {published - generated:.1f}s, every outcome "
         f"{answered - published:.1f}s later; {finished - started:.1f}s in all"),
        "fuzz: broken promises " + (", ".join(f"{p}: {n}" for p, n in Counter(p for p, _ in wrong).most_common())
                                     or "none") + (f"; stalled: {stalled}" if stalled else ""),
    ])
    print(figures)
    with capsys.disabled():  # shown in `make test` output too, not only when the test fails
        print("\n" + figures)

    assert stalled is None, stalled
    examples = {promise: detail for promise, detail in reversed(wrong)}  # the first example of each
    assert not wrong, f"{len(wrong)} broken promise(s) in {len(records)} records; the first of each kind:\n" + \
        "\n".join(f"{promise}: {detail}" for promise, detail in examples.items())
    assert not strangers, f"outcomes for keys never sent: {sorted(strangers)[:5]}"
    assert len(dead_letters.records) == rejects
    assert outcome[b"after"]["status"] == "accepted", outcome[b"after"]
    assert case is not None and case["status"] == "open"
    assert await intake.scalar("SELECT count(*) FROM rejected_messages") == rejects
    # Nothing waits in intake's outbox: every outcome, dead letter and accepted referral has left.
    assert await intake.scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
    assert largest_outcome <= LARGEST_OUTCOME
    # Intake's and casework's consumers have settled every record, on every partition.
    namespace = intake.settings.topic_namespace
    for group, consumed in ((f"{namespace}intake.referrals", topics.REFERRALS),
                            (f"{namespace}casework.referral-accepted", topics.REFERRAL_ACCEPTED)):
        async def no_lag(group: str = group, consumed: str = consumed) -> bool:
            return not any((await lag(intake.infra.kafka, group, intake.names(consumed))).values())

        await eventually(no_lag, timeout=30, interval=0.5)
