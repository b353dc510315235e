"""The council's answer to each right, as a JSON document (pure): what the DPO reviews and releases.

An access pack holds the data from every service, grouped by service and data category with each
record's source, third-party information redacted with a reason code per redaction, the recipients
from the disclosure log, and the Art 15 supplementary information. A pack that lacks a service's
answer says so in `completeness`; it is never released as if it were whole.
"""

import copy
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID

from cme_shared.contracts.rights import DataItem, ThirdPartyReason
from cme_shared.retention import DISPOSED_RECORD

from . import art15
from .redaction import REDACTED, redact

PACK_FORMAT = "cme-rights-response/1"
TRANSFER_FORMAT = "cme-statutory-transfer/1"

ERASURE_REFUSAL = (
    "We have considered your request to erase your personal data. We process this data to perform a "
    "task in the public interest and in the exercise of official authority vested in the council: the "
    "duty under section 436A of the Education Act 1996 to identify children missing education (UK GDPR "
    "Art 6(1)(e)). The right to erasure does not apply where processing is necessary for the performance "
    "of such a task (UK GDPR Art 17(3)(b)), and the council must keep records of its transactions as they "
    "happened (Local Government Act 1972 s224; Code of Practice under FOI Act 2000 s46). We therefore "
    "refuse the request. Retention wins over erasure: the records are kept for the periods of the "
    "council's retention schedule and then destroyed by its disposal process, the only way a record is "
    "destroyed, which keeps any record under a legal hold. You may instead ask us to correct factual "
    "information, to add your addendum where you dispute an opinion, to restrict processing, or object to it."
)
REMEDIES = {
    "complaint_to_ico": art15.ICO,
    "judicial_remedy": "You may apply to a court for an effective judicial remedy against the council "
                       "(UK GDPR Art 79; a compliance order under DPA 2018 s167).",
}


@dataclass(frozen=True)
class RequestFacts:
    """What every response restates: who asked, for whom, on what authority."""

    request_id: UUID
    request_type: str
    received_on: date
    channel: str
    requester: dict[str, Any]
    subject: dict[str, Any]
    acting_as: str
    authority: list[str]

    def header(self) -> dict[str, Any]:
        return {
            "format": PACK_FORMAT,
            "request_id": str(self.request_id),
            "type": self.request_type,
            "received_on": self.received_on.isoformat(),
            "channel": self.channel,
            "requester": {k: v for k, v in self.requester.items() if k in ("first_name", "last_name")}
            | {"acting_as": self.acting_as},
            "subject": {k: v for k, v in self.subject.items() if k in ("first_name", "last_name", "date_of_birth")},
            "authority": self.authority,
        }


@dataclass(frozen=True)
class Completeness:
    services_asked: list[str]
    services_answered: list[str]
    services_missing: list[str] = field(default_factory=list)
    subject_ids: list[str] = field(default_factory=list)
    possible_matches_not_included: int = 0

    @property
    def complete(self) -> bool:
        return not self.services_missing

    def as_dict(self) -> dict[str, Any]:
        return {
            "complete": self.complete,
            "services_asked": sorted(self.services_asked),
            "services_answered": sorted(self.services_answered),
            "services_missing": sorted(self.services_missing),
            "subject_ids": self.subject_ids,
            # Possible (not certain) identity matches are left out, so nobody else's data is released;
            # the officer can confirm them in intake and re-run the collection.
            "possible_matches_not_included": self.possible_matches_not_included,
        }


def _ordered(items: list[DataItem]) -> list[DataItem]:
    return sorted(items, key=lambda i: (i.service, i.category.value, i.recorded_at, i.record_id))


def recipients(items: list[DataItem], disposed: list[DataItem] = ()) -> list[dict[str, Any]]:  # type: ignore[assignment]
    """Who the data was disclosed to, from the disclosure log's records (Art 15(1)(c)). A share whose record
    has since been disposed of still happened: its tombstone keeps the recipient organisation and the day,
    and it is listed with them (`disposed: true`; the day it was shared, not the day it was disposed of)."""
    listed = [
        {**item.recipient, "shared_at": item.recorded_at.isoformat(), "category": item.category.value,
         "disclosure_record_id": item.record_id}
        for item in _ordered(items) if item.recipient is not None
    ]
    listed += [
        {**item.recipient, "shared_at": (item.data or {}).get("shared_on"), "category": item.category.value,
         "disclosure_record_id": item.record_id, "disposed": True}
        for item in _ordered(list(disposed)) if item.recipient is not None
    ]
    return listed


