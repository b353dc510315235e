"""The disposal job (issue 14, item 1): `python -m cme_rights dispose [--dry-run] [--as-of YYYY-MM-DD] [--json]`.

It logs in as the disposal role (CME_DISPOSAL_DATABASE_URL, `cme_rights_disposal`), which the running service
never holds, and runs service_layer/retention.py's `dispose` in one unit of work: the request's content goes,
its tombstone and the RecordsDisposed event (to the outbox, sent by the running service's relay) are written
in the same transaction. A dry run rolls back whatever it read and prints the report.
"""

from datetime import date
from typing import Any

from cme_shared.clock import SYSTEM_CLOCK, Clock
from cme_shared.retention import disposal_parts

from ..adapters.tables import kit
from ..adapters.unit_of_work import RightsUnitOfWork
from ..domain.collection import CollectionPolicy
from ..service_layer import retention
from ..service_layer.retention import RightsDisposalReport
from ..settings import RightsSettings


async def run(settings: RightsSettings, policy: CollectionPolicy, *, as_of: date | None = None,
              dry_run: bool = False, clock: Clock = SYSTEM_CLOCK, database_url: str | None = None) -> RightsDisposalReport:
    """One disposal run (or dry run) on the disposal login; the report of what it did (or would do)."""
    schedule = settings.retention_schedule()
    async with disposal_parts(settings, kit, clock, database_url) as parts:
        uow = RightsUnitOfWork(**parts.unit_of_work(), policy=policy, schedule=schedule)
        async with uow:
            done = await retention.dispose(uow, as_of, dry_run=dry_run)
            if not dry_run:
                await uow.commit()
    return done


def summary(report: RightsDisposalReport) -> str:
    """The report for a person: counts, then one line per record (ids, codes and dates only)."""
    verb = "would dispose of" if report.dry_run else "disposed of"
    lines: list[Any] = [f"rights: schedule {report.schedule_id}, as of {report.as_of}: {verb} "
                        f"{len(report.disposed)} request(s); {len(report.held)} kept by a legal hold (run {report.run_id})"]
    lines += [f"  {'due' if report.dry_run else 'disposed'} {r.record_type} {r.record_id} rule {r.rule_id} "
              f"(from {r.clock_started_on}, due {r.due_on})" for r in report.disposed]
    lines += [f"  held {r.record_type} {r.record_id} rule {r.rule_id} (due {r.due_on}) by "
              + ", ".join(str(h) for h in r.held_by) for r in report.held]
    lines += [f"  not disposed of {a.record_type} {a.record_id}: {a.code} (its row and its history disagree)"
              for a in report.anomalies]
    return "\n".join(lines)
