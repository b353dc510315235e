"""Disclosure's handlers against in-memory repositories (fakes.py): the rules, without PostgreSQL or Kafka.

The integration tests run the same handlers on the real database and broker; these say what each rule
decides: the two-person rule, the roles a policy row names, restrictions (Art 18), the request rate,
withholdings from access requests and their review dates in London's day, shares logged once, purges.
"""

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from cme_disclosure.domain.disclosures import Decision, DisclosureRequest, Withholding
from cme_disclosure.domain.policy import DisclosureRules, load_policy
from cme_disclosure.service_layer.collection import on_data_collection
from cme_disclosure.service_layer.disclosures import (
    Actor,
    decide,
    on_restriction_lifted,
    on_share_made,
    on_subject_restricted,
    purge,
    request_disclosure,
    withhold_from_sar,
)
from cme_shared.clock import FixedClock
from cme_shared.contracts import topics
from cme_shared.contracts.rights import DataCollectionRequest, RestrictionLifted, SubjectRestricted
from cme_shared.contracts.shares import Recipient, ShareMade
from cme_shared.refusal import Refusal

from .fakes import FakeDisclosureUnitOfWork

pytestmark = pytest.mark.unit

# 23:30 UTC on a summer night is already the next day in London (BST).
SUMMER_NIGHT = datetime(2026, 7, 1, 23, 30, tzinfo=UTC)
OFFICER = Actor(sub="olu", role="officer", roles=frozenset({"officer"}), borough="westminster", borough_scoped=True)
MANAGER = Actor(sub="mo", role="manager", roles=frozenset({"manager"}))
DPO = Actor(sub="dee", role="dpo", roles=frozenset({"dpo"}))
APPROVE = Decision(decision="approve", reason="needed", sign_off_rank="Detective Inspector")


def police_request(*subjects: uuid.UUID, **overrides) -> DisclosureRequest:
    body = {
        "subject_ids": [str(s) for s in subjects or (uuid.uuid4(),)],
        "recipient": {"type": "police", "org_id": "MPS", "org_name": "Metropolitan Police Service",
                      "requester_name": "DC Example", "requester_role": "investigating officer",
                      "requester_rank": "Detective Inspector"},
        "purpose": "crime", "legal_gateway": "DPA 2018 Sch 2 Part 1 para 2", "reference": "CAD 4411/26",
        "categories": ["contact", "demographics"], "reason": "locating a child who is a witness",
    }
    return DisclosureRequest.model_validate({**body, **overrides})


def school_share(subject: uuid.UUID, share_ref: str = "case-77/school-notice") -> ShareMade:
    return ShareMade(
        event_id=uuid.uuid4(), occurred_at=SUMMER_NIGHT, share_ref=share_ref, service="casework",
        subject_ids=[subject], recipient=Recipient(type="school", org_id="100001", org_name="Example Primary"),
        purpose="cme_tracking", legal_gateway="Education Act 1996 s436A", categories=["contact", "education"],
        fields_released=["child.first_name"], reason="new school told of arrival", decided_by="officer-9",
        shared_at=SUMMER_NIGHT,
    )


def unit_of_work(**rules) -> FakeDisclosureUnitOfWork:
    return FakeDisclosureUnitOfWork(FixedClock(SUMMER_NIGHT), DisclosureRules(load_policy(), **rules))


async def asked(uow: FakeDisclosureUnitOfWork, body: DisclosureRequest | None = None,
                by: Actor = OFFICER) -> uuid.UUID:
    async with uow:
        disclosure_id = await request_disclosure(uow, body or police_request(), by)
        await uow.commit()
    return disclosure_id


async def refused(uow: FakeDisclosureUnitOfWork, handler, *args) -> Refusal:
    with pytest.raises(Refusal) as refusal:
        async with uow:
            await handler(uow, *args)
            await uow.commit()
    assert not uow.committed
    return refusal.value


# Requests ---------------------------------------------------------------------------------------------

async def test_a_request_waits_for_a_second_person_and_is_logged_with_a_published_head():
    uow = unit_of_work()
    did = await asked(uow)
    row = uow.disclosures.rows[did]
    assert (row["status"], row["requested_by"], row["borough"]) == ("pending", "olu", "westminster")
    assert row["received_on"] == date(2026, 7, 2)  # London's day, not UTC's
    assert uow.log.kinds() == ["disclosure_requested"]
    assert uow.disclosures.leaves[did] == [{"leaf_index": 0, "kind": "disclosure_requested"}]
    [head] = uow.outbox.events(topics.TREE_HEADS)
    assert head.tree_size == 1 and uow.outbox.sent[0].aggregate_id == "disclosure-log"


