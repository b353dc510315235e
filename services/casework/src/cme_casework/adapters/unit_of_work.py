"""Casework's unit of work: the kit's (one transaction, the bound outbox, the clock) with casework's
repositories and clock policy.

    async with runtime.unit_of_work() as uow:        # app.py makes the runtime build this one
        state = await uow.cases.state(case_id)        # the case, its history folded
        ...
        await uow.commit()                            # commits, then wakes the outbox relay

`uow.batch` (a `CaseworkBatch`) is what the transaction notes as it goes: the case rows a batch of referrals
locked up front, who among its subjects is restricted. It dies with the transaction.
"""

from typing import Any

from cme_shared.contracts.retention import RetentionSchedule
from cme_shared.retention import DEFAULT_SCHEDULE
from cme_shared.unit_of_work import UnitOfWork

from ..domain.clocks import ClockPolicy
from ..domain.ehe import EheRules
from .access_log import AccessLog
from .ehe_repository import EheRecords
from .repository import CaseRecords, CaseworkBatch
from .retention_store import RetentionRecords


class CaseworkUnitOfWork(UnitOfWork[CaseworkBatch]):
    cases: CaseRecords
    access_log: AccessLog
    retention: RetentionRecords  # legal holds, tombstones, and what the disposal job reads and removes
    ehe: EheRecords  # elective home education records and the children-not-in-school register

    def __init__(self, *, policy: ClockPolicy, ehe_rules: EheRules | None = None, cnis_register: bool = False,
                 schedule: RetentionSchedule | None = None,
                 **parts: Any) -> None:
        super().__init__(**parts)
        self.policy = policy
        self.schedule = schedule or DEFAULT_SCHEDULE  # the retention schedule in force (CME_RETENTION_SCHEDULE_FILE)
        self.ehe_rules = ehe_rules or EheRules()
        self.cnis_register = cnis_register  # the register feature (CME_CASEWORK_CNIS_REGISTER), off by default

    def new_batch(self) -> CaseworkBatch:
        return CaseworkBatch()

    def open(self) -> None:
        self.cases = CaseRecords(self.session, self.batch, self.clock, self.held)
        self.access_log = AccessLog(self.session)
        self.retention = RetentionRecords(self.session)
        self.ehe = EheRecords(self.session, self.clock, self.ehe_rules)
