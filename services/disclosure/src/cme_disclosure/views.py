"""Read side, for the HTTP API: disclosure records, the decision queue, recipients to notify (Art 19),
the borough a log leaf belongs to, reports. Each read takes the unit of work and queries its session
(cosmicpython's views.py); writes go through the repositories (adapters/).
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select

from .adapters.disclosure_records import load_records
from .adapters.tables import disclosure_leaves, disclosure_subjects, disclosures
from .adapters.unit_of_work import DisclosureUnitOfWork
from .domain.disclosures import Status


async def records(uow: DisclosureUnitOfWork, ids: list[uuid.UUID]) -> list[dict[str, Any]]:
    """Full disclosure records, in request order, with subjects, log leaves and any SAR withholding."""
    return await load_records(uow.session, ids)


# What the auditor's view leaves out (SEC-21): free text and the names of people, ours and the recipient's.
# Kept: who the recipient organisation is, purpose, gateway, categories and fields, status, roles, times,
# policy findings (codes and fixed messages) and the log leaves, which is what an audit of the process needs.
AUDITOR_HIDES = ("reference", "authorised_officer", "reason", "requested_by")
AUDITOR_HIDES_RECIPIENT = ("requester_name", "requester_role", "requester_rank")


def auditor_view(record: dict[str, Any]) -> dict[str, Any]:
    """A record as the auditor sees it: no free text and no names (SEC-21)."""
    shown = {**record, **{k: None for k in AUDITOR_HIDES}}
    shown["recipient"] = {k: v for k, v in record["recipient"].items() if k not in AUDITOR_HIDES_RECIPIENT}
    if record["restriction_exception"] is not None:
        shown["restriction_exception"] = {"ground": record["restriction_exception"].get("ground"), "reason": None}
    if record["decision"] is not None:
        decision = record["decision"]
        shown["decision"] = {**decision, "reason": None, "decided_by": None, "decider_name": None,
                             "decider_title": None, "sign_off": None if decision.get("sign_off") is None else {
                                 "rank": decision["sign_off"].get("rank"),
                                 "confirmed_by_role": decision["sign_off"].get("confirmed_by_role")}}
    if record["withheld_from_sar"] is not None:
        shown["withheld_from_sar"] = {**record["withheld_from_sar"], "reason": None, "decided_by": None,
                                      "decider_name": None, "decider_title": None}
    shown["view"] = "auditor"
    return shown


async def for_subject(uow: DisclosureUnitOfWork, subject_id: uuid.UUID, boroughs: set[str] | None) -> list[dict[str, Any]]:
    """A subject's disclosures; `boroughs` limits an officer to their borough's requests."""
    query = (select(disclosures.c.disclosure_id)
             .join(disclosure_subjects, disclosure_subjects.c.disclosure_id == disclosures.c.disclosure_id)
             .where(disclosure_subjects.c.subject_id == subject_id))
    if boroughs is not None:
        query = query.where(disclosures.c.borough.in_(boroughs))
    return await records(uow, list((await uow.session.execute(query)).scalars()))


async def awaiting_decision(uow: DisclosureUnitOfWork, decider: str, deciding_roles: set[str], boroughs: set[str] | None,
                            limit: int) -> list[dict[str, Any]]:
    """The queue for the second person: pending requests this decider may decide, oldest first. Never the
    decider's own requests (the two-person rule would refuse them), and only those whose policy row names
    one of `deciding_roles` (a Home Office share the DPO alone decides is not in a manager's queue);
    `boroughs` limits it as `for_subject` does."""
    if not deciding_roles or not decider.strip():
        return []  # no deciding role, or no id to tell the decider's own requests by
    query = (select(disclosures.c.disclosure_id)
             .where(disclosures.c.status == Status.PENDING, disclosures.c.requested_by != decider,
                    or_(*(disclosures.c.approval_roles.contains([role]) for role in sorted(deciding_roles))))
             .order_by(disclosures.c.requested_at, disclosures.c.disclosure_id).limit(limit))
    if boroughs is not None:
        query = query.where(disclosures.c.borough.in_(boroughs))
    return await records(uow, list((await uow.session.execute(query)).scalars()))


async def recipients_to_notify(uow: DisclosureUnitOfWork, subject_id: uuid.UUID,
                               boroughs: set[str] | None) -> list[dict[str, Any]]:
    """UK GDPR Art 19: everyone the subject's data went to, to be told of a rectification, erasure or
    restriction (unless impossible or disproportionate): one line per organisation. `boroughs`
    limits an officer to their borough's requests, as `for_subject` does."""
    query = (
        select(disclosures.c.recipient, disclosures.c.recipient_type, disclosures.c.disclosure_id,
               disclosures.c.shared_at)
        .join(disclosure_subjects, disclosure_subjects.c.disclosure_id == disclosures.c.disclosure_id)
        .where(disclosure_subjects.c.subject_id == subject_id, disclosures.c.status == Status.SHARED)
        .order_by(disclosures.c.shared_at)
    )
    if boroughs is not None:
        query = query.where(disclosures.c.borough.in_(boroughs))
    rows = (await uow.session.execute(query)).all()
    by_org: dict[tuple[str, str | None, str], dict[str, Any]] = {}
    for r in rows:
        key = (r.recipient_type, r.recipient.get("org_id"), r.recipient.get("org_name"))
        line = by_org.setdefault(key, {
            "recipient_type": r.recipient_type, "org_id": key[1], "org_name": key[2],
            "disclosure_ids": [], "first_shared_at": r.shared_at, "last_shared_at": r.shared_at,
        })
        line["disclosure_ids"].append(r.disclosure_id)
        line["last_shared_at"] = r.shared_at
    return list(by_org.values())


async def shares_report(uow: DisclosureUnitOfWork, start: datetime | None, end: datetime | None) -> list[dict[str, Any]]:
    """Shares made and refused, by recipient type, purpose and month (by request time, UTC)."""
    month = func.to_char(func.date_trunc("month", func.timezone("UTC", disclosures.c.requested_at)), "YYYY-MM")
    query = select(disclosures.c.recipient_type, disclosures.c.purpose, month.label("month"),
                   disclosures.c.status, func.count().label("n")).group_by(
        disclosures.c.recipient_type, disclosures.c.purpose, month, disclosures.c.status)
    if start is not None:
        query = query.where(disclosures.c.requested_at >= start)
    if end is not None:
        query = query.where(disclosures.c.requested_at < end)
    lines: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in await uow.session.execute(query):
        line = lines.setdefault((r.month, r.recipient_type, r.purpose), {
            "month": r.month, "recipient_type": r.recipient_type, "purpose": r.purpose,
            "shared": 0, "refused": 0, "pending": 0,
        })
        line[r.status] = line.get(r.status, 0) + r.n
    return [lines[k] for k in sorted(lines)]


async def borough_of_leaf(uow: DisclosureUnitOfWork, leaf_index: int) -> str | None:
    """The borough of the disclosure a log leaf records (None: no disclosure's leaf, or no borough)."""
    row = (await uow.session.execute(
        select(disclosures.c.borough)
        .join(disclosure_leaves, disclosure_leaves.c.disclosure_id == disclosures.c.disclosure_id)
        .where(disclosure_leaves.c.leaf_index == leaf_index)
    )).first()
    return None if row is None else row.borough
