"""Receiving a referral: the same steps whether it came over Kafka or HTTP.

Everything a referral causes (the stored referral, its outcome, the event for casework) is written in
one transaction; the outcome and event leave through the outbox after it commits.
"""

import json
import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from cme_shared.contracts import topics
from cme_shared.contracts.categories import field_categories
from cme_shared.contracts.events import ReferralAccepted
from cme_shared.contracts.referrals import Child, Problem, Referral, ReferralOutcome, SourceType, Status
from cme_shared.contracts.topics import TopicNames
from cme_shared.messaging.outbox import Outbox

from ..adapters.tables import referrals, rejected_messages
from ..domain.referrals import decide_borough, idempotency_key

CHILD_CATEGORIES = {f"child.{k}": v for k, v in field_categories(Child).items()}


class ReferralReception:
    def __init__(self, outbox: Outbox, topic_names: TopicNames) -> None:
        self._outbox = outbox
        self._topics = topic_names

    async def receive(
        self, session: AsyncSession, referral: Referral, *, raw: bytes, key: bytes | None, channel: str
    ) -> ReferralOutcome:
        now = datetime.now(UTC)
        intake_id = uuid.uuid4()
        child_subject_id = uuid.uuid4()  # the identity index proper arrives with issue 3
        borough = decide_borough(referral)
        warnings: list[Problem] = []
        inserted = await session.execute(
            insert(referrals)
            .values(
                intake_id=intake_id,
                idempotency_key=idempotency_key(referral),
                referral_id=referral.referral_id,
                source_type=referral.source.type.value,
                source_org_id=referral.source.org_id,
                borough=borough.value if borough else None,
                child_subject_id=child_subject_id,
                payload=json.loads(referral.model_dump_json()),
                raw=raw,
                warnings=[w.model_dump() for w in warnings],
                channel=channel,
            )
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(referrals.c.intake_id)
        )
        if inserted.first() is None:
            existing = (
                await session.execute(
                    select(referrals.c.intake_id, referrals.c.child_subject_id).where(
                        referrals.c.idempotency_key == idempotency_key(referral)
                    )
                )
            ).one()
            outcome = ReferralOutcome(
                referral_id=referral.referral_id, source_org_id=referral.source.org_id,
                status=Status.DUPLICATE, intake_id=existing.intake_id,
                child_subject_id=existing.child_subject_id, processed_at=now,
            )
            await self._publish_outcome(session, outcome, key)
            return outcome

        outcome = ReferralOutcome(
            referral_id=referral.referral_id, source_org_id=referral.source.org_id, status=Status.ACCEPTED,
            intake_id=intake_id, child_subject_id=child_subject_id, warnings=warnings, processed_at=now,
        )
        await self._publish_outcome(session, outcome, key)
        notification = referral.notification
        await self._outbox.add(
            session,
            topic=self._topics(topics.REFERRAL_ACCEPTED),
            event=ReferralAccepted(
                event_id=uuid.uuid4(), occurred_at=now, intake_id=intake_id,
                referral_id=referral.referral_id, source_type=referral.source.type,
                source_org_id=referral.source.org_id,
                # A member of the public is a third party: their organisation-less details stay here.
                source_org_name=None if referral.source.type in (SourceType.PUBLIC, SourceType.PARENT)
                else referral.source.org_name,
                received_at=now, borough=borough, notification_kind=notification.kind,
                deletion_ground=notification.deletion_ground, deletion_date=notification.deletion_date,
                destination_school_urn=notification.destination_school_urn,
                destination_start_date=notification.destination_start_date,
                child_subject_id=child_subject_id, child_sex=referral.child.sex.value,
                child_date_of_birth=referral.child.date_of_birth, child_upn=referral.child.upn,
                flags=referral.child.flags,
                safeguarding_concern=bool(referral.safeguarding and referral.safeguarding.concern),
                warnings=[w.code for w in warnings],
                data_categories=CHILD_CATEGORIES,
            ),
            aggregate_type="child",
            aggregate_id=str(child_subject_id),
        )
        return outcome

    async def reject(
        self, session: AsyncSession, *, message_id: str, raw: bytes, key: bytes | None, channel: str,
        problems: list[Problem],
    ) -> ReferralOutcome:
        referral_id, org_id = _identifiers_if_any(raw)
        await session.execute(
            insert(rejected_messages)
            .values(message_id=message_id, channel=channel, errors=[p.model_dump() for p in problems])
            .on_conflict_do_nothing()
        )
        outcome = ReferralOutcome(
            referral_id=referral_id, source_org_id=org_id, status=Status.REJECTED, errors=problems,
            processed_at=datetime.now(UTC),
        )
        await self._publish_outcome(session, outcome, key)
        return outcome

    async def _publish_outcome(self, session: AsyncSession, outcome: ReferralOutcome, key: bytes | None) -> None:
        await self._outbox.add(
            session,
            topic=self._topics(topics.REFERRAL_OUTCOMES),
            event=outcome,
            aggregate_type="referral",
            aggregate_id=f"{outcome.source_org_id}:{outcome.referral_id}",
            key=key,
        )


def _identifiers_if_any(raw: bytes) -> tuple[str | None, str | None]:
    """Best effort, for a rejected message's outcome: its referral_id and source.org_id if readable."""
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None, None
    if not isinstance(document, dict):
        return None, None
    referral_id = document.get("referral_id")
    source = document.get("source")
    org_id = source.get("org_id") if isinstance(source, dict) else None
    return (
        referral_id if isinstance(referral_id, str) and len(referral_id) <= 64 else None,
        org_id if isinstance(org_id, str) and len(org_id) <= 64 else None,
    )
