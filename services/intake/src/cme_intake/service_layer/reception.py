"""Receiving a referral: the same steps whether it came over Kafka, the partner API or the public form.

Everything a referral causes (the stored referral, the identity index, sealed third-party details, its
outcome, the event for casework) is written in one unit of work; the outcome and event leave through the
outbox after it commits, so a crash anywhere leaves either all of it or none of it. What is decided about
the referral is the domain's (`domain.reception`); this module asks the index and writes.

A referral from the public form is stored and answered the same way, but its event for casework is held
(`held_referrals`) until someone who sees it accepts it (`accept_held`; intake's one visibility rule: an
officer of its borough, a manager; one with no borough, on the triage list, a manager): then it leaves as it
would have, and the acceptance is kept (`referral_acceptances`).
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from cme_shared.contracts import topics
from cme_shared.contracts.events import ReferralAccepted
from cme_shared.contracts.referrals import Borough, Problem, Referral, ReferralOutcome
from cme_shared.messaging.consumer import Delivery, by_position, write_dead_letter
from cme_shared.messaging.outbox import AGGREGATE_KEY
from cme_shared.refusal import Refusal

from ..adapters.sealing import SEALED_HEADER, SEALED_HEADER_VALUE
from ..domain.reception import arrival, decide, duplicate_outcome, outcome_aggregate, rejected_outcome
from ..domain.referrals import PUBLIC_FORM_CHANNEL, idempotency_key, without_nul_characters
from ..visibility import Scope
from . import identity_index

if TYPE_CHECKING:
    from ..adapters.unit_of_work import IntakeUnitOfWork

# A partner's record key echoed on its outcome at most this long (any longer: keyed by the referral instead).
MAX_ECHOED_KEY_BYTES = 1024


class ReferralNotFound(Refusal):
    """No such referral, or one of a borough the officer does not act in (the same answer, so nothing leaks)."""

    def __init__(self) -> None:
        super().__init__(404, "not_found", "no such referral", ["intake_id"])


class NotHeld(Refusal):
    """The referral did not come through the public form: it went to casework when it arrived."""

    def __init__(self) -> None:
        super().__init__(409, "not_held", "this referral did not wait for acceptance: it went on when it arrived",
                         ["intake_id"])


class AlreadyAccepted(Refusal):
    def __init__(self) -> None:
        super().__init__(409, "already_accepted", "an officer has accepted this referral already", ["intake_id"])


@dataclass(frozen=True)
class Acceptance:
    intake_id: uuid.UUID
    accepted_by: str
    accepted_at: datetime
    borough: str | None


async def on_referral(uow: "IntakeUnitOfWork", referral: Referral) -> None:
    """A partner's referral from Kafka (the record's bytes and key from `uow.delivery`)."""
    delivery: Delivery = uow.delivery
    await receive(uow, referral, raw=delivery.value, key=delivery.key, channel="kafka")


async def on_unreadable_referral(uow: "IntakeUnitOfWork", delivery: Delivery, problems: list[Problem]) -> None:
    """Every dead letter, unreadable or failing, still gets its one outcome (CONTRACT section 3)."""
    await reject(uow, message_id=by_position(delivery), raw=delivery.value, key=delivery.key, channel="kafka",
                 problems=problems)


async def prepare_referrals(uow: "IntakeUnitOfWork", batch: list[tuple[Referral, Delivery]]) -> None:
    """A batch's locks and lookups first: the index lock once, then the duplicate check and the name lookups
    for the whole batch, one query each (no one else can store a referral while the lock is held)."""
    await identity_index.prepare_batch(uow, [(referral.child, referral.carers) for referral, _ in batch])
    await uow.referrals.prefetch_keys(list(
        {idempotency_key(without_nul_characters(referral)[0]) for referral, _ in batch}))


async def receive(uow: "IntakeUnitOfWork", referral: Referral, *, raw: bytes, key: bytes | None,
                  channel: str) -> ReferralOutcome:
    now = uow.clock.now()
    arrived = arrival(referral)
    # Taken before the duplicate check: the same referral arriving twice at once is one referral.
    await uow.identity.lock()
    stored = await uow.referrals.stored(arrived.idempotency_key)
    if stored is not None:
        outcome = duplicate_outcome(arrived, *stored, now)
        await _publish_outcome(uow, outcome, key)
        return outcome

    reception = decide(arrived, uow.districts, channel)
    referral, notification = reception.referral, reception.referral.notification
    intake_id = uuid.uuid4()
    borough = reception.borough.value if reception.borough else None
    child = await identity_index.record_child(
        uow, referral.child, intake_id=intake_id, source=reception.source, borough=borough,
        future_address=notification.future_address, future_address_from=notification.future_address_from,
    )
    carers = [
        await identity_index.record_carer(
            uow, carer, child=referral.child, child_subject_id=child.subject_id, intake_id=intake_id,
            source=reception.source, borough=borough,
        )
        for carer in referral.carers
    ]
    carer_ids = [c.subject_id for c in carers]
    event = reception.accepted_event(intake_id=intake_id, child_subject_id=child.subject_id,
                                     carer_subject_ids=carer_ids,
                                     possible_match_subject_ids=child.possible_subject_ids, now=now)
    # Kept as it will be published when it waits for an officer; it leaves then (`accept_held`).
    await uow.referrals.add(reception, intake_id=intake_id, child_subject_id=child.subject_id,
                            carer_subject_ids=carer_ids, raw=raw, channel=channel,
                            held_event=event if reception.waits_for_officer else None)
    outcome = reception.outcome(intake_id, child.subject_id, now)
    await _publish_outcome(uow, outcome, key)
    if not reception.waits_for_officer:
        await _publish_accepted(uow, event)
    return outcome


async def accept_held(
    uow: "IntakeUnitOfWork", intake_id: uuid.UUID, *, accepted_by: str, role: str, scope: Scope,
    borough: Borough | None, reason: str | None,
) -> Acceptance:
    """An officer accepts a held referral: the event for casework leaves now, once, and who accepted it
    (as which role, from which borough, why) is kept. `scope`: what the officer sees (a referral they
    do not see is not found)."""
    row = await uow.referrals.held(intake_id)
    if row is None or not scope.sees(row.borough):
        raise ReferralNotFound()
    if row.event is None:
        raise NotHeld()
    accepted_at = await uow.referrals.accept(intake_id, accepted_by=accepted_by, role=role,
                                             borough=borough.value if borough else None, reason=reason)
    if accepted_at is None:
        raise AlreadyAccepted()
    event = ReferralAccepted.model_validate(row.event)
    # As it would be sent today: a subject merged meanwhile is named by the subject that now stands for it.
    await _publish_accepted(uow, event.model_copy(update={
        "occurred_at": uow.clock.now(),
        "child_subject_id": await uow.identity.canonical(event.child_subject_id),
        "carer_subject_ids": [await uow.identity.canonical(c) for c in event.carer_subject_ids],
    }))
    return Acceptance(intake_id=intake_id, accepted_by=accepted_by, accepted_at=accepted_at, borough=row.borough)


async def reject(
    uow: "IntakeUnitOfWork", *, message_id: str, raw: bytes, key: bytes | None, channel: str,
    problems: list[Problem],
) -> ReferralOutcome:
    await uow.referrals.add_rejected(message_id=message_id, channel=channel, problems=problems)
    outcome = rejected_outcome(raw, problems, uow.clock.now())
    await _publish_outcome(uow, outcome, key)
    return outcome


async def _publish_accepted(uow: "IntakeUnitOfWork", event: ReferralAccepted) -> None:
    await uow.outbox.add(topics.REFERRAL_ACCEPTED, event, aggregate_type="child",
                         aggregate_id=str(event.child_subject_id))


async def _publish_outcome(uow: "IntakeUnitOfWork", outcome: ReferralOutcome, key: bytes | None) -> None:
    await uow.outbox.add(
        topics.REFERRAL_OUTCOMES, outcome, aggregate_type="referral", aggregate_id=outcome_aggregate(outcome),
        # Keyed like the input (CONTRACT section 3), unless the partner's key is so large that the outcome
        # would not fit in a record: then by the referral, so that the partner still hears back.
        key=key if key is None or len(key) <= MAX_ECHOED_KEY_BYTES else AGGREGATE_KEY,
    )


async def dead_letter(uow: "IntakeUnitOfWork", raw: bytes, problems: list[Problem], channel: str) -> ReferralOutcome:
    """An HTTP body that cannot be understood goes where a Kafka one would (the kit's dead-letter path): the
    DLQ, byte for byte, and its outcome; from the public form, sealed (its bytes are a member of the public's, naming them)."""
    message_id = f"{channel}:{uuid.uuid4()}"
    received = [("x-received-via", channel.encode())]
    value = raw
    if channel == PUBLIC_FORM_CHANNEL:
        value = uow.seal.seal_bytes(raw)
        received.append((SEALED_HEADER, SEALED_HEADER_VALUE))
    await write_dead_letter(uow, topic=uow.topics(topics.REFERRALS), kind="unreadable", problems=problems,
                            consumer=channel, key=None, value=value, headers=received, aggregate_id=message_id)
    return await reject(uow, message_id=message_id, raw=raw, key=None, channel=channel, problems=problems)
