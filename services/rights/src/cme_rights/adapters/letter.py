"""A response pack as a letter a parent can read (UK GDPR Art 12(1): concise, intelligible, plain language).

One Jinja2 template (`templates/letter.html`) renders the DPO's web preview, the printable HTML and the PDF
(`adapters/pdf.py`). The JSON pack is the machines' copy and is not changed here: this module only reads it.

What the letter says, from the pack:
- a cover letter addressed to the requester;
- a schedule: what each part of the council holds, in words (every service, record type, category, field
  and coded value is mapped to words; a key this module does not know is turned into words, never printed
  as it is stored); dates in full ("14 June 2026");
- the Art 15 information as prose: purposes, categories, recipients (the disclosure log's shares, and the
  council staff who looked, from the access log items), retention, sources, the rights and how to complain
  to the ICO;
- redactions and withheld records shown as such, with a reason a person understands;
- nothing internal: no identifier (a field named `*_id`, `*_ids` or `*_sub`, an entry's `supersedes`, or any
  uuid in a text), no staff member's user id (an actor such as "officer:<sub>" or "system:intake" becomes the
  role in words, "a CME officer", "the council's referral system"; a field naming a staff member, such as
  `allocated_to` or `*_by`, says their role), and no empty block (a field with no value, or a group whose
  fields are all empty or hidden, is left out). The JSON pack keeps all of it.

Bounded (SEC-25): the records take at most `DATA_BUDGET` characters and the staff reads `SECTIONS_BUDGET`;
what is left out is counted and said to be in the electronic copy. Values nested deeper than `MAX_DEPTH`
print on one line; each value is cut at `MAX_VALUE_CHARS` and cleaned of what prints as nothing; a run of
more than `MAX_WORD` characters without a space gets one every `MAX_WORD` characters (WeasyPrint took 20 s
to wrap 60,000 characters of unbroken words, and 2 s once they had spaces).
"""

import json
import re
import unicodedata
from collections import Counter
from datetime import date, datetime
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from cme_shared.clock import LONDON, SYSTEM_CLOCK

from ..domain import art15

MAX_DEPTH = 6
MAX_VALUE_CHARS = 10_000
DATA_BUDGET = 40_000
SECTIONS_BUDGET = 20_000
MAX_WORD = 60
MAX_COMBINING = 4
MAX_STAFF_ROWS = 300
CUT = " [cut short here: the electronic copy of this response holds the whole text]"
ELECTRONIC_ONLY = ("{n} further record(s) are not printed, to keep this copy to a readable size: they are in "
                   "the electronic copy of this response, which holds everything.")
COUNCIL = "Westminster City Council and the Royal Borough of Kensington and Chelsea"
TEAM = "Children Missing Education Team, Admissions and Access to Education"

TITLES = {
    "access": "Your request for a copy of your information",
    "rectification": "Your request to correct your information",
    "erasure": "Your request to erase your information",
    "restriction": "Your request to restrict the use of your information",
    "objection": "Your objection to the use of your information",
    "transfer": "Transfer of a child's record to another council",
    "automated_decision": "Your question about automated decision-making",
    "complaint": "Your data protection complaint",
}

SERVICES = {
    "intake": "Referrals we received (the team that receives notices about children)",
    "casework": "The children missing education case records (the officers' work with the family)",
    "disclosure": "Sharing with other organisations (the council's record of what it shared)",
    "rights": "Your data protection requests (the rights team)",
}

CATEGORIES = {
    "contact": "Names, addresses and contact details",
    "demographics": "Date of birth, sex and other personal details",
    "education": "Schools and education",
    "statutory_services": "Involvement with other services such as social care or early help",
    "benefits": "Benefits",
    "council_tax": "Council tax",
    "home_office": "Involvement with the Home Office",
    "police_probation": "Involvement with the police or probation",
}

