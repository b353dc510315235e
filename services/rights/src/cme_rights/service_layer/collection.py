"""Finding the person and collecting their data from the other services, on the database's state.

1. `start_collection`: a SubjectLookup to the identity index for the subject (and for the requester when
   they act for someone else, so that their own data in the child's record is not redacted from them).
2. `on_lookup_reply`: once every lookup is answered, one DataCollectionRequest to the services the
   right needs (all of them for access and transfer; the disclosure log's recipients otherwise).
3. `on_collection_reply`: chunks are stored; a service's answer is whole when its last chunk and every
   announced item have come; when every service's answer is whole the collection is finished.
4. `sweep` (a background task): a service that has not answered in time is asked again, and after the
   last try recorded as not having answered; the request then stops at `collection_incomplete`.
5. `prune_chunks` (the same task, less often): the stored answers of a released request are deleted
   once the retention period after its release has passed (SEC-18).
Everything is in the database, so a restarted service carries on where it stopped.

A reply's `service` is who answered: the kit's parser (entrypoints/kafka.py) dead-letters any reply whose
`service` is not the service whose topic it came on, so a reply reaching a handler names its sender.
"""

import uuid
from dataclasses import dataclass
from typing import Any

from cme_shared.contracts import topics
from cme_shared.contracts.rights import (
    DataCollectionReply,
    DataCollectionRequest,
    DataItem,
    PersonHint,
    RectificationApplied,
    SubjectLookup,
    SubjectLookupReply,
    SubjectMatch,
)
from cme_shared.logging import get_logger
from cme_shared.retention import tombstone_item

from ..adapters.unit_of_work import RightsUnitOfWork
from ..domain import access
from ..domain.collection import NextStep, Purpose, answer_complete, boroughs_of, chosen_subject_ids
from ..domain.requests import ActingAs, RequestType, Status, after_gathering
from ..domain.responses import Completeness, access_pack
from . import records
from .records import Row

log = get_logger(__name__)
SYSTEM = "system:rights"
SERVICE = "rights"


@dataclass(frozen=True)
class Collected:
    items: list[DataItem]
    completeness: Completeness


def _hint(person: dict[str, Any]) -> PersonHint:
    address = person.get("address") or {}
    return PersonHint(first_name=person["first_name"], last_name=person["last_name"],
                      date_of_birth=person.get("date_of_birth"), upn=person.get("upn"),
                      postcode=address.get("postcode"))


async def start_collection(uow: RightsUnitOfWork, row: Row, actor: str) -> None:
    """Ask the identity index who the person is; the collection follows its answer."""
    await uow.asks.close_open(row["request_id"])
    lookups = [(Purpose.LOOKUP_SUBJECT, row["subject"])]
    if ActingAs(row["acting_as"]) is not ActingAs.SELF:
        lookups.append((Purpose.LOOKUP_REQUESTER, row["requester"]))
    for purpose, person in lookups:
        ask_id = uuid.uuid4()
        message = {"collection_id": str(ask_id), "person": _hint(person).model_dump(mode="json")}
        await _open_ask(uow, row["request_id"], ask_id, purpose, message, [uow.policy.lookup_service])
    await records.move(uow, row, Status.COLLECTING, actor, "gathering_started", response=None,
                       subject_ids=[], requester_subject_ids=[], possible_matches=0)


async def _open_ask(uow: RightsUnitOfWork, request_id: uuid.UUID, ask_id: uuid.UUID, purpose: Purpose,
                    message: dict[str, Any], services: list[str]) -> None:
    await uow.asks.open(ask_id, request_id, purpose, message, services, uow.clock.now())
    await _send(uow, request_id, purpose, message, services)


async def _send(uow: RightsUnitOfWork, request_id: uuid.UUID, purpose: Purpose, message: dict[str, Any],
                services: list[str]) -> None:
    event: SubjectLookup | DataCollectionRequest
    if purpose is Purpose.COLLECT:
        event = DataCollectionRequest(**message, services=services, **records.event_fields(uow))
    else:
        event = SubjectLookup(**message, **records.event_fields(uow))
    await records.emit(uow, topics.DATA_COLLECTION_REQUESTS, event, request_id)
    log.info("collection_asked", request_id=str(request_id), collection_id=message["collection_id"],
             event_type=type(event).__name__, target_service=",".join(services))


