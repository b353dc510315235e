"""HTTP API (CONTRACT section 4): disclosures, Art 19 recipients, reports, and the log.

Roles: POST /disclosures officer/manager/dpo; decisions manager/dpo (never the requester, and the
policy row may narrow it, e.g. Home Office shares to the DPO), and their queue GET /disclosures/pending; withholding from SAR dpo; reading
officer/manager/dpo/auditor (officers see their borough's requests, the auditor a view without free
text or names). Each route acts in the role that let the request in (`require_roles`, narrowest first).

The log (SEC-21): the tree head, the public key and the checkpoint are public (no token), as C2SP
checkpoints are meant to be gossiped; they say nothing about any disclosure. Leaves (recipient types,
purposes, times of every share) are for the auditor, the DPO and managers. Proofs: the same roles, and
officers for what their own disclosures need: an inclusion proof (with the leaf) for a leaf of a
disclosure they can see, and consistency proofs (hashes only) to carry such a receipt to a newer head.

Every route that returns a disclosure record or a subject's recipients records the read in the access
log, one row per subject shown, in the transaction that read it.
"""

import base64
from datetime import date, datetime, time, timezone
from typing import Annotated
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse

from cme_shared import auth
from cme_shared.auth import Principal, Role, require_roles
from cme_shared.http.limits import MAX_BIGINT
from cme_shared.refusal import Refusal
from cme_shared.runtime import ServiceRuntime

from .. import views
from ..adapters.merkle_store import KeyRing
from ..adapters.unit_of_work import DisclosureUnitOfWork
from ..domain.checkpoint import verifier_key
from ..domain.disclosures import Decision, DisclosureRequest, Withholding
from ..domain.tree_head import SIGNATURE_ALGORITHM, key_id, public_key_pem
from ..service_layer import disclosures
from ..service_layer.disclosures import DECIDING_ROLES, Actor
from . import schemas

MAX_LEAVES_PER_PAGE = 1000
MAX_PENDING_PER_PAGE = 500


def _role(principal: Principal) -> Role | None:
    """The role that let the request in (`require_roles` sets it)."""
    return principal.acting_role


def visible_boroughs(principal: Principal) -> set[str] | None:
    """The boroughs whose disclosures this request may see, the kit's rule (`cme_shared.auth.visible_boroughs`,
    the acting role's alone: SEC-14), read here alone: None, every record, a borough or none (the role works
    across boroughs); else the officer's borough."""
    visible = auth.visible_boroughs(principal, include_unassigned=True)
    return None if None in visible else {b for b in visible if b is not None}


def actor(principal: Principal) -> Actor:
    role = _role(principal)
    return Actor(sub=principal.sub, role=str(role.value if role else ""),
                 roles=frozenset(str(r.value) for r in principal.roles),
                 borough=principal.borough.value if principal.borough else None,
                 borough_scoped=visible_boroughs(principal) is not None)


def shown_to(principal: Principal, record: dict) -> schemas.DisclosureRecord:
    """A record as this principal may see it: the auditor's view leaves out free text and names (SEC-21)."""
    if _role(principal) == Role.AUDITOR:
        record = views.auditor_view(record)
    return schemas.DisclosureRecord.model_validate(record)


def _subjects_of(records: list[schemas.DisclosureRecord]) -> list[UUID]:
    return [s for r in records for s in r.subject_ids]


async def show(uow: DisclosureUnitOfWork, request: Request, principal: Principal, disclosure_id: UUID,
               action: str, returned: str) -> schemas.DisclosureRecord:
    """The record as this principal may see it, its read recorded for each of its subjects (404 when it
    is not one they may see)."""
    [record] = await views.records(uow, [disclosure_id]) or [None]
    boroughs = visible_boroughs(principal)
    if record is None or (boroughs is not None and record["borough"] not in boroughs):
        raise Refusal(404, "not_found", "no such disclosure")
    shown = shown_to(principal, record)
    await uow.access_log.record(request, principal, shown.subject_ids, action=action, returned=returned,
                                record_type="disclosure", record_id=str(disclosure_id))
    return shown