RECORD_TYPES = {
    "referral": "Referral received",
    "identity_record": "What we hold to know who this is",
    "identity_decision": "An officer's decision on whether two records are the same person",
    "case": "Case record",
    "case_child_details": "The child's details on the case",
    "case_link": "Link to a child's case",
    "case_history": "Entry in the case history",
    "enquiry": "Enquiry made by an officer",
    "note": "Officer's note",
    "note_addendum": "Addendum added to a note",
    "disclosure": "Information shared with another organisation",
    "access": "A member of council staff looked at the record",
    "rights_request": "Data protection request",
    "disposed_record": "A record we held and have disposed of",
}
# What a disposed record was (a tombstone's `disposed_record_type`, contracts/retention.py RecordType).
DISPOSED_TYPES = {
    "case": "A children missing education case and its history",
    "record_without_case": "A referral we recorded without opening a case",
    "ehe_record": "An elective home education record",
    "referral": "A referral as we received it",
    "dead_letter": "A referral we could not accept, kept for its sender to correct",
    "identity": "What we held to know who this is",
    "disclosure": "A record of information shared, or of a decision not to share",
    "rights_request": "A data protection request and our response to it",
}

# Every field the services send, in words (the same key has the same words wherever it appears).
LABELS = {
    "first_name": "First name", "last_name": "Last name", "middle_names": "Middle names",
    "preferred_name": "Preferred name", "aliases": "Other names used", "title": "Title", "name": "Name",
    "address": "Address", "line1": "Address", "line2": "Address (second line)", "town": "Town",
    "postcode": "Postcode", "uprn": "Property reference number", "valid_from": "Lived there from",
    "address_history": "Addresses we hold", "future_address": "New address", "future_address_from":
    "Moving to the new address on", "new_address_from": "Moving to the new address on",
    "new_address_borough": "Borough of the new address", "phones": "Phone numbers", "phone": "Phone number",
    "email": "Email address", "contact": "Contact person", "role": "Role",
    "date_of_birth": "Date of birth", "sex": "Sex", "nhs_number": "NHS number", "relationship":
    "Relationship to the child", "parental_responsibility": "Has parental responsibility",
    "lives_with_child": "Lives with the child",
    "upn": "Unique pupil number", "current_school_urn": "Current school (school reference number)",
    "previous_school_urn": "Previous school (school reference number)", "send":
    "Special educational needs and disability", "destination_school_urn": "New school (school reference number)",
    "destination_start_date": "Starting at the new school on",
    "notification": "The notice we received", "notification_kind": "What the notice was about",
    "kind": "What happened", "deletion_ground": "Why the school took the child off its roll",
    "deletion_date": "Date taken off the school roll", "last_attended_on": "Last day at school",
    "details": "Details given", "referred_by": "Who told us", "type": "Type",
    "org_name": "Organisation", "submitted_at": "Sent to us on", "received_at": "Received on",
    "flags": "Other services involved", "safeguarding": "Safeguarding concerns",
    "carers": "Parents and carers named", "carer": "Parent or carer", "referrer": "The person who told us",
    "referral": "The referral",
    "source_type": "Who sent the notice",
    "source": "Where it came from", "recorded_at": "Recorded on", "warnings": "Checks that raised a question",
    "incomplete_return": "The school's notice was missing some details",
    "missing_return_fields": "Details missing from the school's notice",
    "decision": "Decision", "reason": "Reason", "reasons": "Reasons", "matched_on": "Matched on",
    "records_joined": "Records joined together",
    "status": "Status", "risk": "Level of concern", "borough": "Borough",
    "opened_on": "Case opened on", "closed_on": "Case closed on", "closure_reason": "Why the case was closed",
    "next_due_date": "Next check due by", "link": "Link", "actor": "Recorded by", "effective_on": "Date",
    "supersedes": "Replaces an earlier entry", "detail": "Details", "facts": "Facts recorded",
    "answered_on": "Answered on", "outcome": "Outcome", "text": "Text", "note": "Note",
    "opinion": "Professional opinion", "fact": "Fact", "addendum": "Addendum", "addendum_text": "Addendum",
    "restriction_exception": "Exception to the restriction",
    "purpose": "Why", "legal_gateway": "The law that allows it", "categories_released": "Kinds of information shared",
    "fields_released": "Details shared", "shared_at": "Shared on", "log_leaves":
    "Entry numbers in the council's tamper-evident sharing log",
    "action": "What they did", "returned": "What they saw",
    "allocated_to": "Given to", "allocated_by": "Given by", "as_role": "Acting as", "proposed_by": "Proposed by",
    "decided_by": "Decided by", "approved_by": "Approved by", "decision_reason": "Reason for the decision",
    "whom": "Who was asked", "organisation": "Organisation", "field": "What was corrected",
    "new_value": "Corrected to", "previous_value": "What it said before",
}

