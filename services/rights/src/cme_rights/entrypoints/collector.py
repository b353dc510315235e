"""The background task that keeps data collections moving: re-asks late services, gives up on silent ones,
(less often) deletes the collected answers of requests released long enough ago (SEC-18), and every
`CME_BACKLOG_METRICS_SECONDS` counts the requests overdue or near their due date for /metrics
(adapters/backlog_metrics.py).

It runs inside the service (started with the app, stopped with it) and holds no state of its own: every
ask, try and answer is in the database, so after a restart it carries on where the last process stopped.
Several replicas may run it; each ask is worked by one of them at a time (row locks, SKIP LOCKED), and
pruning twice deletes nothing more.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator

from cme_shared.logging import get_logger
from cme_shared.runtime import ServiceRuntime

from ..adapters import backlog_metrics
from ..service_layer.collection import prune_chunks, sweep
from ..settings import RightsSettings

log = get_logger(__name__)


async def sweep_once(runtime: ServiceRuntime) -> int:
    async with runtime.unit_of_work() as uow:
        moved = await sweep(uow)
        await uow.commit()
    return moved


async def prune_once(runtime: ServiceRuntime) -> int:
    async with runtime.unit_of_work() as uow:
        pruned = await prune_chunks(uow)
        await uow.commit()
    return pruned


async def run(runtime: ServiceRuntime, settings: RightsSettings) -> None:
    loop = asyncio.get_running_loop()
    next_prune = next_count = loop.time()
    while True:
        if loop.time() >= next_count:  # apart from the sweep, so that a failing sweep does not stop the counts
            try:
                await backlog_metrics.refresh(runtime.engine, runtime.clock.today())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: the last counts stand until the next round
                log.warning("backlog_metrics_failed", error_type=type(exc).__name__)
            next_count = loop.time() + settings.backlog_metrics_seconds
        try:
            await sweep_once(runtime)
            if loop.time() >= next_prune:
                await prune_once(runtime)
                next_prune = loop.time() + settings.chunk_prune_interval_seconds
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database is away: try again at the next round
            log.warning("collection_sweep_failed", error_type=type(exc).__name__)
        await asyncio.sleep(settings.collection_poll_seconds)


@contextlib.asynccontextmanager
async def running(runtime: ServiceRuntime, settings: RightsSettings) -> AsyncIterator[None]:
    task = asyncio.create_task(run(runtime, settings), name="rights-collection-sweep")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
