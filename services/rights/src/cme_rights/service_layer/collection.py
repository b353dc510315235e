"""Finding the person and gathering their data from the other services, on the database's state.

1. `start_gathering`: a SubjectLookup to the identity index for the subject (and for the requester when
   they act for someone else, so that their own data in the child's record is not redacted from them).
2. `on_lookup_reply`: once every lookup is answered, one DataCollectionRequest to the services the
   right needs (all of them for access and transfer; the disclosure log's recipients otherwise).
3. `on_collection_reply`: chunks are stored; a service's answer is whole when its last chunk and every
   announced item have come; when every service's answer is whole the gathering is finished.
4. `sweep` (a background task): a service that has not answered in time is asked again, and after the
   last try recorded as not having answered; the request then stops at `collection_incomplete`.
5. `prune_chunks` (the same task, less often): the stored answers of a released request are deleted
   once the retention period after its release has passed (SEC-18).
Everything is in the database, so a restarted service carries on where it stopped.
"""

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from cme_shared.access_log import access_items
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

from ..adapters.tables import ask_chunks, ask_targets, asks, kit, rectifications_applied, rights_requests
from ..domain import access
from ..domain.collection import NextStep, Purpose, answer_complete, boroughs_of, chosen_subject_ids
from ..domain.requests import WHOLE_RECORD, ActingAs, RequestType, Status, after_gathering
from ..domain.responses import Completeness, access_pack
from . import records
from .context import RightsContext

log = get_logger(__name__)
SYSTEM = "system:rights"
SERVICE = "rights"


@dataclass(frozen=True)
class Gathered:
    items: list[DataItem]
    completeness: Completeness


def _hint(person: dict[str, Any]) -> PersonHint:
    address = person.get("address") or {}
    return PersonHint(first_name=person["first_name"], last_name=person["last_name"],
                      date_of_birth=person.get("date_of_birth"), upn=person.get("upn"),
                      postcode=address.get("postcode"))


async def start_gathering(ctx: RightsContext, session: AsyncSession, row: RowMapping, actor: str) -> None:
    """Ask the identity index who the person is; the collection follows its answer."""
    await close_open_asks(session, row["request_id"])
    lookups = [(Purpose.LOOKUP_SUBJECT, row["subject"])]
    if ActingAs(row["acting_as"]) is not ActingAs.SELF:
        lookups.append((Purpose.LOOKUP_REQUESTER, row["requester"]))
    for purpose, person in lookups:
        ask_id = uuid.uuid4()
        message = {"collection_id": str(ask_id), "person": _hint(person).model_dump(mode="json")}
        await _open_ask(ctx, session, row["request_id"], ask_id, purpose, message, [ctx.settings.lookup_service])
    await records.move(session, row, Status.COLLECTING, actor, "gathering_started", response=None,
                       subject_ids=[], requester_subject_ids=[], possible_matches=0)


async def _open_ask(ctx: RightsContext, session: AsyncSession, request_id: uuid.UUID, ask_id: uuid.UUID,
                    purpose: Purpose, message: dict[str, Any], services: list[str]) -> None:
    now = ctx.now()  # not the transaction's time: two asks of one transaction keep their order
    await session.execute(insert(asks).values(ask_id=ask_id, request_id=request_id, purpose=purpose.value,
                                              state="open", message=message, created_at=now))
    await session.execute(insert(ask_targets), [
        {"ask_id": ask_id, "service": service, "state": "waiting", "attempts": 1, "last_asked_at": now}
        for service in services])
    await _send(ctx, session, request_id, purpose, message, services)


async def _send(ctx: RightsContext, session: AsyncSession, request_id: uuid.UUID, purpose: Purpose,
                message: dict[str, Any], services: list[str]) -> None:
    event: SubjectLookup | DataCollectionRequest
    if purpose is Purpose.COLLECT:
        event = DataCollectionRequest(**message, services=services, **ctx.event_fields())
    else:
        event = SubjectLookup(**message, **ctx.event_fields())
    await ctx.emit(session, topics.DATA_COLLECTION_REQUESTS, event, request_id)
    log.info("collection_asked", request_id=str(request_id), collection_id=message["collection_id"],
             event_type=type(event).__name__, target_service=",".join(services))


async def close_open_asks(session: AsyncSession, request_id: uuid.UUID, state: str = "superseded") -> None:
    await session.execute(update(asks).where(asks.c.request_id == request_id, asks.c.state == "open")
                          .values(state=state, closed_at=func.now()))


