"""Retention of rights requests and what the access pack says about it (issue 14, item 1), pure.

Sources: UK GDPR Art 5(1)(e) (storage limitation) and Art 15(1)(d) (the period, or the criteria that set it);
DOMAIN section 3 ("default 7 years after case closure (configurable per category), with legal hold. At
disposal the content goes; a minimal tombstone (what, when, why disposed) stays"); Local Government Act 1972
s224 and the Code of Practice under FOI Act 2000 s46 (a record of what was destroyed is kept); UK GDPR
Art 17(3)(b) (no erasure where processing is needed for a public task: retention wins over erasure)."""

import json
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from dateutil.relativedelta import relativedelta

from cme_rights.adapters import letter
from cme_rights.domain import retention as rules
from cme_rights.domain.responses import (Completeness, RecordNotInPack, RequestFacts, access_pack, apply_exemption,
                                         erasure_response)
from cme_rights.domain.retention import RequestForRetention
from cme_shared.contracts.categories import DataCategory
from cme_shared.contracts.retention import RecordType
from cme_shared.contracts.rights import DataItem
from cme_shared.retention import DEFAULT_SCHEDULE, DISPOSED_RECORD, Tombstone, load_schedule, statement, tombstone_item

pytestmark = pytest.mark.unit

CHILD = uuid.uuid4()
FACTS = RequestFacts(request_id=uuid.uuid4(), request_type="access", received_on=date(2033, 11, 2), channel="email",
                     requester={"first_name": "Maryam", "last_name": "Hassan"},
                     subject={"first_name": "Amira", "last_name": "Hassan", "date_of_birth": "2015-05-01"},
                     acting_as="parent", authority=["a parent acting for their child (parental responsibility)"])
WHOLE = Completeness(services_asked=["intake", "casework", "disclosure"],
                     services_answered=["intake", "casework", "disclosure"], subject_ids=[str(CHILD)])


def request(**overrides) -> RequestForRetention:
    fields = {"request_id": uuid.uuid4(), "status": "responded", "released_at": datetime(2026, 6, 30, 23, 30, tzinfo=UTC),
              "proposal_pending": False, "restriction_in_force": False, "subject_ids": (CHILD,)}
    return RequestForRetention(**{**fields, **overrides})


def schedule_file(tmp_path, **rights_rule):
    """The default schedule with the rights request rule changed (and category rules added) by a file."""
    rules_ = [r.model_dump(mode="json") for r in DEFAULT_SCHEDULE.rules if r.record_type is not RecordType.RIGHTS_REQUEST]
    rules_.append({"rule_id": "rights-request.2y", "record_type": "rights_request", "starts": "completed", "years": 2,
                   "description": "a data-protection rights request: 2 years after it was answered"})
    rules_ += rights_rule.get("extra", [])
    path = tmp_path / "schedule.json"
    path.write_text(json.dumps({"schedule_id": "council-2027", "rules": rules_}))
    return load_schedule(path)


# --- when a request is completed, and when it falls due ----------------------------------------------------------

def test_a_released_request_is_completed_on_londons_day_of_its_release():
    """ClockStart.COMPLETED: the period runs from the release (23:30 UTC on 30 June is 1 July in London, BST)."""
    assert rules.completed_on(request()) == date(2026, 7, 1)


@pytest.mark.parametrize("status", ["received", "awaiting_identity", "collecting", "awaiting_decision",
                                    "ready_for_review", "investigating"])
def test_a_request_never_released_is_not_completed_and_never_falls_due(status):
    assert rules.completed_on(request(status=status)) is None
    assert rules.candidate(request(status=status), DEFAULT_SCHEDULE) is None


def test_a_request_with_a_proposal_waiting_or_a_restriction_in_force_is_not_completed():
    """Art 18(3): the requester is told before a restriction is lifted; the request is the restriction's record."""
    assert rules.completed_on(request(proposal_pending=True)) is None
    assert rules.completed_on(request(restriction_in_force=True)) is None


def test_a_restriction_is_in_force_until_it_is_lifted():
    restricted = [{"kind": "restriction", "decision": {"outcome": "restricted"}}]
    assert rules.restriction_in_force(restricted)
    assert not rules.restriction_in_force(restricted + [{"kind": "restriction_lifted", "decision": {"outcome": "lifted"}}])
    assert rules.restriction_in_force([{"kind": "objection", "decision": {"outcome": "upheld"}}])
    assert rules.restriction_in_force([{"kind": "erasure", "decision": {"outcome": "granted"}}])
    assert not rules.restriction_in_force([{"kind": "erasure", "decision": {"outcome": "refused"}},
                                           {"kind": "restriction", "decision": {"outcome": "refused"}}])


