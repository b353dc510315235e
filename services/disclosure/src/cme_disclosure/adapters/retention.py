"""Retention on PostgreSQL (`uow.retention`): the disposal notices read from other services, the
disclosures they make due, and the copies a disposal removes. The kit's tombstones and legal holds are
`uow.tombstones` and `uow.holds` (cme_shared.retention).
"""

import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from cme_shared.clock import london_date
from cme_shared.contracts.categories import DataCategory
from cme_shared.replies import REPLY_AGGREGATE_TYPE

from ..domain.retention import FALLS_DUE_WITH, Disclosure
from .tables import disclosure_subjects, disclosures, disposal_notices, kit, restrictions, sar_withholdings


class RetentionRecords:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def notice_recorded(self, event_id: uuid.UUID) -> bool:
        return (await self.session.execute(select(disposal_notices.c.event_id).where(
            disposal_notices.c.event_id == event_id))).first() is not None

    async def add_notice(self, row: dict[str, Any]) -> None:
        await self.session.execute(insert(disposal_notices).values(**row))

    async def signed_notices(self) -> list[dict[str, Any]]:
        """Every disposal notice of a record type that may end a case, as received and signed (the job
        verifies each again before it believes a word of it)."""
        c = disposal_notices.c
        rows = await self.session.execute(
            select(c.event_id, c.record_key, c.signed_event_id, c.signer, c.signature, c.payload)
            .where(c.record_type.in_([t.value for t in FALLS_DUE_WITH])).order_by(c.leaf_index))
        return [dict(r) for r in rows.mappings()]

    async def restrictions_in_force(self, subject_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
        """Per subject, the rights requests whose Art 18 restriction is in force."""
        found: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
        for subject_id, request_id in await self.session.execute(
                select(restrictions.c.subject_id, restrictions.c.rights_request_id).where(
                    restrictions.c.subject_id.in_(subject_ids), restrictions.c.lifted_at.is_(None))):
            found[subject_id].append(request_id)
        return dict(found)

    async def kept_disclosures(self, subject_ids: list[uuid.UUID], ids: list[uuid.UUID] | None = None) -> list[Disclosure]:
        """The disclosures not yet disposed of about any of these subjects, or among `ids`."""
        wanted = select(disclosure_subjects.c.disclosure_id).where(disclosure_subjects.c.subject_id.in_(subject_ids))
        rows = (await self.session.execute(
            select(disclosures.c.disclosure_id, disclosures.c.requested_at, disclosures.c.categories_released,
                   disclosures.c.categories_requested)
            .where(disclosures.c.purged_at.is_(None),
                   disclosures.c.disclosure_id.in_(wanted) | disclosures.c.disclosure_id.in_(ids or []))
            .order_by(disclosures.c.requested_at))).all()
        subjects: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
        for r in await self.session.execute(select(disclosure_subjects).where(
                disclosure_subjects.c.disclosure_id.in_([r.disclosure_id for r in rows]))):
            subjects[r.disclosure_id].append(r.subject_id)
        return [Disclosure(r.disclosure_id, london_date(r.requested_at), tuple(sorted(subjects[r.disclosure_id], key=str)),
                           tuple(DataCategory(c) for c in (r.categories_released or r.categories_requested)
                                 if c in DataCategory._value2member_map_))
                for r in rows]

    async def disclosure(self, disclosure_id: uuid.UUID) -> Disclosure | None:
        found = await self.kept_disclosures([], [disclosure_id])
        return found[0] if found else None

    async def blank_withholdings(self, disclosure_id: uuid.UUID) -> None:
        """A withholding's words and decider go; its id, exemption code, role and dates stay (its leaf
        names them)."""
        await self.session.execute(update(sar_withholdings).where(sar_withholdings.c.disclosure_id == disclosure_id)
                                   .values(reason=None, decided_by=None, decider_name=None, decider_title=None))

    async def forget_copies(self, disclosure_id: uuid.UUID) -> int:
        """SEC-18: the published replies to access requests that quoted this record (the outbox keeps
        what it sent) go with it; an unsent one stays for the relay (rights holds its own copy)."""
        outbox = kit.outbox
        done = await self.session.execute(outbox.delete().where(
            outbox.c.aggregate_type == REPLY_AGGREGATE_TYPE, outbox.c.published_at.is_not(None),
            text("position(:needle IN outbox.payload) > 0").bindparams(needle=str(disclosure_id).encode())))
        return done.rowcount or 0
