"""A referral as intake hands it to a subject access request: categories, sources, third-party marks."""

import json
import uuid
from datetime import UTC, datetime

import pytest

from cme_intake.domain.referrals import stored_payload
from cme_intake.domain.subject_access import SERVICE, StoredReferral, carer_items, child_items
from cme_shared.contracts.categories import DataCategory
from cme_shared.contracts.referrals import Referral, SourceType
from cme_shared.contracts.rights import MAX_ITEMS_PER_CHUNK, ThirdPartyReason, collection_replies
from cme_shared.testing.infra import SAMPLE_REFERRALS

pytestmark = pytest.mark.unit


def stored(name: str, **kw) -> StoredReferral:
    referral = Referral.model_validate_json((SAMPLE_REFERRALS / name).read_bytes())
    defaults = dict(intake_id=uuid.uuid4(), source_type=referral.source.type, source="school 101234",
                    received_at=datetime.now(UTC), payload=stored_payload(referral),
                    carer_subject_ids=[uuid.uuid4() for _ in referral.carers])
    return StoredReferral(**{**defaults, **kw})


def test_each_item_has_one_category_and_the_source():
    referral = stored("accepted-school-deletion-no-destination.json")
    items = child_items(referral, uuid.uuid4())
    assert {i.category for i in items} == {DataCategory.CONTACT, DataCategory.DEMOGRAPHICS, DataCategory.EDUCATION}
    assert all(i.source == "school 101234" for i in items)
    education = next(i for i in items if i.category is DataCategory.EDUCATION)
    assert education.data["upn"] == "G213200119044" and education.data["notification"]["deletion_ground"] == "9(1)(g)"


def test_other_carers_are_marked_with_their_subject_ids():
    referral = stored("accepted-school-deletion-no-destination.json")
    contact = next(i for i in child_items(referral, uuid.uuid4()) if i.category is DataCategory.CONTACT)
    assert [(m.path, m.reason, m.subject_id) for m in contact.third_party] == [
        ("carers.0", ThirdPartyReason.OTHER_CARER, referral.carer_subject_ids[0])]


def test_a_public_referrer_is_withheld_and_marked_never_unsealed_into_the_reply():
    document = json.loads((SAMPLE_REFERRALS / "accepted-public-anonymous.json").read_bytes())
    document["source"] = {"type": "public", "org_name": "Pat Neighbour's house", "anonymous": False,
                          "contact": {"name": "Pat Neighbour", "email": "pat@neighbour.example"}}
    referral = Referral.model_validate_json(json.dumps(document))
    held = stored("accepted-public-anonymous.json", source_type=SourceType.PUBLIC, source="a member of the public",
                  payload=stored_payload(referral), referrer_reason=ThirdPartyReason.PUBLIC_REFERRER)
    items = child_items(held, uuid.uuid4())
    contact = next(i for i in items if i.category is DataCategory.CONTACT)
    assert contact.data["referrer"] == "withheld (public referrer)"
    assert [(m.path, m.reason) for m in contact.third_party] == [("referrer", ThirdPartyReason.PUBLIC_REFERRER)]
    text = json.dumps([i.model_dump(mode="json") for i in items])
    assert "Pat Neighbour" not in text and "pat@neighbour.example" not in text
    referred_by = next(i for i in items if "referred_by" in i.data).data["referred_by"]
    assert referred_by == {"type": "public"}


def test_a_parent_referrer_is_withheld_as_a_carer():
    held = stored("accepted-public-anonymous.json", source_type=SourceType.PARENT, source="a parent or carer",
                  referrer_reason=ThirdPartyReason.OTHER_CARER)
    contact = next(i for i in child_items(held, uuid.uuid4()) if i.category is DataCategory.CONTACT)
    assert contact.data["referrer"] == "withheld (parent or carer referrer)"
    assert [(m.path, m.reason, m.subject_id) for m in contact.third_party] == [
        ("referrer", ThirdPartyReason.OTHER_CARER, None)]


def test_a_police_referrals_narrative_is_police_involvement():
    referral = stored("accepted-police-high-risk.json", source_type=SourceType.POLICE)
    categories = {i.category: i for i in child_items(referral, uuid.uuid4())}
    assert "notification" in categories[DataCategory.POLICE_PROBATION].data
    assert categories[DataCategory.STATUTORY_SERVICES].data["flags"]["child_protection_plan"] is True


def test_a_carer_gets_their_own_details_and_nothing_about_the_child():
    referral = stored("accepted-school-deletion-no-destination.json")
    items = carer_items(referral, uuid.uuid4(), [0])
    text = json.dumps([i.data for i in items])
    assert "Leila" in text and "Amira" not in text and "2016-03-14" not in text


def test_chunks_are_bounded_and_never_empty():
    referral = stored("accepted-police-high-risk.json", source_type=SourceType.POLICE)
    items = child_items(referral, uuid.uuid4()) * 100
    replies = collection_replies(SERVICE, uuid.uuid4(), items)
    assert [len(r.items) for r in replies][:-1] == [MAX_ITEMS_PER_CHUNK] * (len(replies) - 1)
    assert sum(len(r.items) for r in replies) == len(items) == replies[-1].total_items
    assert [r.last for r in replies] == [False] * (len(replies) - 1) + [True]
    empty = collection_replies(SERVICE, uuid.uuid4(), [])
    assert len(empty) == 1 and empty[0].items == [] and empty[0].last and empty[0].total_items == 0