def test_by_default_a_request_is_kept_seven_years_after_it_was_answered():
    """DEFAULT_SCHEDULE rights-request.7y (DOMAIN section 3; UK GDPR Art 5(1)(e))."""
    c = rules.candidate(request(), DEFAULT_SCHEDULE)
    assert c is not None and c.rule.rule_id == "rights-request.7y" and c.due_on == date(2033, 7, 1)
    assert rules.due([c], date(2033, 6, 30)) == [] and rules.due([c], date(2033, 7, 1)) == [c]
    assert c.record_type is RecordType.RIGHTS_REQUEST and c.subject_ids == (CHILD,)
    assert DataCategory.CONTACT in c.categories  # a request always holds who asked and for whom


def test_a_schedule_file_changes_when_a_request_falls_due(tmp_path):
    changed = schedule_file(tmp_path)
    c = rules.candidate(request(), changed)
    assert c is not None and c.rule.rule_id == "rights-request.2y" and c.due_on == date(2028, 7, 1)


def test_a_category_rule_keeps_a_request_whose_response_held_that_category_longer(tmp_path):
    """DOMAIN section 3: configurable per category. A request is one record: kept until the longest runs out."""
    police = {"rule_id": "rights-request.police.10y", "record_type": "rights_request", "category": "police_probation",
              "starts": "completed", "years": 10, "description": "a request whose answer held police data: 10 years"}
    shorter = {"rule_id": "rights-request.contact.1y", "record_type": "rights_request", "category": "contact",
               "starts": "completed", "years": 1, "description": "contact details in a request: 1 year"}
    changed = schedule_file(tmp_path, extra=[police, shorter])
    plain = rules.candidate(request(), changed)
    assert plain is not None and plain.rule.rule_id == "rights-request.2y"  # never shorter than the general rule
    held_police = rules.candidate(request(categories=(DataCategory.POLICE_PROBATION,)), changed)
    assert held_police is not None and held_police.rule.rule_id == "rights-request.police.10y"
    assert held_police.due_on == date(2036, 7, 1)


def test_unknown_category_codes_in_a_stored_response_are_ignored():
    assert rules.categories_of(["education", "nonsense", None, "contact"]) == (DataCategory.CONTACT,
                                                                                DataCategory.EDUCATION)


# --- the pack's retention statement is the schedule's -----------------------------------------------------------

def test_the_packs_retention_statement_is_written_from_the_schedule_in_force(tmp_path):
    """Art 15(1)(d): the statement follows the schedule; a changed file changes what the pack says."""
    default = access_pack(FACTS, [], frozenset(), WHOLE, statement(DEFAULT_SCHEDULE))
    changed = access_pack(FACTS, [], frozenset(), WHOLE, statement(schedule_file(tmp_path)))
    said, now_said = (p["supplementary_information"]["retention"] for p in (default, changed))
    assert "cme-default-2026" in said and "7 years after it was answered" in said
    assert "council-2027" in now_said and "2 years after it was answered" in now_said
    assert "7 years after it was answered" not in now_said
    html = letter.render_html(changed, today=date(2033, 11, 20))
    assert "2 years after it was answered" in html and "council-2027" in html


# --- what was disposed of, in the pack ----------------------------------------------------------------------------

def tombstone(record_type: str, rule_id: str, disposed: datetime, record_id: str = "case-3") -> Tombstone:
    return Tombstone(record_type=record_type, record_id=record_id, subject_ids=[CHILD], case_ids=[],
                     categories=["statutory_services"], schedule_id="cme-default-2026", rule_id=rule_id,
                     clock_started_on=date(2026, 3, 31), due_on=date(2033, 3, 31), reason="schedule",
                     disposed_at=disposed, run_id=uuid.uuid4())


def answer_with_tombstones() -> list[DataItem]:
    kept = DataItem(service="casework", record_type="note", record_id="n-1", subject_id=CHILD,
                    category=DataCategory.EDUCATION, source="CME officer", recorded_at=datetime(2033, 1, 5, tzinfo=UTC),
                    data={"text": "visited the family"})
    case = tombstone_item("casework", tombstone("case", "case.7y", datetime(2033, 4, 1, 2, 0, tzinfo=UTC)), CHILD,
                          DEFAULT_SCHEDULE)
    referral = tombstone_item("intake", tombstone("referral", "referral.7y", datetime(2033, 4, 1, 2, 5, tzinfo=UTC),
                                                  "ref-9"), CHILD, DEFAULT_SCHEDULE)
    return [kept, case, referral]