async def _lock(session: AsyncSession, ask_id: uuid.UUID, *,
                skip_locked: bool = False) -> tuple[RowMapping, RowMapping] | None:
    """The request and the ask, locked in that order (as every HTTP handler locks the request first)."""
    request_id = (await session.execute(select(asks.c.request_id).where(asks.c.ask_id == ask_id))).scalar_one_or_none()
    if request_id is None:
        return None
    row = (await session.execute(select(rights_requests).where(rights_requests.c.request_id == request_id)
                                 .with_for_update(skip_locked=skip_locked))).mappings().first()
    if row is None:
        return None
    ask = (await session.execute(select(asks).where(asks.c.ask_id == ask_id).with_for_update())).mappings().one()
    return row, ask


async def _lock_open_ask(session: AsyncSession, ask_id: uuid.UUID,
                         service: str) -> tuple[RowMapping, RowMapping] | None:
    """The request and the ask, locked, when the ask still waits for `service`'s answer."""
    locked = await _lock(session, ask_id)
    if locked is None or locked[1]["state"] != "open":
        return None
    target = (await session.execute(select(ask_targets.c.state).where(
        ask_targets.c.ask_id == ask_id, ask_targets.c.service == service))).scalar_one_or_none()
    return locked if target == "waiting" else None


async def on_lookup_reply(ctx: RightsContext, session: AsyncSession, service: str,
                          reply: SubjectLookupReply) -> None:
    """`service`: who answered, from the topic the reply came on (never the reply's own `service`)."""
    locked = await _lock_open_ask(session, reply.collection_id, service)
    if locked is None or locked[1]["purpose"] == Purpose.COLLECT:
        log.info("reply_ignored", collection_id=str(reply.collection_id), target_service=service)
        return
    row, ask = locked
    await session.execute(update(ask_targets).where(
        ask_targets.c.ask_id == ask["ask_id"], ask_targets.c.service == service,
    ).values(state="answered", result=[m.model_dump(mode="json") for m in reply.matches]))
    await session.execute(update(asks).where(asks.c.ask_id == ask["ask_id"])
                          .values(state="complete", closed_at=func.now()))
    await _after_lookups(ctx, session, row)


async def _after_lookups(ctx: RightsContext, session: AsyncSession, row: RowMapping) -> None:
    """When no lookup is still open: collect for the subject ids found (or stop if the subject's failed)."""
    request_id = row["request_id"]
    if records.status_of(row) is not Status.COLLECTING:
        return
    current = await _current_asks(session, request_id)
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
        await _finish(ctx, session, row)
        return
    subject_ids, possible = found[Purpose.LOOKUP_SUBJECT.value]
    await _belongs_to(session, row, subject_boroughs)
    if ActingAs(row["acting_as"]) is ActingAs.SELF:
        requester_ids = subject_ids  # their own data, wherever it appears
    else:
        requester_ids = found.get(Purpose.LOOKUP_REQUESTER.value, ([], 0))[0]  # none found: redact more, not less
    await records.update_row(session, request_id, subject_ids=[str(s) for s in subject_ids],
                             requester_subject_ids=[str(s) for s in requester_ids], possible_matches=possible)
    await records.audit(session, request_id, "subject_identified", SYSTEM,
                        detail={"subject_ids": [str(s) for s in subject_ids], "possible_matches": possible})
    if not subject_ids:
        await _finish(ctx, session, await records.load(session, request_id))
        return
    services = (ctx.settings.collection_services if RequestType(row["request_type"]) in WHOLE_RECORD
                else [ctx.settings.recipients_service])
    ask_id = uuid.uuid4()
    message = DataCollectionRequest(
        collection_id=ask_id, rights_request_id=request_id, subject_ids=subject_ids,
        requester_subject_ids=requester_ids, **ctx.event_fields(),
    ).model_dump(mode="json", include={"collection_id", "rights_request_id", "subject_ids", "requester_subject_ids"})
    await _open_ask(ctx, session, request_id, ask_id, Purpose.COLLECT, message, list(services))


async def _belongs_to(session: AsyncSession, row: RowMapping, subject_boroughs: set[str]) -> None:
    """The request belongs to the borough of the subject's records (issue 13): an officer of another borough
    who recorded it no longer sees it; records in both boroughs: the DPO's alone; with no borough known it
    stays where it was recorded."""
    borough = access.borough_of_records(row["borough"], subject_boroughs)
    if borough != row["borough"]:
        await records.update_row(session, row["request_id"], borough=borough)
        await records.audit(session, row["request_id"], "borough_assigned", SYSTEM,
                            detail={"from": row["borough"], "to": borough})
        log.info("rights_request_borough", request_id=str(row["request_id"]), borough=borough)