async def test_the_policy_refuses_a_police_request_without_a_reference_as_a_recorded_decision():
    uow = unit_of_work()
    did = await asked(uow, police_request(reference=None))
    row = uow.disclosures.rows[did]
    assert row["status"] == "refused" and row["decided_by"] == "policy"
    assert "crime_reference_required" in [f["code"] for f in row["policy_findings"]]
    assert row["categories_released"] == []
    assert uow.log.kinds() == ["disclosure_requested", "disclosure_decided"]


async def test_a_request_cannot_be_received_after_today_in_london():
    uow = unit_of_work()
    tomorrow_in_london = date(2026, 7, 3)
    refusal = await refused(uow, request_disclosure, police_request(received_on=tomorrow_in_london.isoformat()),
                            OFFICER)
    assert (refusal.status, refusal.code, refusal.loc) == (422, "received_on_in_future", ["body", "received_on"])
    assert uow.log.entries == [] and uow.outbox.sent == []
    await asked(uow, police_request(received_on="2026-07-02"))  # today in London, though UTC is still on the 1st


async def test_one_person_may_make_only_so_many_requests_an_hour():
    uow = unit_of_work(requests_per_hour=2)
    await asked(uow)
    await asked(uow)
    assert (await refused(uow, request_disclosure, police_request(), OFFICER)).status == 429
    assert (await refused(uow, request_disclosure, police_request(), OFFICER)).code == "too_many_requests"
    await asked(uow, by=MANAGER)  # another person has their own count
    uow.clock.advance(timedelta(hours=1, seconds=1))
    await asked(uow)  # an hour on, the count starts again


async def test_a_restriction_refuses_a_cross_borough_request_and_is_never_shown_to_an_officer():
    uow = unit_of_work()
    restricted = uuid.uuid4()
    async with uow:
        await on_subject_restricted(uow, SubjectRestricted(
            event_id=uuid.uuid4(), occurred_at=SUMMER_NIGHT, rights_request_id=uuid.uuid4(),
            subject_ids=[restricted], reason="accuracy contested"))
        await uow.commit()
    by_manager = await asked(uow, police_request(restricted, uuid.uuid4()), by=MANAGER)
    alone = await asked(uow, police_request(restricted), by=MANAGER)
    [finding] = uow.disclosures.rows[by_manager]["policy_findings"]
    assert finding["code"] == "subject_restricted"
    # Neither a count nor which subject: one restricted child among two reads as one restricted child alone.
    assert uow.disclosures.rows[alone]["policy_findings"] == [finding] and str(restricted) not in str(finding)
    by_officer = await asked(uow, police_request(restricted))
    assert uow.disclosures.rows[by_officer]["status"] == "pending"  # the officer is not told (SEC-29)
    # ... and the decider meets the restriction at the decision.
    refusal = await refused(uow, decide, by_officer, APPROVE, MANAGER)
    assert (refusal.status, refusal.code) == (409, "subject_restricted")


async def test_a_lifted_restriction_no_longer_stands_in_the_way():
    uow = unit_of_work()
    subject, request_id = uuid.uuid4(), uuid.uuid4()
    async with uow:
        await on_subject_restricted(uow, SubjectRestricted(event_id=uuid.uuid4(), occurred_at=SUMMER_NIGHT,
                                                           rights_request_id=request_id, subject_ids=[subject],
                                                           reason="objection"))
        await on_restriction_lifted(uow, RestrictionLifted(event_id=uuid.uuid4(), occurred_at=SUMMER_NIGHT,
                                                           rights_request_id=request_id, subject_ids=[subject],
                                                           reason="objection withdrawn"))
        await uow.commit()
    did = await asked(uow, police_request(subject), by=MANAGER)
    assert uow.disclosures.rows[did]["status"] == "pending"


# Decisions: the two-person rule and the policy's roles -------------------------------------------------

async def test_whoever_asked_can_never_decide():
    uow = unit_of_work()
    did = await asked(uow, by=MANAGER)
    refusal = await refused(uow, decide, did, APPROVE, MANAGER)
    assert (refusal.status, refusal.code) == (403, "two_person_rule")
    assert uow.disclosures.rows[did]["status"] == "pending" and uow.log.kinds() == ["disclosure_requested"]


