"""The disclosure records on PostgreSQL (`uow.disclosures`): requests, shares, decisions, withholdings
from access requests, the leaves each record is bound to, and the restrictions in force (Art 18).

Rows go in and out as dicts with the `disclosures` table's column names (adapters/tables.py); a full
record, as the HTTP API and access requests show it, is `load_records`.
"""

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.disclosures import Status
from .tables import disclosure_leaves, disclosure_subjects, disclosures, restrictions, sar_withholdings

# pg_advisory_xact_lock(class, key) namespace of the per-requester count ("cmer"); the log's own lock is a
# single bigint key, a separate key space, and is always taken after this one.
REQUESTER_LOCK_CLASS = 0x636D6572


class DisclosureRecords:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def requests_since(self, sub: str, since: datetime) -> int:
        """How many requests `sub` recorded after `since`, counted under a lock per requester (held to the
        end of the transaction), so parallel requests and several replicas share one count."""
        await self.session.execute(text("SELECT pg_advisory_xact_lock(:c, hashtext(:sub))"),
                                   {"c": REQUESTER_LOCK_CLASS, "sub": sub})
        return int((await self.session.execute(select(func.count()).select_from(disclosures).where(
            disclosures.c.requested_by == sub, disclosures.c.requested_at > since))).scalar_one())

    async def add(self, row: dict[str, Any], subject_ids: list[uuid.UUID]) -> None:
        """A disclosure's row and the subjects it is about."""
        await self.session.execute(insert(disclosures).values(**row))
        await self.session.execute(insert(disclosure_subjects), [
            {"disclosure_id": row["disclosure_id"], "subject_id": s} for s in subject_ids
        ])

    async def get(self, disclosure_id: uuid.UUID, *, for_update: bool = False) -> dict[str, Any] | None:
        """The row (None: no such disclosure); `for_update` locks it to the end of the transaction."""
        query = select(disclosures).where(disclosures.c.disclosure_id == disclosure_id)
        row = (await self.session.execute(query.with_for_update() if for_update else query)).mappings().first()
        return None if row is None else dict(row)

    async def subjects_of(self, disclosure_id: uuid.UUID) -> list[uuid.UUID]:
        return list((await self.session.execute(
            select(disclosure_subjects.c.subject_id).where(disclosure_subjects.c.disclosure_id == disclosure_id)
        )).scalars())

    async def record_decision(self, disclosure_id: uuid.UUID, decided: dict[str, Any]) -> None:
        """The decision's columns (decision, decider, times, status, what is released)."""
        await self._change(disclosure_id, decided)

    async def _change(self, disclosure_id: uuid.UUID, values: dict[str, Any]) -> None:
        await self.session.execute(
            update(disclosures).where(disclosures.c.disclosure_id == disclosure_id).values(**values))

    async def share_recorded(self, origin: str, share_ref: str) -> bool:
        """Whether a share of `origin` under `share_ref` is recorded already."""
        return (await self.session.execute(
            select(disclosures.c.disclosure_id).where(disclosures.c.origin == origin,
                                                      disclosures.c.share_ref == share_ref)
        )).scalar() is not None

    async def add_withholding(self, record: dict[str, Any]) -> None:
        await self.session.execute(insert(sar_withholdings).values(**record))

    async def bind_leaves(self, disclosure_id: uuid.UUID, leaves: Sequence[tuple[int, str]]) -> None:
        """The log leaves (index, kind) that record this disclosure."""
        await self.session.execute(insert(disclosure_leaves), [
            {"disclosure_id": disclosure_id, "leaf_index": index, "kind": kind} for index, kind in leaves
        ])

    async def leaf_indices(self, disclosure_id: uuid.UUID) -> list[int]:
        return list((await self.session.execute(
            select(disclosure_leaves.c.leaf_index).where(disclosure_leaves.c.disclosure_id == disclosure_id)
        )).scalars())

    async def forget_people(self, disclosure_id: uuid.UUID, at: datetime) -> None:
        """Retention: the subjects, the people (the requester's and the decider's ids, a sign-off's
        confirmer) and their words go; the organisation, purpose, gateway, categories, fields, status,
        roles and dates stay (not personal data; reports count them, and the log's leaves say the same)."""
        await self.session.execute(
            disclosure_subjects.delete().where(disclosure_subjects.c.disclosure_id == disclosure_id))
        recipient = disclosures.c.recipient
        await self._change(disclosure_id, {
            "reason": None, "reference": None, "authorised_officer": None, "decision_reason": None,
            "restriction_exception": None, "decider_title": None, "requested_by": None, "decided_by": None,
            "decider_name": None, "sign_off": None,
            "recipient": func.jsonb_build_object("type", recipient["type"], "org_id", recipient["org_id"],
                                                 "org_name", recipient["org_name"]),
            "purged_at": at,
        })

    # Restrictions (UK GDPR Art 18), as rights reports them -----------------------------------------

    async def active_restrictions(self, subject_ids: list[uuid.UUID]) -> set[uuid.UUID]:
        rows = await self.session.execute(
            select(restrictions.c.subject_id).where(
                restrictions.c.subject_id.in_(subject_ids), restrictions.c.lifted_at.is_(None)))
        return {r.subject_id for r in rows}

    async def restrict(self, subject_ids: list[uuid.UUID], rights_request_id: uuid.UUID, at: datetime) -> None:
        statement = pg_insert(restrictions).values([
            {"subject_id": s, "rights_request_id": rights_request_id, "restricted_at": at} for s in subject_ids
        ])
        # Restricted again under the same rights request after a lift: in force again. A restriction
        # older than the lift (a late copy) does not undo the lift.
        await self.session.execute(statement.on_conflict_do_update(
            index_elements=[restrictions.c.subject_id, restrictions.c.rights_request_id],
            set_={"restricted_at": statement.excluded.restricted_at, "lifted_at": None},
            where=restrictions.c.lifted_at.is_not(None) & (restrictions.c.lifted_at <= statement.excluded.restricted_at),
        ))

    async def lift_restriction(self, subject_ids: list[uuid.UUID], rights_request_id: uuid.UUID,
                               at: datetime) -> None:
        await self.session.execute(
            update(restrictions)
            .where(restrictions.c.subject_id.in_(subject_ids), restrictions.c.rights_request_id == rights_request_id,
                   restrictions.c.lifted_at.is_(None))
            .values(lifted_at=at))

    # What an access request reports ----------------------------------------------------------------

    async def records(self, ids: list[uuid.UUID]) -> list[dict[str, Any]]:
        """Full records (`load_records`), e.g. of disposed disclosures a tombstone names."""
        return await load_records(self.session, ids)

    async def shares_with(self, subject_id: uuid.UUID) -> list[dict[str, Any]]:
        """The full records of the shares made of this subject's data (withheld ones too)."""
        ids = list((await self.session.execute(
            select(disclosures.c.disclosure_id)
            .join(disclosure_subjects, disclosure_subjects.c.disclosure_id == disclosures.c.disclosure_id)
            .where(disclosure_subjects.c.subject_id == subject_id, disclosures.c.status == Status.SHARED)
        )).scalars())
        return await load_records(self.session, ids)