def disclosures_router(runtime: ServiceRuntime) -> APIRouter:
    api = APIRouter(tags=["disclosures"])
    requesters = require_roles(Role.OFFICER, Role.MANAGER, Role.DPO)
    deciders = require_roles(Role.MANAGER, Role.DPO)
    readers = require_roles(Role.OFFICER, Role.MANAGER, Role.DPO, Role.AUDITOR)
    dpo = require_roles(Role.DPO)
    reporters = require_roles(Role.MANAGER, Role.DPO, Role.AUDITOR)

    @api.post("/disclosures", status_code=201, response_model=schemas.DisclosureRecord)
    async def request_disclosure(body: DisclosureRequest, request: Request,
                                 principal: Annotated[Principal, Depends(requesters)]) -> schemas.DisclosureRecord:
        """Record a request and weigh it against the policy: `pending` awaits a second person's
        decision; `refused` (with `refusal_reasons`) is a recorded decision not to share. At most
        CME_DISCLOSURE_REQUESTS_PER_HOUR requests an hour per person (`429 too_many_requests`)."""
        async with runtime.unit_of_work() as uow:
            disclosure_id = await disclosures.request_disclosure(uow, body, actor(principal))
            record = await show(uow, request, principal, disclosure_id, "disclosure.request",
                                "the disclosure record requested")
            await uow.commit()
        return record

    @api.post("/disclosures/{disclosure_id}/decision", response_model=schemas.DisclosureRecord)
    async def decide(disclosure_id: UUID, body: Decision, request: Request,
                     principal: Annotated[Principal, Depends(deciders)]) -> schemas.DisclosureRecord:
        """Approve or refuse, as the token's `sub` and role (never the person who asked). Approving a
        police request may add `sign_off_rank`, the rank the decider saw sign it off (recorded as theirs;
        without it the requester's rank stands, recorded as not confirmed)."""
        async with runtime.unit_of_work() as uow:
            await disclosures.decide(uow, disclosure_id, body, actor(principal))
            record = await show(uow, request, principal, disclosure_id, "disclosure.decide",
                                "the disclosure record decided")
            await uow.commit()
        return record

    @api.post("/disclosures/{disclosure_id}/withholding", response_model=schemas.DisclosureRecord)
    async def withhold(disclosure_id: UUID, body: Withholding, request: Request,
                       principal: Annotated[Principal, Depends(dpo)]) -> schemas.DisclosureRecord:
        """Withhold this one share from the subject's access requests until `review_date`."""
        async with runtime.unit_of_work() as uow:
            await disclosures.withhold_from_sar(uow, disclosure_id, body, actor(principal))
            record = await show(uow, request, principal, disclosure_id, "disclosure.withhold",
                                "the disclosure record withheld from access requests")
            await uow.commit()
        return record

    @api.get("/disclosures", response_model=list[schemas.DisclosureRecord])
    async def list_disclosures(subject_id: UUID, request: Request,
                               principal: Annotated[Principal, Depends(readers)]) -> list[schemas.DisclosureRecord]:
        async with runtime.unit_of_work() as uow:
            records = [shown_to(principal, r)
                       for r in await views.for_subject(uow, subject_id, visible_boroughs(principal))]
            await uow.access_log.record(request, principal, _subjects_of(records), action="disclosures.list",
                                        returned=f"{len(records)} disclosure record(s)", record_type="disclosure")
            await uow.commit()
        return records

    @api.get("/disclosures/pending", response_model=list[schemas.DisclosureRecord])
    async def awaiting_decision(request: Request, principal: Annotated[Principal, Depends(deciders)],
                                limit: Annotated[int, Query(ge=1, le=MAX_PENDING_PER_PAGE)] = 200,
                                ) -> list[schemas.DisclosureRecord]:
        """The second person's queue: pending requests, oldest first, that this token may decide: never its
        own (the two-person rule), and only those the policy row lets one of its deciding roles decide
        (a share for the DPO alone is not in a manager's queue). Each child listed is recorded in the
        access log."""
        who = actor(principal)
        async with runtime.unit_of_work() as uow:
            records = [shown_to(principal, r) for r in await views.awaiting_decision(
                uow, who.sub, set(who.roles) & DECIDING_ROLES, visible_boroughs(principal), limit)]
            await uow.access_log.record(request, principal, _subjects_of(records), action="disclosures.pending",
                                        returned=f"{len(records)} disclosure record(s) awaiting a decision",
                                        record_type="disclosure")
            await uow.commit()
        return records

    @api.get("/disclosures/{disclosure_id}", response_model=schemas.DisclosureRecord)
    async def get_disclosure(disclosure_id: UUID, request: Request,
                             principal: Annotated[Principal, Depends(readers)]) -> schemas.DisclosureRecord:
        async with runtime.unit_of_work() as uow:
            record = await show(uow, request, principal, disclosure_id, "disclosure.read", "the disclosure record")
            await uow.commit()
        return record

    @api.get("/subjects/{subject_id}/recipients", response_model=list[schemas.RecipientToNotify])
    async def recipients(subject_id: UUID, request: Request,
                         principal: Annotated[Principal, Depends(requesters)]) -> list[schemas.RecipientToNotify]:
        """UK GDPR Art 19: the organisations this subject's data was shared with, to tell them of a
        rectification, erasure or restriction. Officers see the shares requested from their own
        borough, as with GET /disclosures."""
        async with runtime.unit_of_work() as uow:
            lines = await views.recipients_to_notify(uow, subject_id, visible_boroughs(principal))
            if lines:
                await uow.access_log.record(request, principal, [subject_id], action="recipients.read",
                                            returned=f"{len(lines)} recipient organisation(s)",
                                            record_type="recipients")
            await uow.commit()
        return [schemas.RecipientToNotify.model_validate(line) for line in lines]

    @api.get("/reports/shares", response_model=list[schemas.ReportLine])
    async def shares_report(
        _principal: Annotated[Principal, Depends(reporters)],
        from_: Annotated[date | None, Query(alias="from")] = None,
        to: Annotated[date | None, Query(description="exclusive")] = None,
    ) -> list[schemas.ReportLine]:
        """Requests by month (UTC), recipient type and purpose, counted by outcome."""
        start = datetime.combine(from_, time(), timezone.utc) if from_ else None
        end = datetime.combine(to, time(), timezone.utc) if to else None
        async with runtime.unit_of_work() as uow:
            lines = await views.shares_report(uow, start, end)
        return [schemas.ReportLine.model_validate(line) for line in lines]

    return api


