"""The disposal job (`python -m cme_intake dispose`): one unit of work on the disposal login
(CME_DISPOSAL_DATABASE_URL, `cme_intake_disposal`), the one sanctioned way content leaves intake's history
tables. Its events go into the outbox; the running service's relay sends them."""

from datetime import date

from cme_shared.clock import SYSTEM_CLOCK, Clock
from cme_shared.retention import disposal_parts

from ..adapters.sealing import Seal
from ..adapters.tables import kit
from ..adapters.unit_of_work import IntakeUnitOfWork
from ..service_layer import retention
from ..settings import IntakeSettings


async def run_dispose(settings: IntakeSettings, *, as_of: date | None = None, dry_run: bool = False,
                      clock: Clock = SYSTEM_CLOCK) -> retention.IntakeDisposalReport:
    """Dispose of what is due as of `as_of` (default: today in London), in one transaction; a dry run reports
    and rolls back. A dry run without the disposal login reads as the service's own (it writes nothing)."""
    schedule = settings.retention_schedule()
    url = (settings.database_url.get_secret_value() if dry_run and settings.disposal_database_url is None
           else settings.disposal_url())
    async with disposal_parts(settings, kit, clock, database_url=url) as parts:
        async with IntakeUnitOfWork(**parts.unit_of_work(), seal=Seal(settings.seal_key.get_secret_value()),
                                    districts=settings.postcode_districts, digest_key=settings.digest_key(),
                                    schedule=schedule) as uow:
            report = await retention.dispose(uow, as_of=as_of or clock.today(), dry_run=dry_run, schedule=schedule,
                                             signers=settings.pinned_signers())
            if not dry_run:
                await uow.commit()
    return report