# How the requester acts, after "you asked" (the request's `acting_as`).
ACTING_AS = {"self": "for yourself", "parent": "as a parent or carer", "guardian": "as the child's guardian",
             "representative": "as a representative"}

# A staff member is named by their role, never by their user id (an actor is "<role>:<sub>").
ROLES_IN_WORDS = {"officer": "a CME officer", "manager": "a CME manager", "dpo": "the Data Protection Officer",
                  "auditor": "an auditor", "partner": "a partner organisation"}
SOME_SYSTEM = "the council's computer system"
SOME_STAFF = "a member of council staff"
# Fields that name a staff member by user id without a role prefix: the role they always hold.
STAFF_FIELDS = {"actor": SOME_STAFF, "allocated_to": ROLES_IN_WORDS["officer"],
                "approved_by": ROLES_IN_WORDS["dpo"], "released_by": ROLES_IN_WORDS["dpo"]}
NOT_STAFF = {"referred_by"}  # "who told us": a kind of referrer, not a member of staff

VALUES = {
    # casework history
    "case_opened": "Case opened", "case_reopened": "Case opened again", "referral_joined":
    "Referral added to the case", "referral_recorded": "Referral kept with the child's record",
    "referral_held_restricted": "Referral kept but not acted on (processing restricted)",
    "referral_released": "Held referral acted on after the restriction ended", "risk_raised":
    "Level of concern raised", "borough_assigned": "Borough responsible decided", "enquiry_made": "Enquiry made",
    "enquiry_answered": "Enquiry answered", "escalation_required": "Needed to be passed on (escalated)",
    "escalation_sent": "Passed on (escalated)", "escalation_outcome_recorded": "Result of the escalation recorded",
    "case_reviewed": "Case reviewed", "closure_proposed": "Closing the case proposed",
    "closure_rejected": "Closing the case not agreed", "case_closed": "Case closed", "note_added": "Note added",
    "note_corrected": "Note corrected", "addendum_attached": "Addendum added", "share_proposed":
    "Sharing proposed", "share_made": "Information shared", "share_refused": "Sharing refused",
    "fact_rectified": "Fact corrected at your request", "restriction_applied": "Use of the information restricted",
    "restriction_lifted": "Restriction lifted",
    "system:intake": "the council's referral system", "system:rights": "the council's data protection system",
    "system:casework": "the council's case system",
    # statuses, risk, sources, roles
    "open": "Open", "closed": "Closed", "high": "High", "standard": "Standard", "public": "a member of the public",
    "parent": "a parent or carer", "school": "a school", "local_authority": "another council", "nhs": "the NHS",
    "police": "the police", "social_care": "social care", "other_local_authority": "another council",
    "officer": "CME officer", "manager": "CME manager", "dpo": "Data Protection Officer", "council_staff":
    "council staff", "self": "for yourself", "guardian": "as the child's guardian",
    "representative": "as a representative",
    "westminster": "Westminster", "kensington_and_chelsea": "Kensington and Chelsea",
    # sources the services write
    "casework": "the children missing education case records", "casework officer": "a CME officer",
    "referral": "a referral", "data subject": "the person the information is about",
    "rights request": "a data protection request",
    # actions in the access log
    "case.read": "looked at the case", "cases.list": "saw the case in a list",
    "case.closure_readiness": "checked what was still needed to close the case",
    "census.export": "counted the case in the return the council sends the Department for Education",
    "referral.read": "looked at a referral about the child", "triage.list": "saw the referral on the list of "
    "referrals still to be given to a borough", "awaiting_acceptance.list": "saw the referral on the list of "
    "referrals waiting for an officer", "possible_match.read": "checked whether two records are the same person",
    "held_referrals.list": "saw a referral held while the use of the information was restricted",
    "routed_referrals.list": "saw the referral on the list of children passed to another team",
    "shares.pending": "saw a proposal to share information, waiting for a manager",
    "disclosure.read": "looked at a record of information shared", "disclosures.list": "saw the records of "
    "information shared", "disclosures.pending": "saw a request to share information, waiting for a decision",
    "disclosure.request": "asked to share information", "disclosure.decide": "decided whether to share "
    "information", "disclosure.withhold": "decided to hold back a record of sharing for a time",
    "recipients.read": "looked at who the information was shared with",
    "third_party.unseal": "opened the details of the person who contacted us, as the Data Protection Officer",
    "case_allocated": "Case given to an officer",
    "ehe_record.read": "looked at the elective home education record",
    "ehe_records.list": "saw the elective home education record in a list",
    "ehe_count.export": "counted the child in the elective home education figures",
    "cnis_register.read": "looked at the child's entry in the register of children not in school",
    "cnis_register.export": "included the child in the export of the register of children not in school",
    "rights_request.read":
    "looked at the data protection request", "rights_response.read": "looked at the response to the request",
    "rights_draft.read": "looked at the draft response", "access_log.read":
    "looked at who had seen the record",
    # identity decisions
    "merge": "The records were joined: they are the same person", "distinct":
    "The records were kept apart: they are different people",
    # disclosure purposes
    "statutory_transfer": "sending the child's record to a new council, as the law requires",
    "safeguarding": "keeping a child safe", "criminal_investigation": "a police investigation",
}

