"""Disclosure handlers: request, decide, withhold from SAR, shares reported by other services (a purge is
retention's: service_layer/retention.py).

Every request, decision and share is a leaf of the log, appended in the same transaction as the
disclosure record, so the record and its proof never disagree (DOMAIN 4; ICO Data Sharing Code).

Who acts is the token's: the requester's and the decider's `sub` and the role that let them in, never
words from the body (SEC-23). What a borough-scoped requester may learn is limited to what disclosure
holds and may tell them (SEC-29): a restriction is never shown to an officer at request time (it could be
another borough's child); the cross-borough decider meets it at the decision.
"""

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from cme_shared.contracts.rights import RestrictionLifted, SubjectRestricted
from cme_shared.contracts.shares import ShareMade
from cme_shared.refusal import Refusal

from ..adapters.unit_of_work import DisclosureUnitOfWork
from ..domain.disclosures import Decision, DisclosureRequest, Status, Withholding
from ..domain.entries import LeafKind, entry
from ..domain.policy import Finding, assess, normalise_rank
from .log import record_in_log
from .retention import purge  # noqa: F401  (the one purge path: retention.py)


@dataclass(frozen=True)
class Actor:
    """Who acts, from the token: the id (`sub`), the role that let the request in, every role the token
    holds, their borough, and whether that role sees one borough only (an officer)."""

    sub: str
    role: str
    roles: frozenset[str]
    borough: str | None = None
    borough_scoped: bool = False


def _restriction_findings(restricted: set[uuid.UUID], exception: dict[str, Any] | None) -> list[Finding]:
    # UK GDPR Art 18(2): a restricted subject's data is not shared unless consent, legal claims,
    # protection of another person or important public interest is recorded. The finding says neither
    # how many subjects nor which (SEC-29).
    if restricted and exception is None:
        return [Finding("subject_restricted", "the data of a subject of this request is restricted (UK GDPR "
                                              "Art 18); record an Art 18(2) exception to share", ("subject_ids",))]
    return []


async def _within_request_rate(uow: DisclosureUnitOfWork, actor: Actor) -> None:
    """At most `requests_per_hour` requests per person (SEC-29: each is a permanent leaf), counted from the
    records, so parallel requests and several replicas share one count."""
    limit = uow.rules.requests_per_hour
    if await uow.disclosures.requests_since(actor.sub, uow.clock.now() - timedelta(hours=1)) >= limit:
        raise Refusal(429, "too_many_requests", f"at most {limit} disclosure requests an hour per person; try later")


