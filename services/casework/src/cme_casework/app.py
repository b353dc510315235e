"""create_app(): casework's HTTP API and Kafka subscribers on the shared runtime, and the task that counts
overdue cases for /metrics."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from pydantic import RootModel

from cme_shared.asyncapi import ChannelDoc, build_document
from cme_shared.contracts import topics
from cme_shared.contracts.cases import CaseChanged
from cme_shared.contracts.events import ReferralAccepted
from cme_shared.contracts.retention import LegalHoldChanged, RecordsDisposed
from cme_shared.contracts.rights import (
    DataCollectionReply,
    DataCollectionRequest,
    FactualRectification,
    RectificationApplied,
    RestrictionLifted,
    SubjectRestricted,
)
from cme_shared.contracts.shares import ShareMade
from cme_shared.http.app import create_service_app
from cme_shared.runtime import ServiceRuntime

from .adapters import backlog_metrics
from .adapters.calendars import load_calendars
from .adapters.term_dates_health import HEALTH
from .adapters.tables import kit
from .adapters.unit_of_work import CaseworkUnitOfWork
from .domain.clocks import BoroughClock, ClockPolicy
from .domain.ehe import EheRules
from .entrypoints import http, kafka, retention_routes
from .settings import CaseworkSettings


class RightsEventsCaseworkReads(RootModel[SubjectRestricted | RestrictionLifted | FactualRectification]):
    """The kinds of `cme.rights.events.v1` casework acts on; it ignores every other kind."""


class RepliesCaseworkSends(RootModel[DataCollectionReply | RectificationApplied]):
    """Casework's data for a collection (in chunks, the last with total_items), and rectifications applied."""


CHANNELS = [
    ChannelDoc(topics.REFERRAL_ACCEPTED, "receive", "Accepted referrals from intake.", ReferralAccepted,
               key="child subject id"),
    ChannelDoc(topics.RIGHTS_EVENTS, "receive", "Restriction and factual rectification from rights.",
               RightsEventsCaseworkReads, key="rights request id"),
    ChannelDoc(topics.DATA_COLLECTION_REQUESTS, "receive", "Subject access data collection (kind data_collection; "
               "other kinds are ignored).", DataCollectionRequest, key="collection id"),
    ChannelDoc(topics.replies_of("casework"), "send", "Data collection replies and rectifications applied.",
               RepliesCaseworkSends, key="collection id / rights request id"),
    ChannelDoc(topics.SHARE_EVENTS, "send", "Shares casework made (each approved by a manager who did not propose "
               "it), for the disclosure log.", ShareMade, key="child subject id"),
    ChannelDoc(topics.CASE_EVENTS, "send", "A case opened, changed state or closed (ids and codes only).",
               CaseChanged, key="case id"),
    ChannelDoc(topics.RETENTION_DISPOSALS, "send", "Records casework disposed of under the retention schedule (ids, "
               "codes and dates; the referrals they drew on, for intake), written by `dispose`, sent by the relay.",
               RecordsDisposed, key="record type:record id"),
    *(ChannelDoc(topics.LEGAL_HOLDS, action, "Legal holds on a subject or a case placed or lifted in any service "
                 "(ids, codes and who; the reason stays where it was given): casework sends its own and keeps the "
                 "others' (its own coming back are ignored).", LegalHoldChanged, key="hold id")
      for action in ("send", "receive")),
]

def clock_policy(settings: CaseworkSettings) -> ClockPolicy:
    boroughs = {borough.value: BoroughClock(**own.model_dump()) for borough, own in settings.borough_clocks.items()}
    return ClockPolicy(settings.first_enquiries_school_days, settings.review_school_days,
                       load_calendars(settings.term_dates_file),
                       escalation_working_days=settings.escalation_working_days, boroughs=boroughs, ground_a_start_gap_school_days=settings.ground_a_start_gap_school_days,
                       untraced_min_agencies=settings.untraced_min_agencies)


def ehe_rules(settings: CaseworkSettings) -> EheRules:
    return EheRules(settings.ehe_enquiry_working_days, settings.ehe_response_working_days,
                    settings.ehe_assessment_working_days, settings.ehe_s437_working_days,
                    settings.ehe_s438_working_days, settings.ehe_review_months)


def create_app(settings: CaseworkSettings | None = None) -> FastAPI:
    settings = settings or CaseworkSettings()
    runtime = ServiceRuntime(settings, kit)
    policy = clock_policy(settings)
    schedule = settings.retention_schedule()  # a file that does not validate stops the service here
    rules = ehe_rules(settings)
    runtime.make_unit_of_work = lambda: CaseworkUnitOfWork(**runtime.unit_of_work_parts(), policy=policy,
                                                           ehe_rules=rules, cnis_register=settings.casework_cnis_register,
                                                           schedule=schedule)
    HEALTH.watch(policy.calendars, settings.term_dates_warning_days, runtime.clock.today)
    kafka.subscribe(runtime)
    app = create_service_app(
        runtime,
        title="CME casework",
        description="Cases on the statutory clock, enquiries, escalation, closure, records as they happened.",
        routers=[http.router(runtime), retention_routes.router(runtime)],
        asyncapi=lambda: build_document("CME casework", "1.0.0", "Topics casework uses.", CHANNELS,
                                        runtime.topics, settings.kafka_bootstrap),
    )
    # The overdue-cases gauge is counted inside the app's lifespan, after the runtime started.
    runtime_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[None]:
        async with runtime_lifespan(application), backlog_metrics.running(
                runtime.engine, runtime.clock.today, settings.backlog_metrics_seconds):
            yield

    app.router.lifespan_context = lifespan
    return app