REDACTION_REASONS = {
    "third_party_public_referrer": "This would tell you who contacted us. A member of the public who tells us about "
                                   "a child can do so in confidence, so we have not shown who they are.",
    "third_party_other_child": "This is about another child, so it is not yours to see.",
    "third_party_other_carer": "This is about another parent or carer, so it is not yours to see.",
    "third_party_other_person": "This is about another person, so it is not yours to see.",
    "third_party_path_unresolved": "This record holds information about another person that we could not "
                                   "separate from yours, so we have held back the whole record while it is "
                                   "reviewed.",
}
EXEMPTION_REASONS = {
    "crime_and_taxation": "Telling you this now could harm the prevention or detection of crime.",
    "legal_professional_privilege": "This is confidential legal advice to the council.",
    "social_work_serious_harm": "Telling you this would be likely to cause serious harm to someone's physical or "
                                "mental health.",
    "education_serious_harm": "Telling you this would be likely to cause serious harm to someone's physical or "
                              "mental health.",
    "child_abuse_data": "This is about whether a child may have been harmed, and telling you would not be in "
                        "the child's best interests.",
    "health_serious_harm": "A health professional told us that showing you this health information would be "
                           "likely to cause serious harm to someone's physical or mental health.",
    "special_educational_needs_records": "This is part of a record of the child's special educational needs "
                                         "that the law lets us hold back.",
}
SECTION_TITLES = {
    "decision": "Our decision", "explanation": "Why", "remedies": "If you are not satisfied",
    "if_not_satisfied": "If you are not satisfied", "statement": "Automated decision-making",
    "register": "Register of automated processing", "outcome": "The outcome of your complaint",
    "acknowledged_on": "When we acknowledged your complaint", "recipients_to_notify":
    "Organisations we are telling about this", "records": "Records transferred", "recipient": "Sent to",
    "release": "Release", "share": "The statutory share", "redactions": "Information removed",
    "retention": "How long we keep it",
}
# Internal keys of a non-access response that a reader does not need (the JSON copy keeps them).
SKIP = {"format", "request_id", "type", "received_on", "channel", "requester", "subject", "authority", "status",
        "completeness", "generated_at", "subject_ids"}

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
_LONG_WORD = re.compile(rf"\S{{{MAX_WORD}}}(?=\S)")
_CODE = re.compile(r"^[a-z][a-z0-9]*([_:.][a-z0-9]+)+$")
_UUID = re.compile(r"[#:]?\s*\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
_ACTOR = re.compile(r"\b(officer|manager|dpo|auditor|partner|system):[^\s,;()]+")
_STAFF_SOURCE = re.compile(r"^CME officer \S+$")  # intake's "CME officer <sub>" for an identity decision


def hidden(key: str) -> bool:
    """An identifier field: the letter leaves it out (the JSON pack keeps it)."""
    return key in ("id", "supersedes", "as_role") or key.endswith(("_id", "_ids", "_sub"))  # as_role: said by *_by


def actor_words(actor: str) -> str:
    """"officer:<sub>" -> "a CME officer"; "system:intake" -> "the council's referral system"."""
    role = actor.partition(":")[0]
    if role == "system":
        return VALUES.get(actor, SOME_SYSTEM)
    return ROLES_IN_WORDS.get(role, SOME_STAFF)


def scrub(text: str) -> str:
    """A text without identifiers: actors become roles in words, uuids are dropped."""
    text = _ACTOR.sub(lambda m: actor_words(m.group(0)), text)
    if _UUID.search(text):
        text = re.sub(r"[ \t]{2,}", " ", _UUID.sub("", text)).strip()
    return text


def _staff_keys(record: dict[str, Any]) -> set[str]:
    keys = {k for k in record if isinstance(k, str) and (k in STAFF_FIELDS or k.endswith("_by"))} - NOT_STAFF
    if "allocated_to" in record and "previous" in record:
        keys.add("previous")  # the officer the case was allocated to before
    return keys


def staff_words(key: str, value: Any, record: dict[str, Any]) -> str:
    """A field naming a staff member, as their role in words."""
    text = str(value)
    if _ACTOR.fullmatch(text):
        return actor_words(text)
    if key == "allocated_by" and record.get("as_role") in ROLES_IN_WORDS:
        return ROLES_IN_WORDS[record["as_role"]]
    if key == "previous":
        return ROLES_IN_WORDS["officer"]
    return STAFF_FIELDS.get(key, SOME_STAFF)


def empty(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, dict | list) and not value)