def _facts(row: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """What a leaf may say: nothing personal."""
    return {
        "recipient_type": row["recipient_type"],
        "recipient_org_id": row["recipient"].get("org_id"),
        "purpose": row["purpose"],
        "categories": row["categories_released"] or row["categories_requested"],
        "subject_count": len(row["subject_ids"]),
        **extra,
    }


async def request_disclosure(uow: DisclosureUnitOfWork, body: DisclosureRequest, actor: Actor) -> uuid.UUID:
    """Record a request, weighed against the policy: pending (a second person decides) or refused."""
    now, today, policy = uow.clock.now(), uow.clock.today(), uow.rules.policy
    received_on = body.received_on or today
    if received_on > today:
        raise Refusal(422, "received_on_in_future", "a request cannot be received after today", ["body", "received_on"])
    await _within_request_rate(uow, actor)
    disclosure_id = uuid.uuid4()
    assessment = assess(
        policy, recipient_type=body.recipient.type, purpose=body.purpose, legal_gateway=body.legal_gateway,
        reference=body.reference, requester_rank=body.recipient.requester_rank,
        authorised_officer=body.authorised_officer, categories=body.categories,
    )
    subject_ids = list(dict.fromkeys(body.subject_ids))
    exception = body.restriction_exception.model_dump(mode="json") if body.restriction_exception else None
    findings = list(assessment.findings)
    if not actor.borough_scoped:
        # An officer is not told (SEC-29): disclosure cannot tell whether the child is of their borough
        # (casework holds that), so their request waits for the decider, who meets the restriction then.
        findings += _restriction_findings(await uow.disclosures.active_restrictions(subject_ids), exception)
    status = Status.REFUSED if findings else Status.PENDING
    row: dict[str, Any] = {
        "disclosure_id": disclosure_id, "origin": "request", "status": status.value,
        "recipient": body.recipient.model_dump(mode="json"), "recipient_type": body.recipient.type.value,
        "purpose": body.purpose.value, "legal_gateway": body.legal_gateway, "reference": body.reference,
        "authorised_officer": body.authorised_officer,
        "categories_requested": [c.value for c in dict.fromkeys(body.categories)],
        "categories_released": [c.value for c in assessment.categories_released] if not findings else [],
        "fields_released": [], "reason": body.reason, "restriction_exception": exception,
        "policy_findings": [f.as_json() for f in findings], "approval_roles": assessment.approval_roles,
        "requested_by": actor.sub, "requested_by_role": actor.role, "borough": actor.borough, "requested_at": now,
        "received_on": received_on,
    }
    if findings:  # a refusal by the policy is a decision not to share, recorded as one
        row |= {"decision": "refuse", "decided_by": "policy", "decider_name": "disclosure policy",
                "decider_role": f"policy {policy.version}", "decision_reason": "refused by the disclosure policy",
                "decided_at": now}
    await uow.disclosures.add(row, subject_ids)
    row["subject_ids"] = subject_ids
    personal = {"subject_ids": [str(s) for s in subject_ids], "recipient": row["recipient"],
                "legal_gateway": body.legal_gateway, "reference": body.reference, "reason": body.reason,
                "authorised_officer": body.authorised_officer, "restriction_exception": exception,
                "requested_by": actor.sub}
    entries = [entry(LeafKind.REQUESTED, str(disclosure_id), now,
                     _facts(row, categories_requested=row["categories_requested"], requested_by_role=actor.role,
                            received_on=received_on.isoformat()),
                     personal)]
    if findings:
        entries.append(entry(LeafKind.DECIDED, str(disclosure_id), now,
                             _facts(row, decision="refuse", decided_by="policy",
                                    findings=[f.code for f in findings]),
                             {"findings": [f.as_json() for f in findings]}))
    await record_in_log(uow, disclosure_id, entries)
    return disclosure_id


async def decide(uow: DisclosureUnitOfWork, disclosure_id: uuid.UUID, body: Decision, actor: Actor) -> None:
    """A second person's decision on a pending request: approved (shared) or refused."""
    row = await uow.disclosures.get(disclosure_id, for_update=True)
    if row is None:
        raise Refusal(404, "not_found", "no such disclosure")
    if row["status"] != Status.PENDING:
        raise Refusal(409, "already_decided", f"this disclosure is already {row['status']}")
    if not actor.sub.strip() or not str(row["requested_by"] or "").strip():
        # The two-person rule compares the identity provider's ids: with one missing, it proves nothing.
        raise Refusal(403, "two_person_rule", "the decider's or the requester's identity is unknown")
    if actor.sub == row["requested_by"]:
        # Two-person rule: whoever asked can never decide.
        raise Refusal(403, "two_person_rule", "the person who made the request cannot decide it")
    role = _deciding_role(actor, row["approval_roles"])
    if role is None:
        raise Refusal(403, "approval_role_required",
                      f"this share needs a decision by: {', '.join(row['approval_roles'])}")
    subject_ids = await uow.disclosures.subjects_of(disclosure_id)
    approve = body.decision == "approve"
    if approve and _restriction_findings(await uow.disclosures.active_restrictions(subject_ids),
                                         row["restriction_exception"]):
        raise Refusal(409, "subject_restricted", "a subject was restricted after the request "
                                                 "(UK GDPR Art 18); refuse, or ask again with an exception")
    now, policy = uow.clock.now(), uow.rules.policy
    sign_off = _sign_off(uow, row, body, actor, role) if approve else None
    # The record names the decider as the token does: the identity provider's id (it carries no other
    # name) and the role that decided; the job title they type is kept beside it, as theirs (SEC-23).
    decided: dict[str, Any] = {
        "decision": body.decision, "decided_by": actor.sub, "decider_name": actor.sub, "decider_role": role,
        "decider_title": body.job_title, "sign_off": sign_off, "decision_reason": body.reason,
        "decided_at": now, "status": (Status.SHARED if approve else Status.REFUSED).value,
    }
    if approve:
        row_for_fields = policy.row(row["recipient_type"], row["purpose"])
        categories = row["categories_released"]
        decided["fields_released"] = policy.fields_for(row_for_fields, categories) if row_for_fields else []
        decided["shared_at"] = now
    else:
        decided["categories_released"] = []
    await uow.disclosures.record_decision(disclosure_id, decided)
    view = {**row, **decided, "subject_ids": subject_ids}
    # The leaf is permanent, so it names the decider's role only as the token gives it (a closed set), and
    # a sign-off by its rank in the policy's words; the ids and the words as typed are personal data and
    # go into the purgeable payload.
    facts = _facts(view, decision=body.decision, decider_role=role)
    personal = {"decided_by": actor.sub, "decider_name": actor.sub, "decider_role": role,
                "decider_title": body.job_title, "reason": body.reason}
    if sign_off is not None:
        facts["sign_off"] = {"rank": sign_off["rank"],
                             "confirmed_by_role": role if sign_off["confirmed_by"] is not None else None}
        personal["sign_off"] = sign_off
    entries = [entry(LeafKind.DECIDED, str(disclosure_id), now, facts, personal)]
    if approve:
        entries.append(entry(LeafKind.SHARED, str(disclosure_id), now,
                             _facts(view, fields_released=decided["fields_released"]),
                             {"subject_ids": [str(s) for s in subject_ids], "recipient": row["recipient"],
                              "fields_released": decided["fields_released"]}))
    await record_in_log(uow, disclosure_id, entries)


DECIDING_ROLES = frozenset({"manager", "dpo"})


def _deciding_role(actor: Actor, approval_roles: list[str]) -> str | None:
    """The token's role that may decide this request: the one that let the request in, else another the
    token holds that the policy row names (a manager and DPO deciding a Home Office share as the DPO)."""
    for role in (actor.role, *sorted(actor.roles)):
        if role in approval_roles and role in DECIDING_ROLES:
            return role
    return None


def _sign_off(uow: DisclosureUnitOfWork, row: dict[str, Any], body: Decision, actor: Actor,
              role: str) -> dict[str, Any] | None:
    """DOMAIN 4: a police request is signed off at inspector rank or above. What the requester typed is
    their word (the request is refused when it is below inspector); the decider may add their own claim of
    the rank they saw sign it off (SEC-23), recorded beside it. CONTRACT section 4's decision body is
    `{decision, reason}`: an approval without that claim is accepted and recorded as not confirmed."""
    policy = uow.rules.policy
    policy_row = policy.row(row["recipient_type"], row["purpose"])
    if policy_row is None or "inspector_sign_off" not in policy_row.requires:
        return None
    if body.sign_off_rank is None:
        return {"rank": normalise_rank(row["recipient"].get("requester_rank") or ""), "rank_as_checked": None,
                "rank_as_requested": row["recipient"].get("requester_rank"), "confirmed_by": None,
                "confirmed_by_role": None}
    if not policy.signs_off(body.sign_off_rank):
        raise Refusal(422, "sign_off_rank_too_low", "a police request must be signed off at inspector "
                      "rank or above", ["body", "sign_off_rank"])
    return {"rank": normalise_rank(body.sign_off_rank), "rank_as_checked": body.sign_off_rank,
            "rank_as_requested": row["recipient"].get("requester_rank"), "confirmed_by": actor.sub,
            "confirmed_by_role": role}


async def withhold_from_sar(uow: DisclosureUnitOfWork, disclosure_id: uuid.UUID, body: Withholding,
                            actor: Actor) -> None:
    """The DPO withholds one share from the subject's access requests until its review date."""
    row = await uow.disclosures.get(disclosure_id)
    if row is None:
        raise Refusal(404, "not_found", "no such disclosure")
    if row["status"] != Status.SHARED:
        raise Refusal(409, "not_shared", "only a share made can be withheld from an access request")
    now, today, max_days = uow.clock.now(), uow.clock.today(), uow.rules.withholding_max_days
    if not today < body.review_date <= today + timedelta(days=max_days):
        # DOMAIN 4: never blanket, so the review must come, and not before tomorrow.
        raise Refusal(422, "review_date_out_of_range",
                      f"review_date must be after today and at most {max_days} days ahead", ["body", "review_date"])
    # The decider as the token names them (SEC-23); the job title they type is theirs, beside it.
    record = {"withholding_id": uuid.uuid4(), "disclosure_id": disclosure_id, "exemption": body.exemption,
              "reason": body.reason, "decided_by": actor.sub, "decider_name": actor.sub, "decider_role": actor.role,
              "decider_title": body.job_title, "review_date": body.review_date, "recorded_at": now}
    await uow.disclosures.add_withholding(record)
    # The row is bound to its leaf (id, review date and time in the leaf; the words in the payload), so
    # verify-log finds a withholding row added, changed or removed outside the service.
    facts = {"recipient_type": row["recipient_type"], "purpose": row["purpose"],
             "review_date": body.review_date.isoformat(),
             "decider_role": actor.role,  # the token's role; the typed job title goes into the payload
             "withholding_id": str(record["withholding_id"])}
    personal = {"exemption": body.exemption, "reason": body.reason, "decided_by": actor.sub,
                "decider_name": record["decider_name"], "decider_role": record["decider_role"],
                "decider_title": body.job_title}
    await record_in_log(uow, disclosure_id, [entry(LeafKind.WITHHELD_FROM_SAR, str(disclosure_id), now, facts, personal)])


async def on_share_made(uow: DisclosureUnitOfWork, event: ShareMade) -> None:
    """A share another service made: logged as it happened, with any policy findings for the DPO. A share
    is recorded once per (service, share_ref): a repeat is a duplicate and changes nothing."""
    if await uow.disclosures.share_recorded(event.service, event.share_ref):
        return
    subject_ids = list(dict.fromkeys(event.subject_ids))
    assessment = assess(uow.rules.policy, recipient_type=event.recipient.type, purpose=event.purpose,
                        legal_gateway=event.legal_gateway, reference=None, requester_rank=None,
                        authorised_officer=None, categories=event.categories)
    findings = [f for f in assessment.findings if f.code not in ("crime_reference_required",
                                                                  "inspector_sign_off_required")]
    if await uow.disclosures.active_restrictions(subject_ids):
        findings.append(Finding("made_while_restricted", "shared while a subject was restricted (UK GDPR Art 18)"))
    disclosure_id = uuid.uuid4()
    row: dict[str, Any] = {
        "disclosure_id": disclosure_id, "origin": event.service, "share_ref": event.share_ref,
        "status": Status.SHARED.value, "recipient": event.recipient.model_dump(mode="json"),
        "recipient_type": event.recipient.type, "purpose": event.purpose, "legal_gateway": event.legal_gateway,
        "categories_requested": [c.value for c in event.categories],
        "categories_released": [c.value for c in event.categories], "fields_released": event.fields_released,
        "reason": event.reason, "policy_findings": [f.as_json() for f in findings],
        # The two-person rule of the service that made it (casework's shares: SEC-17).
        "approval_roles": list(event.approval_roles), "requested_by": event.proposed_by or event.service,
        "requested_at": event.shared_at, "decision": "approve",
        "decided_by": event.decided_by, "decider_name": event.decided_by, "decider_role": f"{event.service} service",
        "decision_reason": event.reason, "decided_at": event.shared_at, "shared_at": event.shared_at,
    }
    await uow.disclosures.add(row, subject_ids)
    row["subject_ids"] = subject_ids
    personal = {"subject_ids": [str(s) for s in subject_ids], "recipient": row["recipient"],
                "legal_gateway": event.legal_gateway, "reason": event.reason, "decided_by": event.decided_by,
                "fields_released": event.fields_released, "share_ref": event.share_ref}
    await record_in_log(uow, disclosure_id, [entry(
        LeafKind.SHARE_MADE, str(disclosure_id), event.shared_at,
        _facts(row, service=event.service, fields_released=event.fields_released,
               findings=[f.code for f in findings]),
        personal,
    )])


async def on_subject_restricted(uow: DisclosureUnitOfWork, event: SubjectRestricted) -> None:
    await uow.disclosures.restrict(event.subject_ids, event.rights_request_id, event.occurred_at)


async def on_restriction_lifted(uow: DisclosureUnitOfWork, event: RestrictionLifted) -> None:
    await uow.disclosures.lift_restriction(event.subject_ids, event.rights_request_id, event.occurred_at)