async def _current_asks(session: AsyncSession, request_id: uuid.UUID) -> list[dict[str, Any]]:
    """The asks of the request's latest gathering (earlier ones were superseded), with their targets."""
    rows = (await session.execute(select(asks).where(asks.c.request_id == request_id, asks.c.state != "superseded")
                                  .order_by(asks.c.created_at))).mappings().all()
    out = []
    for ask in rows:
        targets = (await session.execute(select(ask_targets).where(ask_targets.c.ask_id == ask["ask_id"])
                                         .order_by(ask_targets.c.service))).mappings().all()
        out.append({**ask, "targets": [dict(t) for t in targets]})
    return out


async def on_collection_reply(ctx: RightsContext, session: AsyncSession, service: str,
                              reply: DataCollectionReply) -> None:
    """`service`: who answered, from the topic the reply came on (never the reply's own `service`)."""
    locked = await _lock_open_ask(session, reply.collection_id, service)
    if locked is None or locked[1]["purpose"] != Purpose.COLLECT:
        log.info("reply_ignored", collection_id=str(reply.collection_id), target_service=service)
        return
    row, ask = locked
    target_where = (ask_targets.c.ask_id == ask["ask_id"], ask_targets.c.service == service)
    chunk_where = (ask_chunks.c.ask_id == ask["ask_id"], ask_chunks.c.service == service)
    if reply.error is not None:
        # The service could not answer: start its answer afresh and let the sweep ask again at once.
        await session.execute(delete(ask_chunks).where(*chunk_where))
        await session.execute(update(ask_targets).where(*target_where).values(
            last_error=reply.error[:64], last_asked_at=ctx.now() - ctx.retry_policy.timeout))
        log.info("collection_error_reply", collection_id=str(reply.collection_id), target_service=service,
                 error_code=reply.error[:64])
        return
    values = {"last": reply.last, "total_items": reply.total_items, "item_count": len(reply.items),
              "items": [item.model_dump(mode="json") for item in reply.items]}
    await session.execute(pg_insert(ask_chunks).values(ask_id=ask["ask_id"], service=service,
                                                       chunk=reply.chunk, **values)
                          .on_conflict_do_update(index_elements=["ask_id", "service", "chunk"], set_=values))
    chunks = (await session.execute(select(ask_chunks.c.chunk, ask_chunks.c.item_count, ask_chunks.c.last,
                                           ask_chunks.c.total_items).where(*chunk_where))).all()
    last = max((c for c in chunks if c.last), key=lambda c: c.chunk, default=None)
    if not answer_complete({c.chunk: c.item_count for c in chunks}, last.chunk if last else None,
                           last.total_items if last else None):
        return
    await session.execute(update(ask_targets).where(*target_where).values(state="answered", last_error=None))
    log.info("collection_answered", collection_id=str(reply.collection_id), target_service=service,
             count=sum(c.item_count for c in chunks))
    waiting = (await session.execute(select(func.count()).select_from(ask_targets).where(
        ask_targets.c.ask_id == ask["ask_id"], ask_targets.c.state == "waiting"))).scalar_one()
    if waiting == 0:
        await session.execute(update(asks).where(asks.c.ask_id == ask["ask_id"])
                              .values(state="complete", closed_at=func.now()))
        await _finish(ctx, session, row)


async def on_rectification_applied(session: AsyncSession, service: str, applied: RectificationApplied) -> None:
    known = (await session.execute(select(rights_requests.c.request_id).where(
        rights_requests.c.request_id == applied.rights_request_id))).scalar_one_or_none()
    if known is None:
        log.info("reply_ignored", request_id=str(applied.rights_request_id), target_service=service)
        return
    await session.execute(pg_insert(rectifications_applied).values(
        request_id=applied.rights_request_id, service=service, subject_id=applied.subject_id,
        records_changed=applied.records_changed, event_id=applied.event_id,
    ).on_conflict_do_nothing())
    await records.audit(session, applied.rights_request_id, "rectification_applied", f"service:{service}",
                        detail={"subject_id": str(applied.subject_id), "records_changed": applied.records_changed})


async def gathered(session: AsyncSession, request_id: uuid.UUID) -> Gathered:
    """The items of the latest gathering's answered services, and how complete it was."""
    row = await records.load(session, request_id)
    current = await _current_asks(session, request_id)
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
        chunk_rows = (await session.execute(
            select(ask_chunks.c["items"]).where(ask_chunks.c.ask_id == collect["ask_id"],
                                             ask_chunks.c.service.in_(answered))
            .order_by(ask_chunks.c.service, ask_chunks.c.chunk))).scalars().all()
        items = [DataItem.model_validate(item) for chunk in chunk_rows for item in chunk]
    completeness = Completeness(
        services_asked=asked, services_answered=answered, services_missing=sorted(set(missing)),
        subject_ids=list(row["subject_ids"]), possible_matches_not_included=row["possible_matches"],
    )
    return Gathered(items, completeness)


