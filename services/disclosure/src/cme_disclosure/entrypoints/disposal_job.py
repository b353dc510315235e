"""The disposal job's wiring (`python -m cme_disclosure dispose`, `purge-disclosure`): a DisclosureUnitOfWork
on the disposal login (CME_DISPOSAL_DATABASE_URL, `cme_disclosure_disposal`), never the service's; the tree
heads and the RecordsDisposed it writes go into the outbox, for the running service's relay to send.
One run is one transaction: a crash loses nothing and a rerun disposes of nothing twice."""

import uuid
from datetime import date

from cme_shared.clock import SYSTEM_CLOCK, Clock
from cme_shared.retention import DisposalReport, disposal_parts

from ..adapters.tables import kit
from ..adapters.unit_of_work import DisclosureUnitOfWork
from ..service_layer import retention
from ..settings import DisclosureSettings


async def run_dispose(settings: DisclosureSettings, *, as_of: date | None = None, dry_run: bool = False,
                      clock: Clock = SYSTEM_CLOCK, database_url: str | None = None) -> DisposalReport:
    from ..app import unit_of_work_config

    async with disposal_parts(settings, kit, clock, database_url) as parts:
        async with DisclosureUnitOfWork(**parts.unit_of_work(), **unit_of_work_config(settings)) as uow:
            report = await retention.dispose(uow, as_of or clock.today(), uuid.uuid4(), settings.pinned_signers(),
                                             dry_run=dry_run)
            if not dry_run:
                await uow.commit()
    return report


async def run_purge(settings: DisclosureSettings, disclosure_id: uuid.UUID, reason_code: str, *, operator: str,
                    approved_by: str, clock: Clock = SYSTEM_CLOCK, database_url: str | None = None) -> int:
    from ..app import unit_of_work_config

    async with disposal_parts(settings, kit, clock, database_url) as parts:
        async with DisclosureUnitOfWork(**parts.unit_of_work(), **unit_of_work_config(settings)) as uow:
            purged = await retention.purge(uow, disclosure_id, reason_code, operator, approved_by)
            await uow.commit()
    return purged
