"""A request's row, as every handler reads and changes it: loaded under the authorisation rule, and every
status change through `move`, which audits it."""

import uuid
from collections.abc import Mapping
from datetime import date
from typing import Any

from pydantic import BaseModel

from cme_shared.auth import Principal
from cme_shared.logging import get_logger
from cme_shared.refusal import Refusal

from ..adapters.unit_of_work import RightsUnitOfWork
from ..domain import access
from ..domain.clock import AccessRequestClock
from ..domain.requests import RequestType, Status
from ..domain.responses import RequestFacts
from ..domain.retention import pack_statement

log = get_logger(__name__)
Row = Mapping[str, Any]


async def load(uow: RightsUnitOfWork, request_id: uuid.UUID, *, for_update: bool = False) -> Row:
    row = await uow.requests.get(request_id, for_update=for_update)
    if row is None:
        raise access.not_found()
    return row


async def load_for(uow: RightsUnitOfWork, request_id: uuid.UUID, principal: Principal, action: access.Action, *,
                   for_update: bool = False) -> Row:
    """The request, if the authorisation rule lets `principal` do `action` to it (domain/access.py): another
    borough's request is not found, exactly as an unknown id is."""
    row = await load(uow, request_id, for_update=for_update)
    access.check(principal, action, borough=row["borough"], created_by=row["created_by"])
    return row


async def move(uow: RightsUnitOfWork, row: Row, to: Status, actor: str, action: str,
               detail: dict[str, Any] | None = None, **values: Any) -> None:
    """Change the request's status (and other columns), with its audit line, in the unit of work."""
    request_id, before = row["request_id"], row["status"]
    await uow.requests.change(request_id, status=to.value, **values)
    await uow.requests.audit(request_id, action, actor, from_status=before, to_status=to.value, detail=detail)
    log.info("rights_request_status", request_id=str(request_id), request_type=row["request_type"],
             from_status=before, to_status=to.value)


async def load_clock(uow: RightsUnitOfWork, row: Row) -> AccessRequestClock:
    return AccessRequestClock(row["received_on"], tuple(await uow.requests.clock_events(row["request_id"])))


async def emit(uow: RightsUnitOfWork, topic: str, event: BaseModel, request_id: uuid.UUID) -> None:
    """An event about the request, keyed by its id."""
    await uow.outbox.add(topic, event, aggregate_type="rights_request", aggregate_id=str(request_id))


def event_fields(uow: RightsUnitOfWork) -> dict[str, Any]:
    return {"event_id": uuid.uuid4(), "occurred_at": uow.clock.now()}


def not_after_today(uow: RightsUnitOfWork, day: date, code: str, message: str, field: str) -> None:
    """A day the caller says something happened on cannot be later than London's today."""
    if day > uow.clock.today():
        raise Refusal(422, code, message, ["body", field])


def retention_statement(uow: RightsUnitOfWork) -> str:
    """Art 15(1)(d): the retention statement of the schedule in force (never a fixed text), with how the
    rights request rule runs for a request never completed (domain/retention.py)."""
    return pack_statement(uow.schedule)


def facts(row: Row) -> RequestFacts:
    return RequestFacts(
        request_id=row["request_id"], request_type=row["request_type"], received_on=row["received_on"],
        channel=row["channel"], requester=row["requester"], subject=row["subject"], acting_as=row["acting_as"],
        authority=list(row["authority"]),
    )


def status_of(row: Row) -> Status:
    return Status(row["status"])


def type_of(row: Row) -> RequestType:
    return RequestType(row["request_type"])


def uuids(values: list[str]) -> list[uuid.UUID]:
    return [uuid.UUID(v) for v in values]


def people(row: Row) -> list[uuid.UUID]:
    """The subjects whose personal data a read of the request shows: the subject's ids and the requester's."""
    return list(dict.fromkeys(uuids(row["subject_ids"]) + uuids(row["requester_subject_ids"])))
