"""Intake's unit of work: the kit's (session, outbox, clock, held inserts) with intake's two repositories,
`referrals` (adapters/referral_store.py) and `identity` (adapters/identity_store.py), its batch state
(adapters/batch.py), the seal for third parties' details and the postcode districts boroughs are decided by;
for retention, `retention` (adapters/retention_store.py), the kit's `tombstones` and `holds`, the schedule
in force and the key of tombstones' subject digests.

    async with runtime.unit_of_work() as uow:
        await reception.receive(uow, referral, raw=raw, key=None, channel="http")
        await uow.commit()
"""

from collections.abc import Iterable, Mapping
from typing import Any
from uuid import UUID

from fastapi import Request

from cme_shared.access_log import record_access
from cme_shared.auth import Principal
from cme_shared.contracts.referrals import Borough
from cme_shared.contracts.retention import RetentionSchedule
from cme_shared.retention import DEFAULT_SCHEDULE, LegalHolds, Tombstones
from cme_shared.unit_of_work import UnitOfWork

from ..domain.referrals import DEFAULT_POSTCODE_DISTRICTS
from .batch import IntakeBatch
from .identity_store import IdentityStore
from .referral_store import ReferralStore
from .retention_store import RetentionStore
from .sealing import Seal
from .tables import kit


class IntakeUnitOfWork(UnitOfWork[IntakeBatch]):
    referrals: ReferralStore
    identity: IdentityStore
    retention: RetentionStore
    tombstones: Tombstones
    holds: LegalHolds

    def __init__(self, *, seal: Seal, districts: Mapping[str, Borough] = DEFAULT_POSTCODE_DISTRICTS,
                 digest_key: bytes, schedule: RetentionSchedule = DEFAULT_SCHEDULE, **parts: Any) -> None:
        super().__init__(**parts)
        self.seal = seal
        self.districts = districts
        self.digest_key = digest_key  # CME_RETENTION_DIGEST_KEY: tombstones' subject digests
        self.schedule = schedule

    def new_batch(self) -> IntakeBatch:
        return IntakeBatch()

    def open(self) -> None:
        self.referrals = ReferralStore(self.session, self.batch, self.held, self.seal)
        self.identity = IdentityStore(self.session, self.batch, self.held)
        self.retention = RetentionStore(self.session)
        self.tombstones = Tombstones(self.session)
        self.holds = LegalHolds(self.session)

    async def record_access(self, request: Request, principal: Principal, subject_ids: Iterable[UUID], *,
                            action: str, returned: str, record_type: str | None = None,
                            record_id: str | None = None) -> int:
        """A read of these subjects' data, in the access log, in this transaction (the kit's access_log.py)."""
        return await record_access(self.session, kit.access_log, request, principal, subject_ids, action=action,
                                   returned=returned, record_type=record_type, record_id=record_id)