async def _lock(uow: RightsUnitOfWork, ask_id: uuid.UUID, *, skip_locked: bool = False) -> tuple[Row, Row] | None:
    """The request and the ask, locked in that order (as every HTTP handler locks the request first)."""
    request_id = await uow.asks.request_of(ask_id)
    if request_id is None:
        return None
    row = await uow.requests.get(request_id, for_update=True, skip_locked=skip_locked)
    if row is None:
        return None
    ask = await uow.asks.get(ask_id, for_update=True)
    assert ask is not None  # asks are never deleted
    return row, ask


async def _lock_open_ask(uow: RightsUnitOfWork, ask_id: uuid.UUID, service: str) -> tuple[Row, Row] | None:
    """The request and the ask, locked, when the ask still waits for `service`'s answer."""
    locked = await _lock(uow, ask_id)
    if locked is None or locked[1]["state"] != "open":
        return None
    return locked if await uow.asks.target_state(ask_id, service) == "waiting" else None


async def on_lookup_reply(uow: RightsUnitOfWork, reply: SubjectLookupReply) -> None:
    """The identity index's answer to a lookup: who the person is, with the boroughs of their records."""
    service = reply.service
    locked = await _lock_open_ask(uow, reply.collection_id, service)
    if locked is None or locked[1]["purpose"] == Purpose.COLLECT:
        log.info("reply_ignored", collection_id=str(reply.collection_id), target_service=service)
        return
    row, ask = locked
    await uow.asks.matched(ask["ask_id"], service, [m.model_dump(mode="json") for m in reply.matches])
    await uow.asks.close(ask["ask_id"], "complete")
    await _after_lookups(uow, row)


async def _after_lookups(uow: RightsUnitOfWork, row: Row) -> None:
    """When no lookup is still open: collect for the subject ids found (or stop if the subject's failed)."""
    request_id = row["request_id"]
    if records.status_of(row) is not Status.COLLECTING:
        return
    current = await uow.asks.current(request_id)
    lookups = [a for a in current if a["purpose"] != Purpose.COLLECT]
    if any(a["state"] == "open" for a in lookups) or any(a["purpose"] == Purpose.COLLECT for a in current):
        return
    found: dict[str, tuple[list[uuid.UUID], int]] = {}
    subject_boroughs: set[str] = set()
    for ask in lookups:
        if ask["state"] != "complete":
            continue
        matches = [SubjectMatch.model_validate(m) for t in ask["targets"] for m in (t["result"] or [])]
        found[ask["purpose"]] = chosen_subject_ids(matches)
        if ask["purpose"] == Purpose.LOOKUP_SUBJECT:
            subject_boroughs = boroughs_of(matches)
    if Purpose.LOOKUP_SUBJECT.value not in found:  # the identity index never answered about the subject
        await _finish(uow, row)
        return
    subject_ids, possible = found[Purpose.LOOKUP_SUBJECT.value]
    await _belongs_to(uow, row, subject_boroughs)
    if ActingAs(row["acting_as"]) is ActingAs.SELF:
        requester_ids = subject_ids  # their own data, wherever it appears
    else:
        requester_ids = found.get(Purpose.LOOKUP_REQUESTER.value, ([], 0))[0]  # none found: redact more, not less
    await uow.requests.change(request_id, subject_ids=[str(s) for s in subject_ids],
                              requester_subject_ids=[str(s) for s in requester_ids], possible_matches=possible)
    await uow.requests.audit(request_id, "subject_identified", SYSTEM,
                             detail={"subject_ids": [str(s) for s in subject_ids], "possible_matches": possible})
    if not subject_ids:
        await _finish(uow, await records.load(uow, request_id))
        return
    ask_id = uuid.uuid4()
    message = DataCollectionRequest(
        collection_id=ask_id, rights_request_id=request_id, subject_ids=subject_ids,
        requester_subject_ids=requester_ids, **records.event_fields(uow),
    ).model_dump(mode="json", include={"collection_id", "rights_request_id", "subject_ids", "requester_subject_ids"})
    services = uow.policy.services_for(RequestType(row["request_type"]))
    await _open_ask(uow, request_id, ask_id, Purpose.COLLECT, message, services)


