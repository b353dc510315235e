"""Receiving a referral: the same steps whether it came over Kafka, the partner API or the public form.

Everything a referral causes (the stored referral, the identity index, sealed third-party details, its
outcome, the event for casework) is written in one transaction; the outcome and event leave through the
outbox after it commits, so a crash anywhere leaves either all of it or none of it.

A referral from the public form is stored and answered the same way, but its event for casework is held
(`held_referrals`) until someone who sees it accepts it (`accept_held`; intake's one visibility rule: an
officer of its borough, a manager; one with no borough, on the triage list, a manager): then it leaves as it
would have, and the acceptance is kept (`referral_acceptances`).
"""

import base64
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic_core import from_json
from sqlalchemy import Text, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession

from cme_shared.contracts import topics
from cme_shared.contracts.categories import field_categories
from cme_shared.contracts.events import ReferralAccepted
from cme_shared.contracts.referrals import (
    Borough,
    Child,
    Problem,
    Referral,
    ReferralOutcome,
    SourceType,
    Status,
)
from cme_shared.contracts.rights import ThirdPartyReason
from cme_shared.contracts.topics import TopicNames
from cme_shared.messaging import deferred
from cme_shared.messaging.outbox import AGGREGATE_KEY, Outbox

from ..adapters.sealing import Seal
from ..adapters.tables import (
    held_referrals,
    referral_acceptances,
    referrals,
    rejected_messages,
    third_party_details,
)
from ..domain import referrals as rules
from ..domain.identifiers import compact_upn
from ..domain.validation import assess, problem
from . import identity_index
from .visibility import Scope

CHILD_CATEGORIES = {f"child.{k}": v for k, v in field_categories(Child).items()}

# Built once, not per referral (building a statement costs more Python than running it).
_EXISTING = (select(referrals.c.intake_id, referrals.c.child_subject_id)
             .where(referrals.c.idempotency_key == bindparam("key")))
_EXISTING_MANY = (select(referrals.c.idempotency_key, referrals.c.intake_id, referrals.c.child_subject_id)
                  .where(referrals.c.idempotency_key == any_(bindparam("keys", type_=ARRAY(Text)))))
_INSERT_REFERRAL = insert(referrals)
_INSERT_THIRD_PARTY = insert(third_party_details)
_INSERT_HELD = insert(held_referrals)
# session.info: idempotency key -> (intake id, child subject id) of the referrals this transaction holds back
# for one insert at its end (the kit's deferred inserts), for the duplicate check to find.
_HELD_REFERRALS = "intake_referrals_held"
_KNOWN_KEYS = "intake_referral_keys_known"  # session.info: idempotency key -> a stored referral's ids, or None

# A partner's record key echoed on its outcome at most this long (any longer: keyed by the referral instead).
MAX_ECHOED_KEY_BYTES = 1024


class ReferralNotFound(Exception):
    """No such referral, or one of a borough the officer does not act in (the same answer)."""


class NotHeld(Exception):
    """The referral did not come through the public form: it went to casework when it arrived."""


class AlreadyAccepted(Exception):
    """An officer has accepted this referral already."""


@dataclass(frozen=True)
class Acceptance:
    intake_id: uuid.UUID
    accepted_by: str
    accepted_at: datetime
    borough: str | None