def printable(text: str) -> str:
    """The text as it can be printed in bounded time: NFC, without characters that print as nothing, at most
    MAX_COMBINING combining marks in a row, at most MAX_VALUE_CHARS characters."""
    cut = len(text) > MAX_VALUE_CHARS * 2
    kept: list[str] = []
    marks = 0
    for ch in unicodedata.normalize("NFC", text[:MAX_VALUE_CHARS * 2]):
        category = unicodedata.category(ch)
        if category in ("Mn", "Me"):
            marks += 1
            if marks > MAX_COMBINING:
                continue
        else:
            marks = 0
        if ch in "\n\t":
            kept.append(ch)
        elif category in ("Zl", "Zp"):
            kept.append("\n")
        elif category.startswith("Z"):
            kept.append(" ")
        elif category not in ("Cc", "Cf", "Cs", "Co", "Cn"):
            kept.append(ch)
    out = "".join(kept)
    if cut or len(out) > MAX_VALUE_CHARS:
        out = out[:MAX_VALUE_CHARS] + CUT
    return out


def compact(value: Any) -> str:
    """A nested value as one line of JSON, at most MAX_VALUE_CHARS (the encoder is lazy: no more is built)."""
    pieces: list[str] = []
    size = 0
    try:
        for piece in json.JSONEncoder(ensure_ascii=False, default=str).iterencode(value):
            pieces.append(piece)
            size += len(piece)
            if size > MAX_VALUE_CHARS:
                break
    except RecursionError:
        return "(nested too deeply to print: see the electronic copy)"
    return "".join(pieces)


def words(key: str) -> str:
    """A key or code in words: the known label, else its parts joined by spaces ("return_date" -> "Return date")."""
    if key in LABELS:
        return LABELS[key]
    text = re.sub(r"[_:.]+", " ", str(key)).strip()
    return text[:1].upper() + text[1:]


def full_date(value: date | datetime | str | None) -> str:
    """"14 June 2026"; a time is given as London time ("14 June 2026, 09:05")."""
    if value is None or value == "":
        return "not recorded"
    if isinstance(value, str):
        parsed = _parse_when(value)
        if parsed is None:
            return value
        value = parsed
    if isinstance(value, datetime):
        local = value.astimezone(LONDON) if value.tzinfo else value
        return f"{local.day} {local:%B %Y}, {local:%H:%M}"
    return f"{value.day} {value:%B %Y}"


def day_of(value: str | None) -> str:
    """Only the day of a date or time, in full."""
    parsed = _parse_when(value) if value else None
    if isinstance(parsed, datetime):
        parsed = (parsed.astimezone(LONDON) if parsed.tzinfo else parsed).date()
    return full_date(parsed) if parsed else "not recorded"


def _parse_when(text: str) -> date | datetime | None:
    try:
        if _ISO_DATE.match(text):
            return date.fromisoformat(text)
        if _ISO_DATETIME.match(text):
            return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return None


def say(value: Any) -> str:
    """One value in words: yes/no, dates in full, codes as words, text as it is (cleaned and cut)."""
    if value is None or value == "":
        return "not recorded"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    if _ACTOR.fullmatch(text):
        return actor_words(text)
    text = scrub(text)
    if text in VALUES:
        return VALUES[text]
    if _parse_when(text) is not None:
        return full_date(text)
    if text in CATEGORIES:
        return CATEGORIES[text]
    if _CODE.match(text):
        return words(text)
    if text.startswith(("school:", "local_authority:", "nhs:", "police:", "social_care:")):
        kind, _, org = text.partition(":")
        return f"{VALUES.get(kind, words(kind))} ({org})"
    return printable(text)


