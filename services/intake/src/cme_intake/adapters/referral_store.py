"""Referrals in PostgreSQL: the stored referral as received, its sealed third-party details, the public
form's held events and their acceptance, rejected messages, the DPO's unsealing (`uow.referrals`).

Nothing here updates or deletes: tables are append-only. On the kit's batch fast path a referral's rows are
held for one insert at the batch's end (`uow.held`); the duplicate check then finds them in the batch state.
"""

import base64
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Text, and_, any_, bindparam, not_, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession

from cme_shared.contracts.events import ReferralAccepted
from cme_shared.contracts.referrals import Problem
from cme_shared.contracts.rights import ThirdPartyReason
from cme_shared.messaging.held_inserts import HeldInserts

from ..domain import referrals as rules
from ..domain.reception import Reception
from .batch import IntakeBatch, StoredIds
from .sealing import Seal
from .tables import (
    held_referrals,
    referral_acceptances,
    referrals,
    rejected_messages,
    third_party_details,
    third_party_unseals,
)

# Built once, not per referral (building a statement costs more Python than running it).
_EXISTING = (select(referrals.c.intake_id, referrals.c.child_subject_id)
             .where(referrals.c.idempotency_key == bindparam("key")))
_EXISTING_MANY = (select(referrals.c.idempotency_key, referrals.c.intake_id, referrals.c.child_subject_id)
                  .where(referrals.c.idempotency_key == any_(bindparam("keys", type_=ARRAY(Text)))))
_INSERT_REFERRAL = insert(referrals)
_INSERT_THIRD_PARTY = insert(third_party_details)
_INSERT_HELD = insert(held_referrals)