def disposed_records(items: list[DataItem]) -> list[dict[str, Any]]:
    """What the council held and has disposed of (a tombstone each: record type, when, under which rule), for
    the pack's own section. Their content is gone: nothing to redact or withhold, no third party's data."""
    out = []
    for item in sorted(items, key=lambda i: (i.recorded_at, i.service, i.record_id)):
        data = item.data or {}
        out.append({"service": item.service, "record_type": data.get("disposed_record_type"),
                    "disposed_at": data.get("disposed_at") or item.recorded_at.isoformat(),
                    "clock_started_on": data.get("clock_started_on"), "rule_id": data.get("rule_id"),
                    "rule": data.get("rule"), "schedule_id": data.get("schedule_id")})
    return out


def access_pack(facts: RequestFacts, items: list[DataItem], requester_subject_ids: frozenset[UUID],
                completeness: Completeness, retention: str) -> dict[str, Any]:
    """The access pack; `retention` is the statement of the retention schedule in force (Art 15(1)(d)).
    Tombstones among the items (record_type "disposed_record") are listed in `disposed_records`, apart from
    the data: the records they stand for were destroyed, so there is nothing of them to show or redact."""
    disposed = [i for i in items if i.record_type == DISPOSED_RECORD]
    items = [i for i in items if i.record_type != DISPOSED_RECORD]
    grouped: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    redactions: list[dict[str, str]] = []
    withheld = 0
    for item in _ordered(items):
        result = redact(item, requester_subject_ids)
        redactions.extend(r.as_dict() for r in result.redactions)
        entry: dict[str, Any] = {
            "record_type": item.record_type, "record_id": item.record_id,
            "recorded_at": item.recorded_at.isoformat(), "source": item.source,
        }
        if result.data is None:
            withheld += 1
            entry["withheld"] = "this record holds information about another person that could not be " \
                                "separated; it has been withheld pending review"
        else:
            entry["data"] = result.data
        grouped[item.service][item.category.value].append(entry)
    categories_held = sorted({i.category.value for i in items})
    return {
        **facts.header(),
        "data": [
            {"service": service, "categories": [{"category": category, "records": records}
                                                for category, records in sorted(by_category.items())]}
            for service, by_category in sorted(grouped.items())
        ],
        "disposed_records": disposed_records(disposed),
        "recipients": recipients(items, disposed),
        "redactions": redactions,
        "summary": {"records": len(items), "redactions": len(redactions), "records_withheld": withheld,
                    "services": sorted(grouped), "records_disposed": len(disposed)},
        "completeness": completeness.as_dict(),
        "supplementary_information": art15.supplementary_information(categories_held, retention),
    }


# The exemptions the DPO may apply, item by item, and the basis the pack shows for each; the conditions
# some carry (who asked, a health professional's opinion) are checked in `exemptions.check`.
EXEMPTIONS = {
    "crime_and_taxation": "DPA 2018 Sch 2 Part 1 para 2 (crime and taxation)",
    "legal_professional_privilege": "DPA 2018 Sch 2 Part 4 para 19 (legal professional privilege)",
    "social_work_serious_harm": "DPA 2018 Sch 3 Part 3 (social work data: serious harm test)",
    "education_serious_harm": "DPA 2018 Sch 3 Part 4 (education data: serious harm test)",
    "child_abuse_data": "DPA 2018 Sch 3 Part 5 para 21 (child abuse data: a request by a person with parental "
                        "responsibility, where giving it would not be in the child's best interests)",
    "health_serious_harm": "DPA 2018 Sch 3 Part 2 (health data: serious harm test, on the opinion of the "
                           "appropriate health professional)",
    "special_educational_needs_records": "DPA 2018 Sch 4 para 4 (statements and records of special educational "
                                         "needs, whose disclosure the law restricts)",
}


class RecordNotInPack(LookupError):
    pass


def apply_exemption(pack: dict[str, Any], service: str, record_id: str, exemption: str, reason: str,
                    decided_by: str) -> dict[str, Any]:
    """Withhold one record under an exemption (DOMAIN section 5: item by item, with a recorded reason).

    The pack keeps the record's place (type, date, source) so the requester knows something was
    withheld and why, unless telling would itself prejudice the purpose, which is the DPO's call.
    """
    updated = copy.deepcopy(pack)
    for block in updated.get("data", []):
        if block["service"] != service:
            continue
        for category in block["categories"]:
            for record in category["records"]:
                if record["record_id"] == record_id:
                    record.pop("data", None)
                    record["withheld"] = f"withheld under {EXEMPTIONS[exemption]}"
                    updated.setdefault("exemptions", []).append({
                        "service": service, "record_id": record_id, "exemption": exemption,
                        "basis": EXEMPTIONS[exemption], "reason": reason, "decided_by": decided_by})
                    updated["summary"]["records_withheld"] = updated["summary"].get("records_withheld", 0) + 1
                    return updated
    raise RecordNotInPack(record_id)


