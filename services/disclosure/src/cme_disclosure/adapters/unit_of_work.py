"""Disclosure's unit of work: one transaction, with the service's repositories built on it.

    async with runtime.unit_of_work() as uow:      # a DisclosureUnitOfWork (app.py sets the factory)
        row = await uow.disclosures.get(disclosure_id, for_update=True)
        appended = await uow.log.append(entries)
        await uow.outbox.add(topics.TREE_HEADS, event, aggregate_type="tree_head", aggregate_id=LOG_AGGREGATE)
        await uow.commit()

- `disclosures`: the records, their subjects, leaves, withholdings and the restrictions in force;
- `log`: the Merkle log, signing its heads with the service's key;
- `access_log`: who looked at whose records;
- `retention`, `tombstones`, `holds`: disposal notices and what they make due, the kit's tombstones and
  legal holds (service_layer/retention.py);
- `rules`: the policy table and the configured limits, `schedule`: the retention schedule in force (not
  repositories: what the handlers weigh by).
Disclosure keeps no per-transaction batch state (its consumers handle one record per transaction).
"""

from typing import Any

from cme_shared.contracts.retention import RetentionSchedule
from cme_shared.retention import DEFAULT_SCHEDULE, LegalHolds, Tombstones
from cme_shared.unit_of_work import UnitOfWork

from ..domain.policy import DisclosureRules
from .access_log import AccessLog
from .disclosure_records import DisclosureRecords
from .merkle_store import DEFAULT_ORIGIN, KeyRing, MerkleLog
from .retention import RetentionRecords
from .tables import kit

SERVICE = "disclosure"


class DisclosureUnitOfWork(UnitOfWork[None]):
    disclosures: DisclosureRecords
    log: MerkleLog
    access_log: AccessLog
    retention: RetentionRecords
    tombstones: Tombstones
    holds: LegalHolds

    def __init__(self, *, keys: KeyRing, rules: DisclosureRules, origin: str = DEFAULT_ORIGIN,
                 schedule: RetentionSchedule = DEFAULT_SCHEDULE, **parts: Any) -> None:
        super().__init__(**parts)
        self.keys, self.rules, self.origin, self.schedule = keys, rules, origin, schedule

    def open(self) -> None:
        self.disclosures = DisclosureRecords(self.session)
        self.log = MerkleLog(self.session, self.keys, origin=self.origin, clock=self.clock)
        self.access_log = AccessLog(self.session, kit.access_log, SERVICE)
        self.retention = RetentionRecords(self.session)
        self.tombstones = Tombstones(self.session)
        self.holds = LegalHolds(self.session)