class ReferralStore:
    def __init__(self, session: AsyncSession, batch: IntakeBatch, held: HeldInserts, seal: Seal) -> None:
        self._session, self._batch, self._held, self._seal = session, batch, held, seal

    # ---- the duplicate check

    async def prefetch_keys(self, keys: Sequence[str]) -> None:
        """For a batch holding the identity-index lock: which of its referrals were received before, in one
        query (nobody else can store a referral while the lock is held; those the batch stores are noted
        as it goes)."""
        found = {row.idempotency_key: (row.intake_id, row.child_subject_id)
                 for row in await self._session.execute(_EXISTING_MANY, {"keys": list(keys)})}
        self._batch.known_keys = {key: found.get(key) for key in keys}

    async def stored(self, idempotency_key: str) -> StoredIds | None:
        """The (intake id, child subject id) of the referral stored under this key, if any."""
        if self._held.holding:
            if idempotency_key in self._batch.held_referrals:
                return self._batch.held_referrals[idempotency_key]
            if idempotency_key in self._batch.known_keys:
                return self._batch.known_keys[idempotency_key]
        found = (await self._session.execute(_EXISTING, {"key": idempotency_key})).first()
        return None if found is None else (found[0], found[1])

    # ---- storing

    async def add(self, reception: Reception, *, intake_id: UUID, child_subject_id: UUID,
                  carer_subject_ids: Sequence[UUID], raw: bytes, channel: str,
                  held_event: ReferralAccepted | None = None) -> None:
        """The referral as received, its referrer's details sealed (the received bytes name them too, so
        they are kept only inside the seal), and, for one that waits for an officer, its event as it will
        be published. Nothing reads these rows back in this transaction except the duplicate check."""
        referral, key = reception.referral, reception.arrival.idempotency_key
        if self._held.holding:
            self._batch.held_referrals[key] = (intake_id, child_subject_id)
        await self._held.insert(_INSERT_REFERRAL, dict(
            intake_id=intake_id, idempotency_key=key, referral_id=referral.referral_id,
            source_type=referral.source.type.value, source_org_id=reception.arrival.org_id,
            borough=reception.borough.value if reception.borough else None, child_subject_id=child_subject_id,
            carer_subject_ids=list(carer_subject_ids), payload=reception.stored_payload,
            raw=raw if reception.keeps_raw else None, warnings=[w.model_dump() for w in reception.warnings],
            missing_return_fields=reception.missing_return_fields, channel=channel,
            submitted_at=referral.submitted_at,
        ))
        if reception.sealed_contact is not None and reception.sealed_reason is not None:
            await self._held.insert(_INSERT_THIRD_PARTY, dict(
                detail_id=uuid.uuid4(), intake_id=intake_id, reason=reception.sealed_reason.value,
                sealed=self._seal.seal({"contact": reception.sealed_contact, "raw": base64.b64encode(raw).decode()}),
            ))
        if held_event is not None:
            await self._held.insert(_INSERT_HELD, dict(
                intake_id=intake_id, reason=rules.HELD_FOR_OFFICER, event=held_event.model_dump(mode="json")))

    async def add_rejected(self, *, message_id: str, channel: str, problems: Sequence[Problem]) -> None:
        # An unknown field's name is quoted in `loc`; it may hold U+0000, which the database refuses.
        stored = [
            {"loc": [rules.text_safe(part) if isinstance(part, str) else part for part in p.loc],
             "code": p.code, "message": rules.text_safe(p.message)}
            for p in problems
        ]
        await self._session.execute(
            insert(rejected_messages).values(message_id=message_id, channel=channel, errors=stored)
            .on_conflict_do_nothing()
        )

    # ---- the public form's held referrals

    async def held(self, intake_id: UUID) -> Any | None:
        """The referral's borough and its held event (None when it did not wait); None: no such referral."""
        return (await self._session.execute(
            select(referrals.c.borough, held_referrals.c.event)
            .join(held_referrals, held_referrals.c.intake_id == referrals.c.intake_id, isouter=True)
            .where(referrals.c.intake_id == intake_id)
        )).first()

    async def accept(self, intake_id: UUID, *, accepted_by: str, role: str, borough: str | None,
                     reason: str | None) -> datetime | None:
        """When it was accepted; None when someone accepted it first. One acceptance per referral (the
        primary key), however many officers press at once; the first insert decides."""
        return (await self._session.execute(
            insert(referral_acceptances)
            .values(intake_id=intake_id, accepted_by=accepted_by, role=role, borough=borough, reason=reason)
            .on_conflict_do_nothing()
            .returning(referral_acceptances.c.accepted_at)
        )).scalar()

    # ---- what is held about a subject (subject access, rights)

    async def naming_child(self, members: Sequence[UUID]) -> list[Any]:
        return list((await self._session.execute(
            select(referrals).where(referrals.c.child_subject_id.in_(members)).order_by(referrals.c.received_at)
        )).all())

    async def naming_carer(self, members: Sequence[UUID]) -> list[Any]:
        return list((await self._session.execute(
            select(referrals).where(referrals.c.carer_subject_ids.overlap(list(members)))
            .order_by(referrals.c.received_at)
        )).all())

    async def sealed_reason(self, intake_id: UUID) -> ThirdPartyReason | None:
        """Why the referral's referrer is sealed, if they are (the sealed bytes are not opened)."""
        reason = (await self._session.execute(
            select(third_party_details.c.reason).where(third_party_details.c.intake_id == intake_id)
        )).scalar()
        return None if reason is None else ThirdPartyReason(reason)

    async def accepted_boroughs(self, members: Sequence[UUID], subject_type: str) -> list[str]:
        """The distinct boroughs of the referrals naming these subjects, less public form referrals no
        officer has accepted yet."""
        names = (referrals.c.child_subject_id.in_(members) if subject_type == "child"
                 else referrals.c.carer_subject_ids.overlap(list(members)))
        unaccepted = (select(held_referrals.c.intake_id)
                      .outerjoin(referral_acceptances, referral_acceptances.c.intake_id == held_referrals.c.intake_id)
                      .where(referral_acceptances.c.intake_id.is_(None)))
        rows = await self._session.execute(
            select(referrals.c.borough).distinct()
            .where(and_(names, referrals.c.borough.is_not(None), not_(referrals.c.intake_id.in_(unaccepted))))
        )
        return sorted(rows.scalars())

    # ---- the DPO's look at a sealed third party (SEC-05)

    async def unseal(self, intake_id: UUID, detail_id: UUID, *, unsealed_by: str, role: str,
                     why: str) -> tuple[Any, dict[str, Any], datetime] | None:
        """One sealed detail opened, and who, as which role, when and why recorded in the same transaction:
        (the detail's reason and child subject id, its contact, when). None: no such detail."""
        row = (await self._session.execute(
            select(third_party_details.c.sealed, third_party_details.c.reason, referrals.c.child_subject_id)
            .join(referrals, referrals.c.intake_id == third_party_details.c.intake_id)
            .where(third_party_details.c.detail_id == detail_id, third_party_details.c.intake_id == intake_id)
        )).first()
        if row is None:
            return None
        unsealed_at = (await self._session.execute(
            insert(third_party_unseals).values(unseal_id=uuid.uuid4(), detail_id=detail_id, intake_id=intake_id,
                                               unsealed_by=unsealed_by, role=role, reason=why)
            .returning(third_party_unseals.c.unsealed_at)
        )).scalar_one()
        return row, self._seal.unseal(row.sealed)["contact"], unsealed_at