async def _belongs_to(uow: RightsUnitOfWork, row: Row, subject_boroughs: set[str]) -> None:
    """The request belongs to the borough of the subject's records (issue 13): an officer of another borough
    who recorded it no longer sees it; records in both boroughs: the DPO's alone; with no borough known it
    stays where it was recorded."""
    borough = access.borough_of_records(row["borough"], subject_boroughs)
    if borough != row["borough"]:
        await uow.requests.change(row["request_id"], borough=borough)
        await uow.requests.audit(row["request_id"], "borough_assigned", SYSTEM,
                                 detail={"from": row["borough"], "to": borough})
        log.info("rights_request_borough", request_id=str(row["request_id"]), borough=borough)


async def on_collection_reply(uow: RightsUnitOfWork, reply: DataCollectionReply) -> None:
    """One chunk of a service's answer to a data collection (or its error: it is asked again)."""
    service = reply.service
    locked = await _lock_open_ask(uow, reply.collection_id, service)
    if locked is None or locked[1]["purpose"] != Purpose.COLLECT:
        log.info("reply_ignored", collection_id=str(reply.collection_id), target_service=service)
        return
    row, ask = locked
    ask_id = ask["ask_id"]
    if reply.error is not None:
        # The service could not answer: start its answer afresh and let the sweep ask again at once.
        await uow.asks.failed(ask_id, service, error=reply.error[:64],
                              last_asked_at=uow.clock.now() - uow.policy.retry.timeout)
        log.info("collection_error_reply", collection_id=str(reply.collection_id), target_service=service,
                 error_code=reply.error[:64])
        return
    await uow.asks.add_chunk(ask_id, service, reply.chunk, last=reply.last, total_items=reply.total_items,
                             items=[item.model_dump(mode="json") for item in reply.items])
    chunks = await uow.asks.chunks(ask_id, service)
    last = max((c for c in chunks if c.last), key=lambda c: c.chunk, default=None)
    if not answer_complete({c.chunk: c.item_count for c in chunks}, last.chunk if last else None,
                           last.total_items if last else None):
        return
    await uow.asks.answered(ask_id, service)
    log.info("collection_answered", collection_id=str(reply.collection_id), target_service=service,
             count=sum(c.item_count for c in chunks))
    if await uow.asks.waiting(ask_id) == 0:
        await uow.asks.close(ask_id, "complete")
        await _finish(uow, row)


async def on_rectification_applied(uow: RightsUnitOfWork, applied: RectificationApplied) -> None:
    """A service reports what it changed after a FactualRectification: kept, and in the audit trail."""
    service = applied.service
    if not await uow.requests.exists(applied.rights_request_id):
        log.info("reply_ignored", request_id=str(applied.rights_request_id), target_service=service)
        return
    await uow.requests.add_rectification_applied(applied.rights_request_id, service, applied.subject_id,
                                                 applied.records_changed, applied.event_id)
    await uow.requests.audit(applied.rights_request_id, "rectification_applied", f"service:{service}",
                             detail={"subject_id": str(applied.subject_id),
                                     "records_changed": applied.records_changed})


async def collected(uow: RightsUnitOfWork, request_id: uuid.UUID) -> Collected:
    """The items of the latest collection's answered services, and how complete it was."""
    row = await records.load(uow, request_id)
    current = await uow.asks.current(request_id)
    collect = next((a for a in reversed(current) if a["purpose"] == Purpose.COLLECT), None)
    asked: list[str] = []
    answered: list[str] = []
    missing = [t["service"] for a in current if a["purpose"] == Purpose.LOOKUP_SUBJECT
               for t in a["targets"] if t["state"] == "no_answer"]
    items: list[DataItem] = []
    if collect is not None:
        asked = [t["service"] for t in collect["targets"]]
        answered = [t["service"] for t in collect["targets"] if t["state"] == "answered"]
        missing += [t["service"] for t in collect["targets"] if t["state"] != "answered"]
        items = await uow.asks.items(collect["ask_id"], answered)
    completeness = Completeness(
        services_asked=asked, services_answered=answered, services_missing=sorted(set(missing)),
        subject_ids=list(row["subject_ids"]), possible_matches_not_included=row["possible_matches"],
    )
    return Collected(items, completeness)