class ReferralReception:
    def __init__(self, outbox: Outbox, topic_names: TopicNames, seal: Seal,
                 districts: Mapping[str, Borough] = rules.DEFAULT_POSTCODE_DISTRICTS) -> None:
        self._outbox = outbox
        self._topics = topic_names
        self._seal = seal
        self._districts = districts

    @property
    def seal(self) -> Seal:
        return self._seal

    async def prepare_batch(self, session: AsyncSession, batch: list[Referral]) -> None:
        """For a batch holding the identity-index lock: look up at once which of its referrals were received
        before, for `receive` to answer the duplicate check from on the batch's fast path (no one else can
        store a referral while the lock is held; the referrals the batch itself stores are `held`)."""
        keys = list({rules.idempotency_key(rules.without_nul_characters(referral)[0]) for referral in batch})
        found = {row.idempotency_key: (row.intake_id, row.child_subject_id)
                 for row in await session.execute(_EXISTING_MANY, {"keys": keys})}
        session.info[_KNOWN_KEYS] = {key: found.get(key) for key in keys}

    async def receive(
        self, session: AsyncSession, referral: Referral, *, raw: bytes, key: bytes | None, channel: str
    ) -> ReferralOutcome:
        now = datetime.now(UTC)
        referral, replaced = rules.without_nul_characters(referral)
        idempotency_key = rules.idempotency_key(referral)
        org_id = rules.org_id(referral)
        # Taken before the duplicate check: the same referral arriving twice at once is one referral.
        await identity_index.lock(session)
        held: dict[str, tuple[uuid.UUID, uuid.UUID]] | None = None
        known: dict[str, tuple[uuid.UUID, uuid.UUID] | None] = {}
        if deferred.active(session):  # a batch's fast path: see `prepare_batch`
            held = session.info.setdefault(_HELD_REFERRALS, {})
            known = session.info.get(_KNOWN_KEYS, {})
        if held and idempotency_key in held:
            existing = held[idempotency_key]
        elif idempotency_key in known:
            existing = known[idempotency_key]
        else:
            existing = (await session.execute(_EXISTING, {"key": idempotency_key})).first()
        if existing is not None:
            outcome = ReferralOutcome(
                referral_id=referral.referral_id, source_org_id=org_id, status=Status.DUPLICATE,
                intake_id=existing[0], child_subject_id=existing[1], processed_at=now,
            )
            await self._publish_outcome(session, outcome, key)
            return outcome

        intake_id = uuid.uuid4()
        assessment = assess(referral)
        warnings = [problem(loc, "nul_character_replaced") for loc in replaced] + assessment.warnings
        borough = rules.decide_borough(referral, self._districts)
        source = rules.source_label(referral.source.type, org_id, referral.source.org_name)
        notification = referral.notification
        child = await identity_index.record_child(
            session, referral.child, intake_id=intake_id, source=source, borough=borough,
            future_address=notification.future_address, future_address_from=notification.future_address_from,
        )
        carers = [
            await identity_index.record_carer(
                session, carer, child=referral.child, child_subject_id=child.subject_id, intake_id=intake_id,
                source=source, borough=borough,
            )
            for carer in referral.carers
        ]
        contact = rules.referrer_contact(referral)
        keep_raw = rules.keeps_raw_in_clear(referral)
        # Nothing reads the referral row back in this transaction except the duplicate check above, which
        # also looks at the referrals held: in a batch it is written with the batch's other referrals.
        if held is not None:
            held[idempotency_key] = (intake_id, child.subject_id)
        await deferred.insert(session, _INSERT_REFERRAL, dict(
            intake_id=intake_id, idempotency_key=idempotency_key, referral_id=referral.referral_id,
            source_type=referral.source.type.value, source_org_id=org_id,
            borough=borough.value if borough else None, child_subject_id=child.subject_id,
            carer_subject_ids=[c.subject_id for c in carers], payload=rules.stored_payload(referral),
            raw=raw if keep_raw else None, warnings=[w.model_dump() for w in warnings],
            missing_return_fields=assessment.missing_return_fields, channel=channel,
            submitted_at=referral.submitted_at,
        ))
        if contact is not None:
            reason = (ThirdPartyReason.PUBLIC_REFERRER if referral.source.type is SourceType.PUBLIC
                      else ThirdPartyReason.OTHER_CARER)
            await deferred.insert(session, _INSERT_THIRD_PARTY, dict(
                detail_id=uuid.uuid4(), intake_id=intake_id, reason=reason.value,
                # The received bytes name the referrer too: they are kept only inside the seal.
                sealed=self._seal.seal({"contact": contact, "raw": base64.b64encode(raw).decode()}),
            ))

        outcome = ReferralOutcome(
            referral_id=referral.referral_id, source_org_id=org_id, status=Status.ACCEPTED,
            intake_id=intake_id, child_subject_id=child.subject_id, warnings=warnings,
            processed_at=now,
        )
        await self._publish_outcome(session, outcome, key)
        new_address_from = notification.future_address_from if notification.future_address else None
        event = ReferralAccepted(
            event_id=uuid.uuid4(), occurred_at=now, intake_id=intake_id,
            referral_id=referral.referral_id, source_type=referral.source.type,
            source_org_id=org_id,
            # A member of the public or a parent is a third party: their details stay in intake.
            source_org_name=None if rules.has_private_referrer(referral) else referral.source.org_name,
            received_at=now, borough=borough, notification_kind=notification.kind,
            deletion_ground=notification.deletion_ground, deletion_date=notification.deletion_date,
            destination_school_urn=notification.destination_school_urn,
            destination_start_date=notification.destination_start_date,
            child_subject_id=child.subject_id, carer_subject_ids=[c.subject_id for c in carers],
            child_sex=referral.child.sex.value, child_date_of_birth=referral.child.date_of_birth,
            # As received (compacted): a UPN with a warning still helps an officer find the case.
            child_upn=compact_upn(referral.child.upn) if referral.child.upn else None,
            flags=referral.child.flags,
            safeguarding_concern=bool(referral.safeguarding and referral.safeguarding.concern),
            warnings=[w.code for w in warnings],
            data_categories=CHILD_CATEGORIES,
            last_attended_on=notification.last_attended_on,
            incomplete_return=assessment.incomplete_return,
            missing_return_fields=assessment.missing_return_fields,
            possible_match_subject_ids=child.possible_subject_ids,
            new_address_from=new_address_from,
            new_address_borough=rules.borough_of(notification.future_address, self._districts)
            if notification.future_address else None,
        )
        if rules.waits_for_officer(channel):
            # Kept as it will be published; it leaves when an officer accepts the referral (`accept_held`).
            await deferred.insert(session, _INSERT_HELD, dict(
                intake_id=intake_id, reason=rules.HELD_FOR_OFFICER, event=event.model_dump(mode="json")))
        else:
            await self._publish_accepted(session, event)
        return outcome

    async def accept_held(
        self, session: AsyncSession, intake_id: uuid.UUID, *, accepted_by: str, role: str,
        scope: Scope, borough: Borough | None, reason: str | None,
    ) -> Acceptance:
        """An officer accepts a held referral: the event for casework leaves now, once, and who accepted it
        (as which role, from which borough, why) is kept. `scope`: what the officer sees (a referral they
        do not see is not found)."""
        row = (await session.execute(
            select(referrals.c.borough, held_referrals.c.event)
            .join(held_referrals, held_referrals.c.intake_id == referrals.c.intake_id, isouter=True)
            .where(referrals.c.intake_id == intake_id)
        )).first()
        if row is None or not scope.sees(row.borough):
            raise ReferralNotFound
        if row.event is None:
            raise NotHeld
        # One acceptance per referral (the primary key), however many officers press at once; the table is
        # append-only, so the first insert decides and a second finds its row taken.
        accepted = (await session.execute(
            insert(referral_acceptances)
            .values(intake_id=intake_id, accepted_by=accepted_by, role=role,
                    borough=borough.value if borough else None, reason=reason)
            .on_conflict_do_nothing()
            .returning(referral_acceptances.c.accepted_at)
        )).first()
        if accepted is None:
            raise AlreadyAccepted
        event = ReferralAccepted.model_validate(row.event)
        # As it would be sent today: a subject merged meanwhile is named by the subject that now stands for it.
        await self._publish_accepted(session, event.model_copy(update={
            "occurred_at": datetime.now(UTC),
            "child_subject_id": await identity_index.canonical(session, event.child_subject_id),
            "carer_subject_ids": [await identity_index.canonical(session, c) for c in event.carer_subject_ids],
        }))
        return Acceptance(intake_id=intake_id, accepted_by=accepted_by, accepted_at=accepted.accepted_at,
                          borough=row.borough)

    async def _publish_accepted(self, session: AsyncSession, event: ReferralAccepted) -> None:
        await self._outbox.add(session, topic=self._topics(topics.REFERRAL_ACCEPTED), event=event,
                               aggregate_type="child", aggregate_id=str(event.child_subject_id))

    async def reject(
        self, session: AsyncSession, *, message_id: str, raw: bytes, key: bytes | None, channel: str,
        problems: list[Problem],
    ) -> ReferralOutcome:
        referral_id, org_id = _identifiers_if_any(raw)
        # An unknown field's name is quoted in `loc`; it may hold U+0000, which the database refuses.
        stored = [
            {"loc": [rules.text_safe(part) if isinstance(part, str) else part for part in p.loc],
             "code": p.code, "message": rules.text_safe(p.message)}
            for p in problems
        ]
        await session.execute(
            insert(rejected_messages)
            .values(message_id=message_id, channel=channel, errors=stored)
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
            aggregate_id=rules.text_safe(f"{outcome.source_org_id}:{outcome.referral_id}"),
            # Keyed like the input (CONTRACT section 3), unless the partner's key is so large that the outcome
            # would not fit in a record: then by the referral, so that the partner still hears back.
            key=key if key is None or len(key) <= MAX_ECHOED_KEY_BYTES else AGGREGATE_KEY,
        )


def _identifiers_if_any(raw: bytes) -> tuple[str | None, str | None]:
    """Best effort, for a rejected message's outcome: its referral_id and source.org_id if readable."""
    try:  # jiter, depth-limited: Python's json module recursed until RecursionError on deep input
        document = from_json(raw)
    except ValueError:
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