def breakable(value: Any) -> Any:
    """Every text the template prints: a long run without spaces is given one every MAX_WORD characters."""
    if isinstance(value, Markup) or not isinstance(value, str):
        return value  # the template's own markup (a macro's output, a join of escaped parts)
    return _LONG_WORD.sub(lambda m: m.group(0) + " ", value)


class Budget:
    """Characters left to print; a row that does not fit is cut, and nothing is printed once it is spent."""

    def __init__(self, chars: int) -> None:
        self.left = chars

    def take(self, text: str) -> str | None:
        if self.left <= 0:
            return None
        if len(text) > self.left:
            text = text[:self.left] + CUT
        self.left -= len(text)
        return text


def rows(value: Any, budget: Budget, depth: int = 0) -> list[dict[str, Any]]:
    """A record's data as rows {label, value | rows}: dicts by their keys' words, lists item by item. Identifiers
    and empty values are left out, and so is a group left with nothing in it; staff are named by role."""
    out: list[dict[str, Any]] = []
    record = value if isinstance(value, dict) else {}
    staff = _staff_keys(record)
    items = value.items() if isinstance(value, dict) else ((None, v) for v in value)
    for key, child in items:
        if key is not None and hidden(str(key)):
            continue
        if empty(child) or (isinstance(child, str) and not scrub(child)):
            continue
        label = words(str(key)) if key is not None else None
        if budget.left <= 0:
            break
        if key in staff:
            text = budget.take(staff_words(str(key), child, record))
            if text is not None:
                out.append({"label": label, "value": text})
        elif isinstance(child, dict | list) and depth + 1 >= MAX_DEPTH:
            text = budget.take(printable(scrub(compact(child))))
            if text is not None:
                out.append({"label": label, "value": text})
        elif isinstance(child, list) and all(not isinstance(c, dict | list) for c in child):
            text = budget.take("; ".join(say(c) for c in child if not empty(c)))
            if text:
                out.append({"label": label, "value": text})
        elif isinstance(child, dict | list):
            inner = rows(child, budget, depth + 1)
            if inner:
                budget.take(label or "")
                out.append({"label": label, "rows": inner})
        else:
            text = budget.take(say(child))
            if text is not None:
                out.append({"label": label, "value": text})
    return out


def _person(who: dict[str, Any] | None) -> str:
    who = who or {}
    name = " ".join(printable(str(who.get(k) or "")) for k in ("first_name", "last_name")).strip()
    return name


def _shown(redaction: dict[str, Any]) -> bool:
    """A redaction of an identifier is not listed: the letter does not print identifiers anyway."""
    return not any(hidden(part) for part in str(redaction.get("path") or "").split("."))


def _source(record: dict[str, Any]) -> str:
    source = record.get("source")
    if empty(source):
        return "not recorded"
    if _STAFF_SOURCE.match(str(source)):
        return ROLES_IN_WORDS["officer"]
    return say(source)


def _redaction_text(redaction: dict[str, Any], record_types: dict[str, str]) -> dict[str, str]:
    record = RECORD_TYPES.get(redaction.get("record_type", ""), words(redaction.get("record_type", "record")))
    return {"where": f"{record}: {words(redaction['path'].split('.')[0]) if redaction.get('path') else 'the record'}",
            "service": SERVICES.get(redaction.get("service", ""), words(redaction.get("service", ""))),
            "reason": REDACTION_REASONS.get(redaction.get("reason_code", ""), REDACTION_REASONS[
                "third_party_other_person"]),
            "law": redaction.get("basis", "")}


