"""Builders shared by casework's tests: accepted referrals as intake sends them, evidence, running stacks."""

import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

import cme_casework
from cme_casework.adapters.unit_of_work import CaseworkUnitOfWork
from cme_casework.app import create_app
from cme_casework.service_layer.referrals import act_on_referral
from cme_casework.settings import CaseworkSettings
from cme_shared.contracts.events import ReferralAccepted
from cme_shared.contracts.referrals import Borough, Flags, NotificationKind, SourceType
from cme_shared.contracts.topics import TopicNames
from cme_shared.ops import ensure_topics
from cme_shared.testing.fixtures import Databases, bearer, running, service_settings

LONDON = ZoneInfo("Europe/London")


def referral_event(*, child: uuid.UUID | None = None, kind: str = "deletion_from_roll", ground: str | None = "9(1)(i)",
                   received_on: date = date(2026, 11, 16), borough: str | None = "westminster",
                   source: str = "school", sex: str = "female", dob: date | None = date(2014, 3, 10),
                   destination: tuple[str, date] | None = None, flags: dict[str, bool] | None = None,
                   concern: bool = False, deletion_date: date | None = None, upn: str | None = None,
                   carers: list[uuid.UUID] | None = None, last_attended: date | None = None,
                   possible_matches: list[uuid.UUID] | None = None) -> ReferralAccepted:
    """A ReferralAccepted as intake publishes it; received at 10:00 London time on `received_on`."""
    return ReferralAccepted(
        event_id=uuid.uuid4(), occurred_at=datetime.now(UTC), intake_id=uuid.uuid4(),
        referral_id=f"ref-{uuid.uuid4().hex[:8]}", source_type=SourceType(source),
        source_org_id="100001" if source == "school" else None,
        source_org_name="Hallfield Primary School" if source == "school" else None,
        received_at=datetime.combine(received_on, time(10), LONDON), borough=Borough(borough) if borough else None,
        notification_kind=NotificationKind(kind), deletion_ground=ground if kind == "deletion_from_roll" else None,
        deletion_date=deletion_date, destination_school_urn=destination[0] if destination else None,
        destination_start_date=destination[1] if destination else None, child_subject_id=child or uuid.uuid4(),
        carer_subject_ids=carers or [], child_sex=sex, child_date_of_birth=dob, child_upn=upn,
        flags=Flags(**flags) if flags else None, safeguarding_concern=concern, last_attended_on=last_attended,
        possible_match_subject_ids=possible_matches or [],
    )


@pytest.fixture
def make_referral() -> Callable[..., ReferralAccepted]:
    return referral_event


def evidence_for(reason: str, **overrides: Any) -> dict[str, Any]:
    """Complete, valid evidence for each closure reason (tests remove or change one piece at a time)."""
    base: dict[str, dict[str, Any]] = {
        "on_roll_elsewhere": {"school_urn": "123456", "start_date": "2026-11-20", "confirmed_by": "admissions"},
        "elective_home_education_suitable": {"assessed_on": "2026-11-20", "assessed_by": "EHE adviser",
                                             "confirmed_by": "EHE team"},
        "left_england": {"kind": "home_office_border_force", "received_on": "2026-11-20", "reference": "HO-1",
                         "confirmed_by": "Home Office"},
        "transferred_to_another_la": {"la_code": "202", "la_name": "Camden", "accepted_on": "2026-11-20",
                                      "confirmed_by": "Camden CME officer"},
        "alternative_provision": {"provider": "Harbour AP", "start_date": "2026-11-20", "confirmed_by": "AP lead"},
        "over_compulsory_school_age": {"date_of_birth": "2009-06-01", "confirmed_by": "birth certificate seen"},
        "deceased": {"date_of_death": "2026-11-20", "confirmed_by": "registrar"},
        "in_custody": {"establishment": "Cookham Wood", "since": "2026-11-20", "confirmed_by": "youth justice"},
        "duplicate_or_not_cme": {"not_cme_explanation": "on roll and attending at the same school",
                                 "confirmed_by": "school attendance officer"},
        "untraced_enquiries_exhausted": {"lost_pupil_reference": "S2S-LOST-9", "uploaded_on": "2026-11-20",
                                         "recheck_on": "2027-02-20", "confirmed_by": "CME officer"},
    }
    return {**base[reason], **overrides}


@pytest.fixture
def evidence() -> Callable[..., dict[str, Any]]:
    return evidence_for


# --- Integration support: the service on the real broker and a throw-away database ---------------

MIGRATIONS = Path(cme_casework.__file__).parent / "migrations"


@dataclass
class Stack:
    """A running casework service: its HTTP client, settings, topic names and database URL."""

    client: httpx.AsyncClient
    app: FastAPI
    settings: CaseworkSettings
    topics: TopicNames
    database_url: str

    def headers(self, *roles: str, **claims: Any) -> dict[str, str]:
        return bearer(self.settings, *roles, **claims)

    @property
    def runtime(self) -> Any:
        return self.app.state.runtime

    def unit_of_work(self) -> CaseworkUnitOfWork:
        """The service's own unit of work (its repositories, its clock policy), as a route opens one."""
        return self.runtime.unit_of_work()  # type: ignore[no-any-return]

    async def referral(self, event: ReferralAccepted) -> uuid.UUID | None:
        """Take a referral straight through the service layer (what the Kafka subscriber does)."""
        async with self.unit_of_work() as uow:
            case_id = await act_on_referral(uow, event)
            await uow.commit()
        return case_id


@asynccontextmanager
async def casework_stack(infra: Any, databases: Databases, names: TopicNames, **overrides: Any) -> AsyncIterator[Stack]:
    url = await databases.create("casework", MIGRATIONS)
    settings = service_settings(CaseworkSettings, infra, names, url, **overrides)
    app = create_app(settings)
    async with running(app) as client:
        yield Stack(client, app, settings, names, url)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_stack(infra: Any) -> AsyncIterator[Stack]:
    """One service for a whole module of HTTP tests (each test makes its own cases)."""
    databases = Databases(infra)
    names = TopicNames(f"t{secrets.token_hex(4)}.")
    await ensure_topics(infra.kafka, names.all_with_dlqs())
    try:
        async with casework_stack(infra, databases, names) as stack:
            yield stack
    finally:
        await databases.drop_all()


@pytest_asyncio.fixture
async def stack(infra: Any, databases: Databases, namespace: TopicNames) -> AsyncIterator[Stack]:
    """A service of its own for one test: its own database and topics."""
    async with casework_stack(infra, databases, namespace) as running_stack:
        yield running_stack