async def _finish(uow: RightsUnitOfWork, row: Row) -> None:
    """The collection is over, whole or not: prepare the access pack, or wait for a decision."""
    if records.status_of(row) is not Status.COLLECTING:
        return  # refused or restarted meanwhile
    request_type = records.type_of(row)
    result = await collected(uow, row["request_id"])
    missing = result.completeness.services_missing
    response = None
    if request_type is RequestType.ACCESS:
        # Who within the council looked at the subject's rights requests here is part of the pack too
        # (Art 15(1)(c) recipients); the other services add their own to their answers.
        subjects = records.uuids(row["subject_ids"])
        looked = await uow.access_log.items_about(subjects)
        response = access_pack(records.facts(row), result.items + looked + await disposed_here(uow, subjects),
                               frozenset(records.uuids(row["requester_subject_ids"])), result.completeness,
                               records.retention_statement(uow))
    to = after_gathering(request_type) if not missing else Status.COLLECTION_INCOMPLETE
    await records.move(uow, row, to, SYSTEM, "gathering_incomplete" if missing else "gathering_complete",
                       detail={"services_missing": missing, "records": len(result.items)}, response=response)


async def disposed_here(uow: RightsUnitOfWork, subject_ids: list[uuid.UUID]) -> list[DataItem]:
    """Rights's own disposed requests about the subject, as tombstone items (the other services send theirs in
    their answers): the pack says what was disposed of and when."""
    wanted = set(subject_ids)
    return [tombstone_item(SERVICE, t, next(s for s in t.subject_ids if s in wanted), uow.schedule)
            for t in await uow.tombstones.about(subject_ids) if wanted & set(t.subject_ids)]


async def sweep(uow: RightsUnitOfWork) -> int:
    """Ask again whoever is late; give up on whoever used every try. Returns how many targets moved."""
    policy = uow.policy.retry
    now = uow.clock.now()
    moved = 0
    for ask_id in await uow.asks.late(now - policy.timeout):
        locked = await _lock(uow, ask_id, skip_locked=True)  # another replica has it: next round
        if locked is None or locked[1]["state"] != "open":
            continue
        row, ask = locked
        purpose = Purpose(ask["purpose"])
        for target in await uow.asks.waiting_targets(ask_id):
            service = target["service"]
            step = policy.next_step(target["attempts"], target["last_asked_at"], now)
            if step is NextStep.ASK_AGAIN:
                await uow.asks.ask_again(ask_id, service, attempts=target["attempts"] + 1, now=now)
                await _send(uow, ask["request_id"], purpose, ask["message"], [service])
                moved += 1
            elif step is NextStep.GIVE_UP:
                await uow.asks.give_up(ask_id, service)
                log.warning("collection_no_answer", request_id=str(ask["request_id"]), collection_id=str(ask_id),
                            target_service=service, attempt=target["attempts"])
                moved += 1
        if await uow.asks.waiting(ask_id) == 0:  # someone was given up on: the ask ends incomplete
            await uow.asks.close(ask_id, "incomplete")
            if purpose is Purpose.COLLECT:
                await _finish(uow, row)
            else:
                await _after_lookups(uow, row)
    return moved


async def prune_chunks(uow: RightsUnitOfWork) -> int:
    """SEC-18: the collected answers (every service's copy of the person's data) are not kept for ever. Once a
    request's response is released, its pack holds what the requester was given; the chunks go
    `chunk_retention_days` after the release. Returns how many chunks were deleted."""
    pruned = await uow.asks.prune_released(uow.clock.now() - uow.policy.chunk_retention)
    if pruned:
        log.info("collected_chunks_pruned", count=pruned)
    return pruned