def test_disposed_records_are_their_own_section_never_data_with_content():
    """DOMAIN section 3: a minimal tombstone (what, when, why) stays; the pack says what was disposed and when."""
    pack = access_pack(FACTS, answer_with_tombstones(), frozenset(), WHOLE, statement(DEFAULT_SCHEDULE))
    assert [r["record_type"] for r in pack["disposed_records"]] == ["case", "referral"]
    case = pack["disposed_records"][0]
    assert case == {"service": "casework", "record_type": "case", "disposed_at": "2033-04-01T02:00:00+00:00",
                    "clock_started_on": "2026-03-31", "rule_id": "case.7y",
                    "rule": "a case and its history: 7 years after the case is closed",
                    "schedule_id": "cme-default-2026"}
    shown = [r["record_type"] for block in pack["data"] for c in block["categories"] for r in c["records"]]
    assert shown == ["note"] and DISPOSED_RECORD not in json.dumps(pack["data"])
    assert pack["summary"]["records"] == 1 and pack["summary"]["records_disposed"] == 2
    assert pack["redactions"] == []  # no content, so nothing about anyone else
    # the categories held are those of the data still held, not of what was destroyed
    assert [c["category"] for c in pack["supplementary_information"]["categories"]] == ["education"]
    with pytest.raises(RecordNotInPack):  # no exemption applies to a record that no longer exists
        apply_exemption(pack, "casework", "case-3", "social_work_serious_harm", "r", "dpo-1")


def test_the_letter_says_what_was_disposed_of_when_and_why_and_prints_no_identifier():
    pack = access_pack(FACTS, answer_with_tombstones(), frozenset(), WHOLE, statement(DEFAULT_SCHEDULE))
    html = letter.render_html(pack, today=date(2033, 11, 20))
    section = html[html.index("Records we held about you and have disposed of"):html.index("What we have removed")]
    assert "A children missing education case and its history" in section
    assert "A referral as we received it" in section
    assert "1 April 2033" in section and "7 years after the case is closed" in section
    assert "case-3" not in html and "ref-9" not in html and "case.7y" not in html
    assert str(CHILD) not in html


def test_a_pack_with_nothing_disposed_has_no_such_section():
    pack = access_pack(FACTS, answer_with_tombstones()[:1], frozenset(), WHOLE, statement(DEFAULT_SCHEDULE))
    assert pack["disposed_records"] == []
    assert "have disposed of" not in letter.render_html(pack, today=date(2033, 11, 20))


# --- erasure: retention wins ------------------------------------------------------------------------------------

def test_an_erasure_refusal_says_retention_wins_over_erasure_and_when_the_records_go():
    """UK GDPR Art 17(3)(b); the records go only by the disposal process, under the schedule in force."""
    facts = RequestFacts(**{**FACTS.__dict__, "request_type": "erasure"})
    refused = erasure_response(facts, {"outcome": "refused", "reasons": "public task"}, [], WHOLE,
                               statement(DEFAULT_SCHEDULE))
    assert "Art 17(3)(b)" in refused["explanation"] and "Retention wins over erasure" in refused["explanation"]
    assert "legal hold" in refused["explanation"]
    assert "7 years after it was answered" in refused["retention"]
    granted = erasure_response(facts, {"outcome": "granted", "reasons": "exceptional"}, [], WHOLE,
                               statement(DEFAULT_SCHEDULE))
    assert "disposal process" in granted["explanation"] and "restricted" in granted["explanation"]
    assert "How long we keep it" in letter.render_html(refused, today=date(2033, 11, 20))


def test_a_disposed_share_still_names_its_recipient_and_the_day_it_was_shared():
    """Art 15(1)(c): the recipients to whom the data have been disclosed. Disposing of the share's record
    (disclosure keeps its recipient organisation and day in the tombstone) does not undo the share."""
    share = tombstone_item("disclosure", tombstone("disclosure", "disclosure.7y", datetime(2033, 4, 1, 2, 10, tzinfo=UTC),
                                                   "d-7"), CHILD, DEFAULT_SCHEDULE)
    share.recipient = {"type": "police", "org_id": "met-police", "org_name": "Metropolitan Police"}
    share.data |= {"shared_on": "2026-02-11", "purpose": "police_investigation"}
    pack = access_pack(FACTS, [*answer_with_tombstones(), share], frozenset(), WHOLE, statement(DEFAULT_SCHEDULE))
    assert pack["recipients"] == [{"type": "police", "org_id": "met-police", "org_name": "Metropolitan Police",
                                   "shared_at": "2026-02-11", "category": "statutory_services",
                                   "disclosure_record_id": "d-7", "disposed": True}]
    assert [r["record_type"] for r in pack["disposed_records"]] == ["case", "referral", "disclosure"]


# --- round 2: the dates the job believes, abandoned requests, restrictions (issue 14, item 1) -----------------