@pytest.mark.parametrize("sub", ["", "   "])
async def test_the_two_person_rule_refuses_an_identity_it_cannot_compare(sub):
    uow = unit_of_work()
    did = await asked(uow)
    refusal = await refused(uow, decide, did, APPROVE, Actor(sub=sub, role="manager", roles=frozenset({"manager"})))
    assert (refusal.status, refusal.code) == (403, "two_person_rule")


async def test_a_decision_is_made_once_and_only_on_a_disclosure_that_exists():
    uow = unit_of_work()
    assert (await refused(uow, decide, uuid.uuid4(), APPROVE, MANAGER)).status == 404
    did = await asked(uow)
    async with uow:
        await decide(uow, did, APPROVE, MANAGER)
        await uow.commit()
    assert did in uow.disclosures.locked  # the row is locked before it is judged
    refusal = await refused(uow, decide, did, APPROVE, DPO)
    assert (refusal.status, refusal.code) == (409, "already_decided")


async def test_a_home_office_share_is_the_dpos_alone_and_a_token_holding_both_decides_as_the_dpo():
    uow = unit_of_work()
    body = police_request(recipient={"type": "home_office", "org_name": "Home Office", "requester_name": "HO",
                                     "requester_role": "caseworker"},
                          purpose="immigration", legal_gateway="Immigration and Asylum Act 1999 s20",
                          reference=None, categories=["contact"])
    did = await asked(uow, body)
    refusal = await refused(uow, decide, did, Decision(decision="approve", reason="s20"), MANAGER)
    assert (refusal.status, refusal.code) == (403, "approval_role_required")
    both = Actor(sub="pat", role="manager", roles=frozenset({"manager", "dpo"}))
    async with uow:
        await decide(uow, did, Decision(decision="approve", reason="s20 request"), both)
        await uow.commit()
    row = uow.disclosures.rows[did]
    assert (row["status"], row["decider_role"], row["decided_by"]) == ("shared", "dpo", "pat")


async def test_an_approved_police_share_releases_the_rows_fields_and_records_the_sign_off():
    uow = unit_of_work()
    did = await asked(uow)
    async with uow:
        await decide(uow, did, APPROVE, MANAGER)
        await uow.commit()
    row = uow.disclosures.rows[did]
    assert row["status"] == "shared" and row["shared_at"] == SUMMER_NIGHT and row["fields_released"]
    assert row["sign_off"]["rank_as_checked"] == "Detective Inspector" and row["sign_off"]["confirmed_by"] == "mo"
    assert uow.log.kinds() == ["disclosure_requested", "disclosure_decided", "disclosure_shared"]
    assert [h.tree_size for h in uow.outbox.events(topics.TREE_HEADS)] == [1, 3]


async def test_a_sign_off_below_inspector_is_refused_and_none_at_all_is_recorded_as_not_confirmed():
    uow = unit_of_work()
    did = await asked(uow)
    low = Decision(decision="approve", reason="needed", sign_off_rank="Sergeant")
    refusal = await refused(uow, decide, did, low, MANAGER)
    assert (refusal.status, refusal.code, refusal.loc) == (422, "sign_off_rank_too_low", ["body", "sign_off_rank"])
    async with uow:
        await decide(uow, did, Decision(decision="approve", reason="needed"), MANAGER)
        await uow.commit()
    sign_off = uow.disclosures.rows[did]["sign_off"]
    assert sign_off["confirmed_by"] is None and sign_off["rank_as_requested"] == "Detective Inspector"


async def test_a_refusal_by_the_decider_releases_nothing():
    uow = unit_of_work()
    did = await asked(uow)
    async with uow:
        await decide(uow, did, Decision(decision="refuse", reason="not necessary"), DPO)
        await uow.commit()
    row = uow.disclosures.rows[did]
    assert (row["status"], row["categories_released"], row["shared_at"]) == ("refused", [], None)
    assert uow.log.kinds() == ["disclosure_requested", "disclosure_decided"]


# Withholding from access requests, and the access request's answer --------------------------------------

async def shared(uow: FakeDisclosureUnitOfWork, subject: uuid.UUID) -> uuid.UUID:
    did = await asked(uow, police_request(subject))
    async with uow:
        await decide(uow, did, APPROVE, MANAGER)
        await uow.commit()
    return did