def log_router(runtime: ServiceRuntime, keys: KeyRing, origin: str, pinned: list[Ed25519PublicKey],
               witness_key: str | None = None) -> APIRouter:
    api = APIRouter(prefix="/log", tags=["log"])
    # SEC-21: the leaves list every share's recipient type, purpose and time; roles with business there.
    log_readers = Depends(require_roles(Role.AUDITOR, Role.DPO, Role.MANAGER))
    # Proofs: the same, and officers for their own disclosures' receipts (narrowest first: an officer
    # token that also holds another role is scoped as the officer).
    provers = require_roles(Role.OFFICER, Role.AUDITOR, Role.DPO, Role.MANAGER)

    async def officer_may_prove(uow: DisclosureUnitOfWork, principal: Principal, leaf_index: int) -> None:
        """An officer proves only leaves of disclosures they can see (their borough's); any other leaf,
        and a leaf that does not exist, is the same 404, so the answer tells them nothing of others'."""
        boroughs = visible_boroughs(principal)
        if boroughs is not None and await views.borough_of_leaf(uow, leaf_index) not in boroughs:
            raise Refusal(404, "not_found", "no leaf of a disclosure you can see has this index", ["query", "leaf_index"])

    @api.get("/tree-head", response_model=schemas.TreeHeadOut)
    async def tree_head() -> schemas.TreeHeadOut:
        """The latest signed tree head (public). The signature covers `signed_bytes`: UTF-8 JSON of
        {key_id, root_hash, timestamp, tree_size}, keys sorted, no whitespace."""
        async with runtime.unit_of_work() as uow:
            head = await uow.log.latest_head()
            await uow.commit()  # an empty log's head registers the signing key
        return schemas.TreeHeadOut.model_validate(head.as_json())

    @api.get("/public-key", response_model=schemas.PublicKeyOut)
    async def public_key() -> schemas.PublicKeyOut:
        """The key signing tree heads now (public), and the earlier keys, as configured (pinned):
        never read from the database, which whoever rewrote it could have added a key to."""
        key = keys.public_key()
        current = key_id(key)
        return schemas.PublicKeyOut(
            key_id=current, public_key_pem=public_key_pem(key), algorithm=SIGNATURE_ALGORITHM,
            note_verifier_key=verifier_key(origin, key),
            previous_keys=[{"key_id": key_id(k), "public_key_pem": public_key_pem(k)}
                           for k in pinned if key_id(k) != current],
        )

    @api.get("/checkpoint", response_class=PlainTextResponse,
             responses={200: {"content": {"text/plain; charset=utf-8": {}}}})
    async def checkpoint() -> PlainTextResponse:
        """The latest tree head as a C2SP tlog-checkpoint signed note (public), with the witness's
        tlog-cosignature: with a witness configured, the latest checkpoint it has cosigned."""
        async with runtime.unit_of_work() as uow:
            note = await uow.log.checkpoint(witness_key)
        if note is None:
            raise Refusal(503, "no_checkpoint", "no checkpoint has been signed and cosigned yet")
        return PlainTextResponse(note.render(), media_type="text/plain; charset=utf-8")

    @api.get("/leaves", response_model=schemas.LeavesOut, dependencies=[log_readers])
    async def leaves(start: Annotated[int, Query(ge=0, le=MAX_BIGINT)],
                     end: Annotated[int, Query(ge=0, le=MAX_BIGINT, description="exclusive")]) -> schemas.LeavesOut:
        if end < start:
            raise Refusal(400, "out_of_range", "end must not be below start", ["query", "end"])
        end = min(end, start + MAX_LEAVES_PER_PAGE)
        async with runtime.unit_of_work() as uow:
            rows = await uow.log.leaves(start, end)
        return schemas.LeavesOut(start=start, end=start + len(rows), leaves=[
            schemas.LeafOut(leaf_index=i, leaf=base64.b64encode(leaf).decode()) for i, leaf in rows
        ])

    @api.get("/proofs/inclusion", response_model=schemas.ProofOut)
    async def inclusion(leaf_index: Annotated[int, Query(ge=0, le=MAX_BIGINT)],
                        tree_size: Annotated[int, Query(ge=1, le=MAX_BIGINT)],
                        principal: Annotated[Principal, Depends(provers)]) -> schemas.ProofOut:
        """The audit path of one leaf to the head of `tree_size`, with the leaf's bytes: with the public
        head and key, a receipt anyone can check offline. A size or index beyond the log is
        `400 out_of_range`."""
        async with runtime.unit_of_work() as uow:
            await officer_may_prove(uow, principal, leaf_index)
            proof = await uow.log.inclusion_proof(leaf_index, tree_size)
            [(_, leaf)] = await uow.log.leaves(leaf_index, leaf_index + 1)
        return schemas.ProofOut(proof=[h.hex() for h in proof], leaf_index=leaf_index, tree_size=tree_size,
                                leaf=base64.b64encode(leaf).decode())

    @api.get("/proofs/consistency", response_model=schemas.ProofOut,
             dependencies=[Depends(provers)])
    async def consistency(first: Annotated[int, Query(ge=1, le=MAX_BIGINT)],
                          second: Annotated[int, Query(ge=1, le=MAX_BIGINT)]) -> schemas.ProofOut:
        async with runtime.unit_of_work() as uow:
            proof = await uow.log.consistency_proof(first, second)
        return schemas.ProofOut(proof=[h.hex() for h in proof], first=first, second=second)

    return api