RELEASED = datetime(2026, 6, 30, 23, 30, tzinfo=UTC)
NOW = datetime(2034, 1, 1, 9, tzinfo=UTC)


def believed(**overrides) -> RequestForRetention:
    """A released request whose row and history agree (received the day before its release)."""
    return request(**{"approved_at": RELEASED, "first_recorded_at": datetime(2026, 6, 29, 9, tzinfo=UTC),
                      "last_activity_at": RELEASED, **overrides})


def test_the_release_the_job_believes_is_the_history_and_the_row_must_agree():
    """UK GDPR Art 5(1)(e) and (f): a record goes when the schedule says, and not because the row the running
    service may rewrite says it was answered long ago. The release is the audit trail's line; a row that
    says released without that line, or with another time, is not disposed of (reported)."""
    assert rules.anomaly(believed(), NOW) is None
    assert rules.candidate(believed(), DEFAULT_SCHEDULE, NOW).clock_started_on == date(2026, 7, 1)
    forged = believed(released_at=None, approved_at=datetime(2015, 1, 1, tzinfo=UTC), last_activity_at=RELEASED)
    assert rules.anomaly(forged, NOW) == "released_without_history"
    assert rules.candidate(forged, DEFAULT_SCHEDULE, NOW) is None
    backdated = believed(approved_at=datetime(2015, 1, 1, tzinfo=UTC))
    assert rules.anomaly(backdated, NOW) == "release_times_disagree"
    assert rules.candidate(backdated, DEFAULT_SCHEDULE, NOW) is None
    assert rules.anomaly(believed(status="collecting"), NOW) == "history_released_row_not"


def test_an_impossible_release_date_is_refused():
    """A clock start after the run, or before the request was recorded, cannot be a true release."""
    future = believed(released_at=NOW + relativedelta(days=3), approved_at=NOW + relativedelta(days=3))
    assert rules.anomaly(future, NOW) == "clock_start_in_future"
    early = believed(first_recorded_at=RELEASED + relativedelta(days=1))
    assert rules.anomaly(early, NOW) == "clock_start_before_record"
    assert rules.candidate(early, DEFAULT_SCHEDULE, NOW) is None


@pytest.mark.parametrize("status", ["received", "awaiting_identity", "awaiting_fee", "collecting"])
def test_a_request_never_completed_falls_due_under_the_same_rule_from_its_last_activity(status):
    """Art 5(1)(e): a request stuck awaiting identity or a fee, or received and never worked, is not kept for
    ever. The rights request rule (7 years by default, DOMAIN section 3) runs from its last recorded activity."""
    stuck = request(status=status, released_at=None, first_recorded_at=datetime(2026, 3, 1, 9, tzinfo=UTC),
                    last_activity_at=datetime(2026, 4, 2, 22, 30, tzinfo=UTC))  # 23:30 in London: 2 April
    c = rules.candidate(stuck, DEFAULT_SCHEDULE, NOW)
    assert c is not None and c.rule.rule_id == "rights-request.7y"
    assert c.clock_started_on == date(2026, 4, 2) and c.due_on == date(2033, 4, 2)
    assert rules.candidate(stuck, DEFAULT_SCHEDULE) is None  # no run time: nothing abandoned is assessed
    assert rules.candidate(replace(stuck, restriction_in_force=True), DEFAULT_SCHEDULE, NOW) is None
    assert rules.candidate(replace(stuck, last_activity_at=NOW + relativedelta(days=1)), DEFAULT_SCHEDULE, NOW) is None


def test_a_subject_under_a_restriction_keeps_their_other_requests():
    """Art 18(1)-(2): while a restriction decided in rights is in force the subject's data is only stored;
    their other requests stay, reported as held by the restricting request."""
    restricting = believed(restriction_in_force=True)
    other = believed()
    stranger = believed(subject_ids=(uuid.uuid4(),))
    restricted = rules.restricted_subjects([restricting, other, stranger])
    assert restricted == {CHILD: restricting.request_id}
    due = [rules.candidate(r, DEFAULT_SCHEDULE, NOW) for r in (other, stranger)]
    kept = rules.restricted_keeps(due, restricted)
    assert kept[0].held_by == (restricting.request_id,) and kept[1].held_by == ()


def test_the_pack_says_how_long_a_request_never_completed_is_kept(tmp_path):
    """Art 15(1)(d) and Art 13(2)(a): the period, or the criteria that set it, for every record held; an
    abandoned request is kept under the same rule from its last activity, and the pack says so."""
    said = rules.pack_statement(schedule_file(tmp_path))
    assert said.startswith(statement(schedule_file(tmp_path)))
    assert "never completed" in said and "last thing done on it" in said