async def test_only_a_share_made_can_be_withheld_and_only_until_a_review_date_after_today():
    uow = unit_of_work(withholding_max_days=30)
    pending = await asked(uow)
    withholding = Withholding(exemption="crime", reason="would prejudice the investigation",
                              review_date=date(2026, 7, 3))
    assert (await refused(uow, withhold_from_sar, pending, withholding, DPO)).code == "not_shared"
    assert (await refused(uow, withhold_from_sar, uuid.uuid4(), withholding, DPO)).status == 404
    did = await shared(uow, uuid.uuid4())
    for review_date in (date(2026, 7, 2), date(2026, 8, 2)):  # today in London; beyond 30 days
        refusal = await refused(uow, withhold_from_sar, did, withholding.model_copy(update={"review_date": review_date}),
                                DPO)
        assert (refusal.status, refusal.code) == (422, "review_date_out_of_range")
    async with uow:
        await withhold_from_sar(uow, did, withholding, DPO)
        await uow.commit()
    [record] = uow.disclosures.withholdings
    assert record["review_date"] == date(2026, 7, 3) and record["decided_by"] == "dee"
    assert uow.log.kinds()[-1] == "withheld_from_sar"


async def test_an_access_request_is_answered_without_a_withheld_share_until_its_review_date_in_london():
    uow = unit_of_work()
    subject = uuid.uuid4()
    open_share, withheld = await shared(uow, subject), await shared(uow, subject)
    async with uow:
        await withhold_from_sar(uow, withheld, Withholding(exemption="crime", reason="prejudice",
                                                           review_date=date(2026, 7, 3)), DPO)
        await uow.commit()
    request = DataCollectionRequest(event_id=uuid.uuid4(), occurred_at=SUMMER_NIGHT, collection_id=uuid.uuid4(),
                                    rights_request_id=uuid.uuid4(), subject_ids=[subject])

    async def answered() -> set[str]:
        uow.outbox.sent.clear()
        async with uow:
            await on_data_collection(uow, request)
            await uow.commit()
        [reply] = uow.outbox.events(topics.replies_of("disclosure"))
        assert reply.last and reply.total_items == len(reply.items)
        return {item.record_id for item in reply.items}

    assert await answered() == {str(open_share)}
    uow.clock.at = datetime(2026, 7, 2, 22, 59, tzinfo=UTC)  # 23:59 on the 2nd in London: not yet
    assert await answered() == {str(open_share)}
    uow.clock.at = datetime(2026, 7, 2, 23, 0, tzinfo=UTC)  # midnight in London: the review date has come
    assert await answered() == {str(open_share), str(withheld)}


async def test_a_collection_addressed_to_other_services_is_not_answered():
    uow = unit_of_work()
    request = DataCollectionRequest(event_id=uuid.uuid4(), occurred_at=SUMMER_NIGHT, collection_id=uuid.uuid4(),
                                    rights_request_id=uuid.uuid4(), subject_ids=[uuid.uuid4()], services=["intake"])
    async with uow:
        await on_data_collection(uow, request)
        await uow.commit()
    assert uow.outbox.sent == []


# Shares other services made; retention ---------------------------------------------------------------

async def test_a_share_another_service_made_is_logged_once_with_a_finding_when_the_subject_was_restricted():
    uow = unit_of_work()
    subject = uuid.uuid4()
    async with uow:
        await on_subject_restricted(uow, SubjectRestricted(event_id=uuid.uuid4(), occurred_at=SUMMER_NIGHT,
                                                           rights_request_id=uuid.uuid4(), subject_ids=[subject],
                                                           reason="objection"))
        await on_share_made(uow, school_share(subject))
        await on_share_made(uow, school_share(subject))  # a repeat under the same reference: nothing new
        await uow.commit()
    [row] = uow.disclosures.rows.values()
    assert (row["origin"], row["status"], row["requested_by"]) == ("casework", "shared", "casework")
    assert [f["code"] for f in row["policy_findings"]] == ["made_while_restricted"]
    assert uow.log.kinds() == ["share_made"]


async def test_a_purge_empties_the_payloads_forgets_the_people_and_logs_itself():
    uow = unit_of_work()
    assert (await refused(uow, purge, uuid.uuid4(), "other", "records-1", "dpo-1")).status == 404
    did = await shared(uow, uuid.uuid4())
    async with uow:
        assert await purge(uow, did, "other", "records-1", "dpo-1") == 3
        await uow.commit()
    assert [uow.log.payloads[i] for i in range(3)] == [None, None, None]
    assert uow.log.kinds()[-1] == "payloads_purged"
    row = uow.disclosures.rows[did]
    assert row["purged_at"] == SUMMER_NIGHT and row["reason"] is None and uow.disclosures.subjects[did] == []
    assert "requester_name" not in row["recipient"] and row["recipient"]["org_name"] == "Metropolitan Police Service"
