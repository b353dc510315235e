"""The asks repository: the lookups and data collections rights sent (an ask is the wire's collection_id),
who was asked (its targets: tries, answered or not) and the chunks each answered with.

An ask is `open` until every target answered (`complete`) or someone was given up on (`incomplete`); a new
collection of the same request supersedes the open ones. A target is `waiting`, `answered` or `no_answer`.
"""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from cme_shared.contracts.rights import DataItem

from ..domain.collection import Purpose
from ..domain.requests import Status
from .tables import ask_chunks, ask_targets, asks, rights_requests


@dataclass(frozen=True)
class Chunk:
    """What rights keeps of one chunk to tell whether a service's answer is whole (domain/collection.py)."""

    chunk: int
    item_count: int
    last: bool
    total_items: int | None


class Asks:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def open(self, ask_id: uuid.UUID, request_id: uuid.UUID, purpose: Purpose, message: dict[str, Any],
                   services: Sequence[str], now: datetime) -> None:
        """A new ask to `services`, each asked once, at `now` (the clock's, not the transaction's time:
        two asks of one transaction keep their order)."""
        await self._session.execute(insert(asks).values(ask_id=ask_id, request_id=request_id, purpose=purpose.value,
                                                        state="open", message=message, created_at=now))
        await self._session.execute(insert(ask_targets), [
            {"ask_id": ask_id, "service": service, "state": "waiting", "attempts": 1, "last_asked_at": now}
            for service in services])

    async def close_open(self, request_id: uuid.UUID, state: str = "superseded") -> None:
        await self._session.execute(update(asks).where(asks.c.request_id == request_id, asks.c.state == "open")
                                    .values(state=state, closed_at=func.now()))

    async def close(self, ask_id: uuid.UUID, state: str) -> None:
        await self._session.execute(update(asks).where(asks.c.ask_id == ask_id)
                                    .values(state=state, closed_at=func.now()))

    async def request_of(self, ask_id: uuid.UUID) -> uuid.UUID | None:
        found = await self._session.execute(select(asks.c.request_id).where(asks.c.ask_id == ask_id))
        return found.scalar_one_or_none()

    async def get(self, ask_id: uuid.UUID, *, for_update: bool = False) -> Mapping[str, Any] | None:
        query = select(asks).where(asks.c.ask_id == ask_id)
        if for_update:
            query = query.with_for_update()
        return (await self._session.execute(query)).mappings().first()

    async def target_state(self, ask_id: uuid.UUID, service: str) -> str | None:
        found = await self._session.execute(select(ask_targets.c.state).where(
            ask_targets.c.ask_id == ask_id, ask_targets.c.service == service))
        return found.scalar_one_or_none()

    async def current(self, request_id: uuid.UUID) -> list[dict[str, Any]]:
        """The asks of the request's latest collection (earlier ones were superseded), oldest first, each with
        its `targets` by service."""
        rows = (await self._session.execute(
            select(asks).where(asks.c.request_id == request_id, asks.c.state != "superseded")
            .order_by(asks.c.created_at))).mappings().all()
        out = []
        for ask in rows:
            targets = (await self._session.execute(select(ask_targets).where(ask_targets.c.ask_id == ask["ask_id"])
                                                   .order_by(ask_targets.c.service))).mappings().all()
            out.append({**ask, "targets": [dict(t) for t in targets]})
        return out

    async def late(self, asked_before: datetime) -> list[uuid.UUID]:
        """The open asks with a target still waiting since before `asked_before`."""
        found = await self._session.execute(select(asks.c.ask_id).where(asks.c.state == "open", asks.c.ask_id.in_(
            select(ask_targets.c.ask_id).where(ask_targets.c.state == "waiting",
                                               ask_targets.c.last_asked_at <= asked_before))))
        return list(found.scalars().all())

    async def waiting_targets(self, ask_id: uuid.UUID) -> list[Mapping[str, Any]]:
        found = await self._session.execute(select(ask_targets).where(
            ask_targets.c.ask_id == ask_id, ask_targets.c.state == "waiting"))
        return list(found.mappings().all())

    async def waiting(self, ask_id: uuid.UUID) -> int:
        """How many targets of the ask have not answered yet."""
        found = await self._session.execute(select(func.count()).select_from(ask_targets).where(
            ask_targets.c.ask_id == ask_id, ask_targets.c.state == "waiting"))
        return int(found.scalar_one())

    async def answered(self, ask_id: uuid.UUID, service: str) -> None:
        """`service`'s answer is whole."""
        await self._session.execute(update(ask_targets).where(
            ask_targets.c.ask_id == ask_id, ask_targets.c.service == service).values(state="answered", last_error=None))

    async def matched(self, ask_id: uuid.UUID, service: str, matches: list[dict[str, Any]]) -> None:
        """`service` (the identity index) answered a lookup with `matches`."""
        await self._session.execute(update(ask_targets).where(
            ask_targets.c.ask_id == ask_id, ask_targets.c.service == service).values(state="answered", result=matches))

    async def ask_again(self, ask_id: uuid.UUID, service: str, *, attempts: int, now: datetime) -> None:
        """Asked again at `now`: a fresh answer replaces whatever part of the earlier one arrived."""
        await self._forget_chunks(ask_id, service)
        await self._session.execute(update(ask_targets).where(
            ask_targets.c.ask_id == ask_id, ask_targets.c.service == service).values(
            attempts=attempts, last_asked_at=now))

    async def failed(self, ask_id: uuid.UUID, service: str, *, error: str, last_asked_at: datetime) -> None:
        """`service` said it could not answer (`error`, a code): its answer starts afresh."""
        await self._forget_chunks(ask_id, service)
        await self._session.execute(update(ask_targets).where(
            ask_targets.c.ask_id == ask_id, ask_targets.c.service == service).values(
            last_error=error, last_asked_at=last_asked_at))

    async def give_up(self, ask_id: uuid.UUID, service: str) -> None:
        await self._session.execute(update(ask_targets).where(
            ask_targets.c.ask_id == ask_id, ask_targets.c.service == service).values(state="no_answer"))

    async def add_chunk(self, ask_id: uuid.UUID, service: str, chunk: int, *, last: bool, total_items: int | None,
                        items: list[dict[str, Any]]) -> None:
        """A chunk of `service`'s answer; a redelivered chunk replaces its earlier copy."""
        values = {"last": last, "total_items": total_items, "item_count": len(items), "items": items}
        await self._session.execute(pg_insert(ask_chunks).values(ask_id=ask_id, service=service, chunk=chunk, **values)
                                    .on_conflict_do_update(index_elements=["ask_id", "service", "chunk"], set_=values))

    async def chunks(self, ask_id: uuid.UUID, service: str) -> list[Chunk]:
        found = await self._session.execute(
            select(ask_chunks.c.chunk, ask_chunks.c.item_count, ask_chunks.c.last, ask_chunks.c.total_items)
            .where(ask_chunks.c.ask_id == ask_id, ask_chunks.c.service == service))
        return [Chunk(r.chunk, r.item_count, r.last, r.total_items) for r in found.all()]

    async def items(self, ask_id: uuid.UUID, services: Sequence[str]) -> list[DataItem]:
        """The items `services` answered the ask with, by service and chunk."""
        found = await self._session.execute(
            select(ask_chunks.c["items"]).where(ask_chunks.c.ask_id == ask_id, ask_chunks.c.service.in_(services))
            .order_by(ask_chunks.c.service, ask_chunks.c.chunk))
        return [DataItem.model_validate(item) for chunk in found.scalars().all() for item in chunk]

    async def prune_released(self, approved_before: datetime) -> int:
        """SEC-18: deletes the chunks of the requests released before `approved_before`; how many went."""
        released = (select(asks.c.ask_id).join(rights_requests, rights_requests.c.request_id == asks.c.request_id)
                    .where(rights_requests.c.status == Status.RESPONDED.value,
                           rights_requests.c.approved_at <= approved_before))
        result = await self._session.execute(delete(ask_chunks).where(ask_chunks.c.ask_id.in_(released)))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def _forget_chunks(self, ask_id: uuid.UUID, service: str) -> None:
        await self._session.execute(delete(ask_chunks).where(ask_chunks.c.ask_id == ask_id,
                                                             ask_chunks.c.service == service))