async def _finish(ctx: RightsContext, session: AsyncSession, row: RowMapping) -> None:
    """The gathering is over, whole or not: prepare the access pack, or wait for a decision."""
    if records.status_of(row) is not Status.COLLECTING:
        return  # refused or restarted meanwhile
    request_type = records.type_of(row)
    result = await gathered(session, row["request_id"])
    missing = result.completeness.services_missing
    response = None
    if request_type is RequestType.ACCESS:
        # Who within the council looked at the subject's rights requests here is part of the pack too
        # (Art 15(1)(c) recipients); the other services add their own to their answers.
        looked = await access_items(session, kit.access_log, SERVICE, records.uuids(row["subject_ids"]))
        response = access_pack(records.facts(row), result.items + looked,
                               frozenset(records.uuids(row["requester_subject_ids"])), result.completeness)
    to = after_gathering(request_type) if not missing else Status.COLLECTION_INCOMPLETE
    await records.move(session, row, to, SYSTEM, "gathering_incomplete" if missing else "gathering_complete",
                       detail={"services_missing": missing, "records": len(result.items)}, response=response)


async def sweep(ctx: RightsContext, session: AsyncSession) -> int:
    """Ask again whoever is late; give up on whoever used every try. Returns how many targets moved."""
    policy = ctx.retry_policy
    now = ctx.now()
    late = (await session.execute(
        select(asks.c.ask_id).where(asks.c.state == "open", asks.c.ask_id.in_(
            select(ask_targets.c.ask_id).where(ask_targets.c.state == "waiting",
                                               ask_targets.c.last_asked_at <= now - policy.timeout)))
    )).scalars().all()
    moved = 0
    for ask_id in late:
        locked = await _lock(session, ask_id, skip_locked=True)  # another replica has it: next round
        if locked is None or locked[1]["state"] != "open":
            continue
        row, ask = locked
        purpose = Purpose(ask["purpose"])
        targets = (await session.execute(select(ask_targets).where(
            ask_targets.c.ask_id == ask_id, ask_targets.c.state == "waiting"))).mappings().all()
        for target in targets:
            step = policy.next_step(target["attempts"], target["last_asked_at"], now)
            where = (ask_targets.c.ask_id == ask_id, ask_targets.c.service == target["service"])
            if step is NextStep.ASK_AGAIN:
                # A fresh answer replaces whatever part of the earlier one arrived.
                await session.execute(delete(ask_chunks).where(ask_chunks.c.ask_id == ask_id,
                                                               ask_chunks.c.service == target["service"]))
                await session.execute(update(ask_targets).where(*where).values(
                    attempts=target["attempts"] + 1, last_asked_at=now))
                await _send(ctx, session, ask["request_id"], purpose, ask["message"], [target["service"]])
                moved += 1
            elif step is NextStep.GIVE_UP:
                await session.execute(update(ask_targets).where(*where).values(state="no_answer"))
                log.warning("collection_no_answer", request_id=str(ask["request_id"]), collection_id=str(ask_id),
                            target_service=target["service"], attempt=target["attempts"])
                moved += 1
        still_waiting = (await session.execute(select(func.count()).select_from(ask_targets).where(
            ask_targets.c.ask_id == ask_id, ask_targets.c.state == "waiting"))).scalar_one()
        if still_waiting == 0:  # someone was given up on: the ask ends incomplete
            await session.execute(update(asks).where(asks.c.ask_id == ask_id)
                                  .values(state="incomplete", closed_at=func.now()))
            if purpose is Purpose.COLLECT:
                await _finish(ctx, session, row)
            else:
                await _after_lookups(ctx, session, row)
    return moved



async def prune_chunks(ctx: RightsContext, session: AsyncSession) -> int:
    """SEC-18: the collected answers (every service's copy of the person's data) are not kept for ever. Once a
    request's response is released, its pack holds what the requester was given; the chunks go
    `chunk_retention_days` after the release. Returns how many chunks were deleted."""
    cutoff = ctx.now() - timedelta(days=ctx.settings.chunk_retention_days)
    released = (select(asks.c.ask_id).join(rights_requests, rights_requests.c.request_id == asks.c.request_id)
                .where(rights_requests.c.status == Status.RESPONDED.value, rights_requests.c.approved_at <= cutoff))
    result = await session.execute(delete(ask_chunks).where(ask_chunks.c.ask_id.in_(released)))
    pruned = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if pruned:
        log.info("collected_chunks_pruned", count=pruned)
    return pruned
