"""Collecting a person's data from the other services (pure rules; the I/O is in service_layer).

A service answers a DataCollectionRequest in chunks; its answer is whole when its last chunk has come
and the items of the chunks received add up to the `total_items` that chunk announced (chunk numbers
may start at 0 or 1; a redelivered chunk replaces its earlier copy). A service whose answer is not whole
in time (silent, or chunks that never add up) is asked again from scratch, and after the last try it is
recorded as not having answered: the pack then says so and is released only by a DPO who accepts it as
incomplete.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from cme_shared.contracts.rights import SubjectMatch

from .requests import WHOLE_RECORD, RequestType

# Only certain matches gather data: releasing a namesake's record is worse than a short pack.
CERTAIN_MATCHES = frozenset({"exact_identifier", "name_dob_postcode"})


class Purpose(StrEnum):
    LOOKUP_SUBJECT = "lookup_subject"
    LOOKUP_REQUESTER = "lookup_requester"
    COLLECT = "collect"


class NextStep(StrEnum):
    WAIT = "wait"
    ASK_AGAIN = "ask_again"
    GIVE_UP = "give_up"


@dataclass(frozen=True)
class RetryPolicy:
    timeout: timedelta
    max_attempts: int

    def next_step(self, attempts: int, last_asked_at: datetime, now: datetime) -> NextStep:
        if now - last_asked_at < self.timeout:
            return NextStep.WAIT
        return NextStep.ASK_AGAIN if attempts < self.max_attempts else NextStep.GIVE_UP


@dataclass(frozen=True)
class CollectionPolicy:
    """Whom rights asks (settings.py, CME_COLLECTION_*), how long it waits for them, how long it keeps
    their answers after the response is released (SEC-18)."""

    lookup_service: str  # the identity index
    collection_services: tuple[str, ...]  # every service holding a person's data
    recipients_service: str  # the disclosure log
    retry: RetryPolicy
    chunk_retention: timedelta

    def services_for(self, request_type: RequestType) -> list[str]:
        """Access and transfer need the whole record; the other rights the recipients (Art 19)."""
        return list(self.collection_services) if request_type in WHOLE_RECORD else [self.recipients_service]


def answer_complete(items_per_chunk: Mapping[int, int], last_chunk: int | None, total_items: int | None) -> bool:
    """True when a service's whole answer is in: the last chunk and every item it announced."""
    if last_chunk is None or total_items is None:
        return False
    if any(chunk > last_chunk for chunk in items_per_chunk):
        return False
    return sum(items_per_chunk.values()) == total_items and _no_gap(items_per_chunk, last_chunk)


def _no_gap(items_per_chunk: Mapping[int, int], last_chunk: int) -> bool:
    first = 0 if 0 in items_per_chunk else 1
    return all(n in items_per_chunk for n in range(first, last_chunk + 1))


def chosen_subject_ids(matches: Iterable[SubjectMatch]) -> tuple[list[UUID], int]:
    """The subject ids whose data is gathered, and how many possible matches were left out."""
    chosen: list[UUID] = []
    possible = 0
    for match in matches:
        if match.match in CERTAIN_MATCHES:
            if match.subject_id not in chosen:
                chosen.append(match.subject_id)
        else:
            possible += 1
    return chosen, possible


def boroughs_of(matches: Iterable[SubjectMatch]) -> set[str]:
    """The boroughs of the records of the subjects whose data is gathered (certain matches only)."""
    return {borough for match in matches if match.match in CERTAIN_MATCHES for borough in match.boroughs}
