"""Any of the four services, built on a throw-away database and served by uvicorn as `serve` configures it
(`cli.server_options`), in the test's own event loop: HTTP over a real socket, and the app's state at hand."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, time
from importlib import import_module
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import uvicorn
from fastapi import FastAPI

from ..cli import server_options
from ..contracts.events import ReferralAccepted
from ..contracts.referrals import Borough, NotificationKind, SourceType
from ..contracts.topics import TopicNames
from ..settings import ServiceSettings
from .fixtures import Databases, service_settings
from .infra import Infra

SERVICES = ("intake", "casework", "disclosure", "rights")


def migrations_of(service: str) -> Path:
    return Path(import_module(f"cme_{service}").__file__).parent / "migrations"


def settings_class(service: str) -> type[ServiceSettings]:
    module = import_module(f"cme_{service}.settings")
    return next(value for name, value in vars(module).items()
                if isinstance(value, type) and issubclass(value, ServiceSettings) and value is not ServiceSettings)


async def service_app(service: str, infra: Infra, databases: Databases, names: TopicNames, tmp_path: Path,
                      **overrides: Any) -> tuple[FastAPI, Any]:
    """The service's app and settings on a fresh migrated database; port 0 (any free one) to serve it."""
    url = await databases.create(service, migrations_of(service))
    if service == "disclosure":
        overrides.setdefault("log_signing_key_file", tmp_path / f"{service}-log-ed25519.pem")
    settings = service_settings(settings_class(service), infra, names, url, http_port=0, **overrides)
    return import_module(f"cme_{service}.app").create_app(settings), settings


@asynccontextmanager
async def serving(app: FastAPI, settings: ServiceSettings) -> AsyncIterator[str]:
    """The app behind uvicorn on this loop (lifespan included); yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, **server_options(settings)))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def accepted_referral(date_of_birth: date = date(2015, 6, 14)) -> ReferralAccepted:
    """A Westminster school's deletion from roll as intake publishes it: what opens a case in casework."""
    return ReferralAccepted(
        event_id=uuid.uuid4(), occurred_at=datetime.now(UTC), intake_id=uuid.uuid4(),
        referral_id=f"ref-{uuid.uuid4().hex[:8]}", source_type=SourceType.SCHOOL, source_org_id="100001",
        source_org_name="Hallfield Primary School",
        received_at=datetime.combine(date(2026, 11, 16), time(10), ZoneInfo("Europe/London")),
        borough=Borough.WESTMINSTER, notification_kind=NotificationKind.DELETION_FROM_ROLL, deletion_ground="9(1)(i)",
        child_subject_id=uuid.uuid4(), carer_subject_ids=[], child_sex="female", child_date_of_birth=date_of_birth,
    )