def access_view(pack: dict[str, Any]) -> dict[str, Any]:
    """What the template shows of an access pack (bounded: see the module's docstring)."""
    budget = Budget(DATA_BUDGET)
    schedule: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    staff_reads: list[dict[str, Any]] = []
    left_out = 0
    record_types: dict[str, str] = {}
    for block in pack.get("data") or []:
        service = str(block.get("service", ""))
        held: list[dict[str, Any]] = []
        categories: list[dict[str, Any]] = []
        for category in block.get("categories") or []:
            records = []
            count = Counter()
            for record in category.get("records") or []:
                rtype = str(record.get("record_type", ""))
                record_types[str(record.get("record_id"))] = rtype
                if rtype == "access":
                    staff_reads.append({**(record.get("data") or {}), "when": record.get("recorded_at"),
                                        "service": service})
                    continue
                count[rtype] += 1
                if budget.left <= 0:
                    left_out += 1
                    continue
                entry = {"what": RECORD_TYPES.get(rtype, words(rtype)),
                         "when": full_date(record.get("recorded_at")),
                         "source": _source(record)}
                budget.take(entry["what"] + entry["when"] + entry["source"])
                if "withheld" in record:
                    entry["withheld"] = _withheld_reason(pack, service, str(record.get("record_id")))
                else:
                    entry["rows"] = rows(record.get("data") or {}, budget)
                records.append(entry)
            if count:
                held.append({"category": CATEGORIES.get(category.get("category"), words(category.get("category", ""))),
                             "kinds": [f"{RECORD_TYPES.get(t, words(t))} ({n})" for t, n in sorted(count.items())]})
            if records:
                categories.append({"title": CATEGORIES.get(category.get("category"),
                                                           words(category.get("category", ""))),
                                   "records": records})
        if held:
            schedule.append({"service": SERVICES.get(service, words(service)), "held": held})
        if categories:
            parts.append({"title": SERVICES.get(service, words(service)), "categories": categories})
    return {
        "schedule": schedule,
        "parts": parts,
        "left_out": ELECTRONIC_ONLY.format(n=left_out) if left_out else None,
        "shared": _shared(pack.get("recipients") or []),
        "staff": _staff(staff_reads),
        "redactions": [_redaction_text(r, record_types) for r in pack.get("redactions") or [] if _shown(r)],
        "exemptions": [{"reason": EXEMPTION_REASONS.get(e.get("exemption", ""), "An exemption in the law applies."),
                        "service": SERVICES.get(e.get("service", ""), words(e.get("service", ""))),
                        "record": RECORD_TYPES.get(record_types.get(str(e.get("record_id")), ""), "A record"),
                        "law": e.get("basis", ""), "note": printable(scrub(str(e.get("reason") or "")))}
                       for e in pack.get("exemptions") or []],
        "disposed": _disposed(pack.get("disposed_records") or []),
        "art15": _art15(pack.get("supplementary_information") or {}),
        "completeness": _completeness(pack.get("completeness") or {}),
    }