def _with_recipients(body: dict[str, Any], gathered: list[DataItem], completeness: Completeness) -> dict[str, Any]:
    # Art 19: each recipient the data went to is told, unless impossible or disproportionate; the list
    # comes from the disclosure log, and says so when the log did not answer.
    return {**body, "recipients_to_notify": recipients(gathered), "completeness": completeness.as_dict()}


def rectification_response(facts: RequestFacts, decision: dict[str, Any], gathered: list[DataItem],
                           completeness: Completeness) -> dict[str, Any]:
    return _with_recipients({**facts.header(), "decision": decision, "remedies": REMEDIES}, gathered, completeness)


def erasure_response(facts: RequestFacts, decision: dict[str, Any], gathered: list[DataItem],
                     completeness: Completeness, retention: str) -> dict[str, Any]:
    """`retention`: the statement of the schedule in force, which says when the records go (the only way)."""
    body: dict[str, Any] = {**facts.header(), "decision": decision, "remedies": REMEDIES, "retention": retention}
    if decision["outcome"] == "refused":
        return {**body, "explanation": ERASURE_REFUSAL}
    body["explanation"] = ("The Data Protection Officer has exceptionally granted erasure: from now on the "
                           "information is not used or shared (processing is restricted). The records are "
                           "destroyed by the council's disposal process, the only way a record is destroyed, "
                           "when the retention schedule says and unless a legal hold keeps them.")
    return _with_recipients(body, gathered, completeness)


def restriction_response(facts: RequestFacts, decision: dict[str, Any], gathered: list[DataItem],
                         completeness: Completeness) -> dict[str, Any]:
    body: dict[str, Any] = {**facts.header(), "decision": decision, "remedies": REMEDIES}
    if decision["outcome"] != "restricted":
        return body
    body["explanation"] = (
        "Your data is now stored but not otherwise processed or shared, except with your consent, for "
        "legal claims, to protect another person, or for important public interest (UK GDPR Art 18(2)). "
        "We will tell you before the restriction is lifted (Art 18(3)).")
    return _with_recipients(body, gathered, completeness)


def objection_response(facts: RequestFacts, decision: dict[str, Any]) -> dict[str, Any]:
    return {**facts.header(), "decision": decision, "remedies": REMEDIES}


def automated_decision_response(facts: RequestFacts) -> dict[str, Any]:
    return {
        **facts.header(),
        "statement": art15.AUTOMATED_DECISION_STATEMENT,
        "register": art15.AUTOMATED_PROCESSING_REGISTER,
        "remedies": REMEDIES,
    }


def complaint_response(facts: RequestFacts, acknowledged_on: date | None, outcome: dict[str, Any]) -> dict[str, Any]:
    return {
        **facts.header(),
        "acknowledged_on": acknowledged_on.isoformat() if acknowledged_on else None,
        "outcome": outcome,
        # DPA 2018 s164A; ICO complaints guidance: the outcome says how to take it further.
        "if_not_satisfied": REMEDIES,
    }


def refusal_response(facts: RequestFacts, reason: str, basis: str) -> dict[str, Any]:
    return {
        **facts.header(),
        "decision": {"outcome": "refused", "basis": basis, "reasons": reason},
        "remedies": REMEDIES,
    }


def transfer_record(facts: RequestFacts, items: list[DataItem], recipient: dict[str, Any],
                    completeness: Completeness, generated_at: datetime) -> dict[str, Any]:
    """The child's record in machine-readable JSON for the new authority (a statutory share, DOMAIN 5).

    The new council carries on the same duty, so professionals' and carers' information goes with the
    record; the identity of a member of the public who referred stays here (data minimisation).
    """
    records = []
    redactions: list[dict[str, str]] = []
    for item in _ordered(items):
        result = redact(item, frozenset(), reasons=frozenset({ThirdPartyReason.PUBLIC_REFERRER}))
        redactions.extend(r.as_dict() for r in result.redactions)
        records.append({
            "service": item.service, "record_type": item.record_type, "record_id": item.record_id,
            "subject_id": str(item.subject_id), "category": item.category.value, "source": item.source,
            "recorded_at": item.recorded_at.isoformat(), "data": result.data,
        })
    return {
        "format": TRANSFER_FORMAT,
        "request_id": str(facts.request_id),
        "generated_at": generated_at.isoformat(),
        "recipient": recipient,
        "subject_ids": completeness.subject_ids,
        "records": records,
        "redactions": redactions,
        "completeness": completeness.as_dict(),
    }


def fields_released(records: list[dict[str, Any]]) -> list[str]:
    """`record_type.field` of what a transfer record actually carries, for the disclosure log."""
    return sorted({f"{r['record_type']}.{key}" for r in records for key, value in (r["data"] or {}).items()
                   if value != REDACTED})
