"""Rights's unit of work: the kit's (session, bound outbox, clock) with rights's repositories on its session.

    async with runtime.unit_of_work() as uow:          # a RightsUnitOfWork (app.py sets it)
        row = await uow.requests.get(request_id, for_update=True)
        await uow.asks.close_open(request_id)
        await uow.outbox.add(topics.RIGHTS_EVENTS, event, aggregate_type="rights_request",
                             aggregate_id=str(request_id))
        await uow.commit()

Rights keeps no state across the records of a batch (it consumes one record per transaction), so its
`batch` is None.
"""

from typing import Any

from cme_shared.contracts.retention import RetentionSchedule
from cme_shared.retention import DEFAULT_SCHEDULE, LegalHolds, Tombstones
from cme_shared.unit_of_work import UnitOfWork

from ..domain.collection import CollectionPolicy
from .access_log import AccessLog
from .asks import Asks
from .requests import RightsRequests
from .retention import RetentionRecords


class RightsUnitOfWork(UnitOfWork[None]):
    requests: RightsRequests
    asks: Asks
    access_log: AccessLog
    retention: RetentionRecords  # which requests are completed; a request's content at disposal
    tombstones: Tombstones  # the kit's: what was disposed of (cme_shared.retention)
    holds: LegalHolds  # the kit's: what a legal hold keeps

    def __init__(self, *, policy: CollectionPolicy, schedule: RetentionSchedule = DEFAULT_SCHEDULE,
                 **parts: Any) -> None:
        super().__init__(**parts)
        self.policy = policy  # whom to ask, and how long to wait for them (settings.py)
        self.schedule = schedule  # the retention schedule in force (settings.retention_schedule())

    def open(self) -> None:
        self.requests = RightsRequests(self.session)
        self.asks = Asks(self.session)
        self.access_log = AccessLog(self.session)
        self.retention = RetentionRecords(self.session)
        self.tombstones = Tombstones(self.session)
        self.holds = LegalHolds(self.session)