async def _withholdings(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """The latest withholding decision per disclosure."""
    rows = (await session.execute(
        select(sar_withholdings).where(sar_withholdings.c.disclosure_id.in_(ids))
        .order_by(sar_withholdings.c.recorded_at)
    )).mappings().all()
    return {r["disclosure_id"]: dict(r) for r in rows}


async def load_records(session: AsyncSession, ids: list[uuid.UUID]) -> list[dict[str, Any]]:
    """Full disclosure records, in request order, with subjects, log leaves and any SAR withholding."""
    if not ids:
        return []
    rows = (await session.execute(
        select(disclosures).where(disclosures.c.disclosure_id.in_(ids)).order_by(disclosures.c.requested_at)
    )).mappings().all()
    subjects: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for r in await session.execute(select(disclosure_subjects).where(disclosure_subjects.c.disclosure_id.in_(ids))):
        subjects[r.disclosure_id].append(r.subject_id)
    leaves: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for r in await session.execute(
        select(disclosure_leaves).where(disclosure_leaves.c.disclosure_id.in_(ids))
        .order_by(disclosure_leaves.c.leaf_index)
    ):
        leaves[r.disclosure_id].append({"leaf_index": r.leaf_index, "kind": r.kind})
    withheld = await _withholdings(session, ids)
    return [full_record(dict(r), subjects[r["disclosure_id"]], leaves[r["disclosure_id"]],
                        withheld.get(r["disclosure_id"])) for r in rows]


def full_record(row: dict[str, Any], subject_ids: list[uuid.UUID], leaves: list[dict[str, Any]],
                withholding: dict[str, Any] | None) -> dict[str, Any]:
    """A record as the API shows it, from its row, subjects, leaves and latest withholding."""
    decision = None
    if row["decision"] is not None:
        decision = {k: row[k] for k in ("decision", "decided_by", "decider_name", "decider_role", "decider_title",
                                        "sign_off", "decided_at")}
        decision["reason"] = row["decision_reason"]
    return {
        "disclosure_id": row["disclosure_id"],
        "status": row["status"],
        "origin": row["origin"],
        "share_ref": row["share_ref"],
        "subject_ids": sorted(subject_ids, key=str),
        "recipient": row["recipient"],
        "purpose": row["purpose"],
        "legal_gateway": row["legal_gateway"],
        "reference": row["reference"],
        "authorised_officer": row["authorised_officer"],
        "categories_requested": row["categories_requested"],
        "categories_released": row["categories_released"],
        "categories_not_released": [c for c in row["categories_requested"] if c not in row["categories_released"]],
        "fields_released": row["fields_released"],
        "reason": row["reason"],
        "restriction_exception": row["restriction_exception"],
        "refusal_reasons": row["policy_findings"] if row["status"] == Status.REFUSED else [],
        "policy_findings": row["policy_findings"],
        "approval_roles": row["approval_roles"],
        "requested_by": row["requested_by"],
        "requested_by_role": row["requested_by_role"],
        "borough": row["borough"],
        "requested_at": row["requested_at"],
        "received_on": row["received_on"],
        "decision": decision,
        "shared_at": row["shared_at"],
        "withheld_from_sar": None if withholding is None else {
            k: withholding[k] for k in ("exemption", "reason", "decided_by", "decider_name", "decider_role",
                                        "decider_title", "review_date", "recorded_at")
        },
        "purged_at": row["purged_at"],
        "log": leaves,
        "view": "full",
    }