def _disposed(tombstones: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The records the council held and disposed of: what, when, under which rule (their content is gone)."""
    budget = Budget(SECTIONS_BUDGET)
    out = []
    for t in tombstones:
        kind = str(t.get("record_type") or "")
        row = {"what": DISPOSED_TYPES.get(kind, words(kind) if kind else "A record"),
               "where": SERVICES.get(str(t.get("service") or ""), words(str(t.get("service") or ""))),
               "when": day_of(t.get("disposed_at")),
               "why": printable(scrub(str(t.get("rule") or ""))) or "the council's retention schedule"}
        if budget.take("".join(row.values())) is None:
            break
        out.append(row)
    return out


def _withheld_reason(pack: dict[str, Any], service: str, record_id: str) -> str:
    for exemption in pack.get("exemptions") or []:
        if exemption.get("service") == service and str(exemption.get("record_id")) == record_id:
            return ("We have held this record back. " + EXEMPTION_REASONS.get(
                exemption.get("exemption", ""), "An exemption in the law applies.") + f" ({exemption.get('basis')})")
    return REDACTION_REASONS["third_party_path_unresolved"]


def _shared(recipients: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The shares from the disclosure log (council staff reads are listed apart)."""
    return [{"who": printable(str(r.get("org_name") or "")) or say(r.get("type")),
             "kind": say(r.get("type")) if r.get("type") else "",
             "when": day_of(r.get("shared_at")),
             "what": CATEGORIES.get(str(r.get("category")), words(str(r.get("category") or "")))}
            for r in recipients if r.get("type") != "council_staff"]


def _staff(reads: list[dict[str, Any]]) -> dict[str, Any]:
    budget = Budget(SECTIONS_BUDGET)
    shown = []
    roles: Counter[str] = Counter()
    for read in sorted(reads, key=lambda r: str(r.get("when"))):
        roles[say(read.get("role"))] += 1
        if len(shown) >= MAX_STAFF_ROWS:
            continue
        row = {"when": full_date(read.get("when")), "who": say(read.get("role")),
               "where": SERVICES.get(read.get("service", ""), words(read.get("service", ""))),
               "did": say(read.get("action")), "saw": printable(scrub(str(read.get("returned") or ""))),
               "why": printable(scrub(str(read.get("purpose") or ""))) or "no reason given"}
        if budget.take("".join(row.values())) is None:
            continue
        shown.append(row)
    return {"rows": shown, "total": len(reads), "not_shown": len(reads) - len(shown),
            "by_role": [f"{role}: {n} time(s)" for role, n in sorted(roles.items())]}


def _art15(info: dict[str, Any]) -> dict[str, Any]:
    held = [c.get("category") for c in info.get("categories") or []]
    return {
        "controller": info.get("controller") or "the council",
        "purposes": info.get("purposes") or art15.PURPOSES,
        "lawful_basis": info.get("lawful_basis") or art15.LAWFUL_BASIS,
        "held": [CATEGORIES.get(c, words(c or "")) for c in held],
        "may_hold": [d.get("description") for d in info.get("categories_we_may_hold") or []]
        or list(art15.CATEGORY_DESCRIPTIONS.values()),
        "internal": (info.get("recipient_categories") or art15.RECIPIENT_CATEGORIES).get("internal") or [],
        "external": (info.get("recipient_categories") or art15.RECIPIENT_CATEGORIES).get("external") or [],
        "retention": printable(scrub(str(info.get("retention") or ""))),  # the schedule's, from the pack
        "sources": info.get("sources") or art15.SOURCES,
        "rights": [r.get("text") for r in info.get("rights") or art15.RIGHTS],
        "automated": (info.get("automated_decision_making") or {}).get("statement")
        or art15.AUTOMATED_DECISION_STATEMENT,
        "ico": (info.get("complaint") or {}).get("ico") or art15.ICO,
        "council_complaint": (info.get("complaint") or {}).get("council") or art15.COMPLAINT_ROUTE["council"],
    }


def _completeness(block: dict[str, Any]) -> dict[str, Any]:
    return {"complete": block.get("complete", True),
            "missing": [SERVICES.get(s, words(s)) for s in block.get("services_missing") or []],
            "possible": block.get("possible_matches_not_included") or 0}


def sections_view(response: dict[str, Any]) -> list[dict[str, Any]]:
    """A response other than an access pack: each part under a heading, in words."""
    budget = Budget(SECTIONS_BUDGET)
    out = []
    for key, value in response.items():
        if key in SKIP or key in ("data", "supplementary_information", "recipients", "exemptions", "summary"):
            continue
        title = SECTION_TITLES.get(key, words(key))
        if isinstance(value, dict | list):
            shown = rows(value, budget) if value else []
            out.append({"title": title, "rows": shown, "empty": not shown})
        else:
            out.append({"title": title, "text": budget.take(say(value)) or ""})
    return out


@cache
def _environment() -> Environment:
    env = Environment(loader=PackageLoader("cme_rights", "templates"), autoescape=select_autoescape(["html"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, finalize=breakable)
    env.filters["full_date"] = full_date
    return env


def render_html(response: dict[str, Any], *, medium: str = "screen", draft: bool = False,
                font_url: str | None = None, today: date | None = None) -> str:
    """The letter as one HTML document, for the screen (which prints too: `@media print`) or for the PDF (`medium`
    "print"); `draft` marks the DPO's preview of a response not yet released, dated `today` (London's)."""
    kind = str(response.get("type") or "")
    requester, subject = response.get("requester") or {}, response.get("subject") or {}
    release = response.get("release") or {}
    sent_on = release.get("approved_at") or release.get("released_at")
    context = {
        "title": TITLES.get(kind, "Our response to your request"),
        "kind": kind,
        "medium": medium,
        "draft": draft,
        "font_url": font_url,
        "council": COUNCIL,
        "team": TEAM,
        "dated": day_of(sent_on) if sent_on else full_date(today or SYSTEM_CLOCK.today()),
        "received_on": day_of(response.get("received_on")),
        "requester": _person(requester) or "the requester",
        "subject": _person(subject),
        "about_someone_else": requester.get("acting_as") not in (None, "self"),
        "acting_as": ACTING_AS.get(str(requester.get("acting_as")), ""),
        "access": access_view(response) if kind == "access" else None,
        "sections": [] if kind == "access" else sections_view(response),
        "ico": art15.ICO,
    }
    return _environment().get_template("letter.html").render(**context)
