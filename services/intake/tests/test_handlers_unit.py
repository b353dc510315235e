"""Intake's rules as its handlers apply them, on in-memory fakes of its two repositories (no PostgreSQL, no
broker): the duplicate check, the public form's hold and its one acceptance, sealed referrers, the identity
index's matching, the two-person rule for merges across boroughs, unmerging, rectifications, dead letters.

The fakes keep what the real stores keep (adapters/referral_store.py, adapters/identity_store.py) in lists
and dicts; the integration tests hold the real ones to the same behaviour on PostgreSQL.
"""

import json
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import pytest
from cryptography.fernet import Fernet

from cme_intake.adapters.batch import IntakeBatch
from cme_intake.adapters.identity_store import SubjectView
from cme_intake.adapters.sealing import Seal
from cme_intake.domain.identity import KnownCarer, KnownChild, current_details
from cme_intake.domain.referrals import DEFAULT_POSTCODE_DISTRICTS, PUBLIC_FORM_CHANNEL
from cme_intake.entrypoints.kafka import on_rights_request
from cme_intake.service_layer import possible_matches, reception, subject_rights
from cme_intake.service_layer.possible_matches import Actor, Approval, Decision
from cme_intake.visibility import Scope
from cme_shared.clock import FixedClock
from cme_shared.contracts import topics
from cme_shared.contracts.referrals import Borough, Problem, Referral
from cme_shared.contracts.rights import DataCollectionRequest, FactualRectification, SubjectLookup
from cme_shared.contracts.topics import TopicNames
from cme_shared.messaging.consumer import Delivery
from cme_shared.refusal import Refusal
from cme_shared.retention import DEFAULT_SCHEDULE
from cme_shared.testing.fakes import FakeUnitOfWork
from cme_shared.testing.infra import SAMPLE_REFERRALS

pytestmark = pytest.mark.unit

W, K = Borough.WESTMINSTER.value, Borough.KENSINGTON_AND_CHELSEA.value
NOW = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)


class FakeReferrals:
    def __init__(self) -> None:
        self.rows: dict[str, SimpleNamespace] = {}  # by idempotency key
        self.sealed: dict[UUID, dict[str, Any]] = {}  # intake id -> what would be sealed
        self.held_events: dict[UUID, dict[str, Any]] = {}
        self.acceptances: dict[UUID, dict[str, Any]] = {}
        self.rejected: dict[str, list[Problem]] = {}
        self.clock = FixedClock(NOW)

    def by_intake_id(self, intake_id: UUID) -> SimpleNamespace | None:
        return next((r for r in self.rows.values() if r.intake_id == intake_id), None)

    async def prefetch_keys(self, keys: list[str]) -> None:
        pass

    async def stored(self, idempotency_key: str) -> tuple[UUID, UUID] | None:
        row = self.rows.get(idempotency_key)
        return None if row is None else (row.intake_id, row.child_subject_id)

    async def add(self, reception_: Any, *, intake_id: UUID, child_subject_id: UUID, carer_subject_ids: list[UUID],
                  raw: bytes, channel: str, held_event: Any = None) -> None:
        self.rows[reception_.arrival.idempotency_key] = SimpleNamespace(
            intake_id=intake_id, child_subject_id=child_subject_id, carer_subject_ids=list(carer_subject_ids),
            borough=reception_.borough.value if reception_.borough else None, payload=reception_.stored_payload,
            raw=raw if reception_.keeps_raw else None, channel=channel)
        if reception_.sealed_contact is not None:
            self.sealed[intake_id] = {"reason": reception_.sealed_reason, "contact": reception_.sealed_contact}
        if held_event is not None:
            self.held_events[intake_id] = held_event.model_dump(mode="json")

    async def add_rejected(self, *, message_id: str, channel: str, problems: list[Problem]) -> None:
        self.rejected.setdefault(message_id, list(problems))

    async def held(self, intake_id: UUID) -> SimpleNamespace | None:
        row = self.by_intake_id(intake_id)
        return None if row is None else SimpleNamespace(borough=row.borough, event=self.held_events.get(intake_id))

    async def accept(self, intake_id: UUID, **acceptance: Any) -> datetime | None:
        if intake_id in self.acceptances:
            return None
        self.acceptances[intake_id] = acceptance
        return self.clock.now()


class FakeIdentity:
    """The index in memory: subjects, observations, addresses, links, matches, decisions, merge pointers."""

    def __init__(self, referrals: FakeReferrals) -> None:
        self.referrals = referrals
        self.subjects: dict[UUID, str] = {}
        self.observations: list[SimpleNamespace] = []
        self.addresses: list[dict[str, Any]] = []
        self.links: list[tuple[UUID, UUID]] = []
        self.matches: dict[UUID, SimpleNamespace] = {}
        self.decisions: dict[UUID, SimpleNamespace] = {}
        self.proposals: list[SimpleNamespace] = []
        self.answered: set[UUID] = set()
        self.merges: list[SimpleNamespace] = []
        self.unmerged: set[int] = set()
        self.rectified: list[dict[str, Any]] = []
        self.locks = 0

    async def lock(self) -> None:
        self.locks += 1

    async def lock_for_batch(self) -> None:
        self.locks += 1

    async def prefetch_names(self, asked: frozenset[str]) -> None:
        pass

    # merges

    def _in_force(self) -> list[SimpleNamespace]:
        return [m for m in self.merges if m.merge_id not in self.unmerged]

    async def canonical(self, subject_id: UUID) -> UUID:
        for merge in self._in_force():
            if merge.subject_id == subject_id:
                return await self.canonical(merge.merged_into)
        return subject_id

    async def cluster(self, subject_id: UUID) -> set[UUID]:
        root = await self.canonical(subject_id)
        return {s for s in self.subjects if await self.canonical(s) == root}

    async def merge_in_force(self, match_id: UUID) -> SimpleNamespace | None:
        return next((m for m in self._in_force() if m.match_id == match_id), None)

    async def merges_into(self, members: set[UUID]) -> list[UUID]:
        return [m.subject_id for m in self.merges if m.merged_into in members]

    async def record_boroughs(self, subject_id: UUID) -> frozenset[str | None]:
        members = await self.cluster(subject_id)
        return frozenset(r.borough for r in self.referrals.rows.values()
                         if r.child_subject_id in members or members & set(r.carer_subject_ids))

    # what the index knows

    def _of(self, members: set[UUID]) -> list[SimpleNamespace]:
        return [o for o in self.observations if o.subject_id in members]

    def _postcodes(self, members: set[UUID]) -> frozenset[str]:
        return frozenset(a["postcode_key"] for a in self.addresses if a["subject_id"] in members and a["postcode_key"])

    async def _roots(self, subject_ids: set[UUID]) -> dict[UUID, set[UUID]]:
        return {await self.canonical(s): await self.cluster(s) for s in subject_ids}

    async def known_children(self, subject_ids: set[UUID]) -> list[KnownChild]:
        return [KnownChild(
            subject_id=root, name_keys=frozenset(k for o in self._of(m) for k in o.name_keys),
            dates_of_birth=frozenset(o.date_of_birth for o in self._of(m) if o.date_of_birth),
            postcodes=self._postcodes(m), upns=frozenset(o.upn for o in self._of(m) if o.upn_valid),
            nhs_numbers=frozenset(o.nhs_number for o in self._of(m) if o.nhs_valid),
        ) for root, m in (await self._roots(subject_ids)).items()]

    async def known_carers(self, subject_ids: set[UUID]) -> list[KnownCarer]:
        return [KnownCarer(
            subject_id=root, name_keys=frozenset(k for o in self._of(m) for k in o.name_keys),
            child_subject_ids=frozenset([await self.canonical(c) for c, carer in self.links if carer in m]),
            postcodes=self._postcodes(m), phones=frozenset(p for o in self._of(m) for p in o.phones),
            emails=frozenset(o.email for o in self._of(m) if o.email),
        ) for root, m in (await self._roots(subject_ids)).items()]

    async def subjects_named(self, keys: frozenset[str], subject_type: str) -> set[UUID]:
        return {o.subject_id for o in self.observations
                if self.subjects[o.subject_id] == subject_type and keys & set(o.name_keys)}

    async def subjects_holding(self, upn: str | None, nhs_number: str | None) -> set[UUID]:
        return {o.subject_id for o in self.observations
                if (upn and o.upn_valid and o.upn == upn) or (nhs_number and o.nhs_valid and o.nhs_number == nhs_number)}

    async def view(self, subject_id: UUID) -> SubjectView | None:
        root = await self.canonical(subject_id)
        if root not in self.subjects:
            return None
        members = await self.cluster(subject_id)
        return SubjectView(root, self.subjects[root], sorted(members - {root}), current_details(self._of(members)),
                           [a for a in self.addresses if a["subject_id"] in members])

    # recording

    def _observation(self, subject_id: UUID, subject_type: str, new: bool, **values: Any) -> None:
        if new:
            self.subjects[subject_id] = subject_type
        row = dict(kind="referral", first_name=None, last_name=None, middle_names=None, preferred_name=None,
                   date_of_birth=None, sex=None, upn=None, upn_valid=False, nhs_number=None, nhs_valid=False,
                   relationship=None, email=None, aliases=[], phones=[], name_keys=[])
        self.observations.append(SimpleNamespace(**(row | values | {
            "subject_id": subject_id, "observation_id": len(self.observations) + 1})))

    async def observe_child(self, subject_id: UUID, child: Any, facts: Any, *, new: bool, intake_id: UUID,
                            source: str) -> None:
        self._observation(subject_id, "child", new, first_name=child.first_name, last_name=child.last_name,
                          name_keys=sorted(facts.name_keys), date_of_birth=child.date_of_birth, upn=facts.upn,
                          upn_valid=facts.upn is not None, nhs_number=facts.nhs_number,
                          nhs_valid=facts.nhs_number is not None, aliases=list(child.aliases))
        if child.address is not None:
            self.addresses.append({"subject_id": subject_id, "postcode_key": facts.postcode,
                                   "postcode": child.address.postcode, "valid_from": None, "recorded_at": NOW,
                                   "address_id": len(self.addresses) + 1})

    async def observe_carer(self, subject_id: UUID, carer: Any, facts: Any, address: Any, *, new: bool,
                            intake_id: UUID, source: str) -> None:
        self._observation(subject_id, "carer", new, first_name=carer.first_name, last_name=carer.last_name,
                          name_keys=sorted(facts.name_keys), phones=sorted(facts.phones), email=facts.email)

    async def link_carer(self, *, child_subject_id: UUID, carer_subject_id: UUID, relationship: str,
                         intake_id: UUID) -> None:
        self.links.append((child_subject_id, carer_subject_id))

    async def add_possible_matches(self, subject_type: str, subject_id: UUID, decision: Any, intake_id: UUID | None,
                                   borough: str | None) -> tuple[UUID, ...]:
        ids = []
        for candidate in decision.possible:
            match_id = uuid.uuid4()
            self.matches[match_id] = SimpleNamespace(match_id=match_id, subject_type=subject_type,
                                                     subject_id=subject_id, candidate_subject_id=candidate.subject_id,
                                                     borough=borough)
            ids.append(match_id)
        return tuple(ids)

    async def add_address(self, subject_id: UUID, address: Any, **_: Any) -> bool:
        return address is not None

    async def add_version(self, values: dict[str, Any]) -> None:
        self._observation(values["subject_id"], self.subjects[values["subject_id"]], False,
                          **{k: v for k, v in values.items() if k not in ("subject_id", "rights_request_id")})

    async def note_rectification(self, **noted: Any) -> None:
        self.rectified.append(noted)

    async def decisions_about(self, members: set[UUID]) -> list[Any]:
        return []

    async def access_items(self, service: str, members: list[UUID]) -> list[Any]:
        return []

    # possible matches

    async def visible_match(self, match_id: UUID, scope: Scope) -> SimpleNamespace | None:
        match = self.matches.get(match_id)
        return match if match is not None and scope.sees(match.borough) else None

    async def decided(self, match_id: UUID) -> bool:
        return match_id in self.decisions

    async def pending_proposal(self, match_id: UUID) -> SimpleNamespace | None:
        return next((p for p in self.proposals if p.match_id == match_id and p.proposal_id not in self.answered), None)

    async def propose_merge(self, **proposal: Any) -> None:
        self.proposals.append(SimpleNamespace(**proposal))

    async def answer_proposal(self, *, proposal_id: UUID, **_: Any) -> None:
        self.answered.add(proposal_id)

    async def decide_match(self, *, match_id: UUID, **decision: Any) -> None:
        self.decisions[match_id] = SimpleNamespace(**decision)

    async def merge(self, **merge: Any) -> None:
        self.merges.append(SimpleNamespace(merge_id=len(self.merges) + 1, **merge))

    async def unmerge(self, *, merge_id: int, **_: Any) -> None:
        self.unmerged.add(merge_id)


class FakeNothingDisposed:
    """Retention's stores (tombstones, `uow.retention`) with nothing disposed of yet (test_retention_*.py)."""

    async def tombstones_matching(self, digests: list[str]) -> list[Any]:
        return []

    async def about(self, subject_ids: Any = (), digests: Any = ()) -> list[Any]:
        return []


class FakeIntakeUnitOfWork(FakeUnitOfWork[IntakeBatch]):
    def __init__(self) -> None:
        super().__init__(FixedClock(NOW))
        self.referrals = FakeReferrals()
        self.identity = FakeIdentity(self.referrals)
        self.retention = self.tombstones = FakeNothingDisposed()
        self.digest_key, self.schedule = b"fake-digest-key-0123456789abcdef", DEFAULT_SCHEDULE
        self.seal = Seal(Fernet.generate_key().decode())
        self.districts = DEFAULT_POSTCODE_DISTRICTS
        self.topics = TopicNames("")

    def new_batch(self) -> IntakeBatch:
        return IntakeBatch()


def sample(name: str, **changes: Any) -> dict[str, Any]:
    document = json.loads((SAMPLE_REFERRALS / name).read_bytes())
    document.update(changes)
    return document


SCHOOL = "accepted-school-deletion-no-destination.json"  # Amira Haddad, W2 (Westminster), UPN and NHS number


async def receive(uow: FakeIntakeUnitOfWork, document: dict[str, Any], *, channel: str = "http",
                  key: bytes | None = None) -> Any:
    raw = json.dumps(document).encode()
    async with uow:
        outcome = await reception.receive(uow, Referral.model_validate_json(raw), raw=raw, key=key, channel=channel)
        await uow.commit()
    return outcome


def public(**child: Any) -> dict[str, Any]:
    document = sample(SCHOOL, referral_id="PUB-1")
    document["source"] = {"type": "public", "org_id": None, "org_name": "Concerned neighbour",
                          "contact": {"name": "A Neighbour", "phone": "07700 900999"}, "anonymous": False}
    document["child"].update(child)
    return document


def officer(borough: str | None = W, sub: str = "officer-1") -> Actor:
    return Actor(sub=sub, role="officer", scope=Scope.of_boroughs({Borough(borough)} if borough else set()))


def manager(sub: str = "manager-1") -> Actor:
    return Actor(sub=sub, role="manager", scope=Scope.of_boroughs(set(Borough)))


# ---- reception


async def test_a_new_referral_is_stored_answered_and_sent_to_casework_in_one_unit_of_work():
    uow = FakeIntakeUnitOfWork()
    outcome = await receive(uow, sample(SCHOOL), key=b"partner-key")
    assert outcome.status == "accepted" and outcome.processed_at == NOW  # the unit of work's clock
    assert uow.committed and uow.outbox.topics() == [topics.REFERRAL_OUTCOMES, topics.REFERRAL_ACCEPTED]
    [event] = uow.outbox.events(topics.REFERRAL_ACCEPTED)
    assert event.intake_id == outcome.intake_id and event.child_subject_id == outcome.child_subject_id
    assert event.borough is Borough.WESTMINSTER and len(event.carer_subject_ids) == 1
    assert uow.outbox.sent[1].aggregate_id == str(event.child_subject_id)  # keyed by the child
    assert uow.identity.locks == 1  # under the index lock


async def test_the_same_referral_again_is_a_duplicate_that_changes_nothing():
    uow = FakeIntakeUnitOfWork()
    first = await receive(uow, sample(SCHOOL))
    again = await receive(uow, sample(SCHOOL, submitted_at="2026-11-04T09:00:00+00:00"))
    assert again.status == "duplicate"
    assert (again.intake_id, again.child_subject_id) == (first.intake_id, first.child_subject_id)
    assert len(uow.referrals.rows) == 1 and len(uow.outbox.events(topics.REFERRAL_ACCEPTED)) == 1


async def test_without_an_org_id_the_content_is_the_key_less_its_submission_time():
    uow = FakeIntakeUnitOfWork()
    await receive(uow, public())
    same = await receive(uow, public() | {"submitted_at": "2026-12-01T00:00:00+00:00"}, channel=PUBLIC_FORM_CHANNEL)
    other = await receive(uow, public(first_name="Samira"))
    assert same.status == "duplicate" and other.status == "accepted"


async def test_a_referral_id_reused_by_another_org_is_not_a_duplicate():
    uow = FakeIntakeUnitOfWork()
    await receive(uow, sample(SCHOOL))
    other = sample(SCHOOL)
    other["source"] = other["source"] | {"org_id": "105555"}
    assert (await receive(uow, other)).status == "accepted"


async def test_the_public_forms_referral_is_answered_but_waits_for_an_officer():
    uow = FakeIntakeUnitOfWork()
    outcome = await receive(uow, public(), channel=PUBLIC_FORM_CHANNEL)
    assert outcome.status == "accepted"
    assert uow.outbox.topics() == [topics.REFERRAL_OUTCOMES]  # nothing for casework yet
    assert list(uow.referrals.held_events) == [outcome.intake_id]


async def test_a_private_referrers_contact_is_sealed_and_never_travels():
    uow = FakeIntakeUnitOfWork()
    outcome = await receive(uow, public())  # a partner's API, so it flows on at once
    row = uow.referrals.by_intake_id(outcome.intake_id)
    assert row.payload["source"]["contact"] is None and row.payload["source"]["org_name"] is None
    assert row.raw is None  # the bytes name the referrer: kept only inside the seal
    assert uow.referrals.sealed[outcome.intake_id]["contact"]["name"] == "A Neighbour"
    [event] = uow.outbox.events(topics.REFERRAL_ACCEPTED)
    assert event.source_org_name is None


async def test_the_same_child_from_two_partners_is_one_subject_by_upn():
    uow = FakeIntakeUnitOfWork()
    school = await receive(uow, sample(SCHOOL))
    police = sample(SCHOOL, referral_id="MPS-77")
    police["source"] = police["source"] | {"type": "police", "org_id": "MPS", "org_name": "Met Police"}
    police["child"]["address"] = None
    again = await receive(uow, police)
    assert again.status == "accepted" and again.child_subject_id == school.child_subject_id
    assert len([s for s, t in uow.identity.subjects.items() if t == "child"]) == 1
    assert len([s for s, t in uow.identity.subjects.items() if t == "carer"]) == 1  # same name, same child


async def test_name_and_date_of_birth_alone_is_a_new_subject_with_a_possible_match():
    uow = FakeIntakeUnitOfWork()
    first = await receive(uow, sample(SCHOOL))
    namesake = sample(SCHOOL, referral_id="SCH-2026-0002")
    namesake["child"].update(upn=None, nhs_number=None, address=None)
    second = await receive(uow, namesake)
    assert second.child_subject_id != first.child_subject_id
    [event] = uow.outbox.events(topics.REFERRAL_ACCEPTED)[1:]
    assert event.possible_match_subject_ids == [first.child_subject_id]
    [match] = [m for m in uow.identity.matches.values() if m.subject_type == "child"]
    assert (match.subject_id, match.candidate_subject_id, match.borough) == (second.child_subject_id,
                                                                             first.child_subject_id, None)


async def test_every_dead_letter_still_gets_its_one_rejected_outcome_naming_what_it_could_read():
    uow = FakeIntakeUnitOfWork()
    problems = [Problem(loc=["child"], code="missing", message="Field required")]
    for offset, value in ((5, json.dumps({"referral_id": "R-1", "source": {"org_id": "101234"}}).encode()),
                          (6, b"\xff not json")):
        async with uow:
            delivery = Delivery(topic="t", partition=0, offset=offset, key=b"k", value=value)
            await reception.on_unreadable_referral(uow, delivery, problems)
            await uow.commit()
    named, unnamed = uow.outbox.sent
    assert named.event.status == "rejected" and named.event.errors == problems
    assert (named.event.referral_id, named.event.source_org_id, named.aggregate_id) == ("R-1", "101234", "101234:R-1")
    assert (unnamed.event.referral_id, unnamed.event.source_org_id) == (None, None)
    assert list(uow.referrals.rejected) == ["t:0:5", "t:0:6"]  # known by their place in the log


async def test_an_unreadable_body_from_the_public_form_is_dead_lettered_sealed():
    uow = FakeIntakeUnitOfWork()
    raw = b'{"name": "a member of the public"'
    async with uow:
        outcome = await reception.dead_letter(uow, raw, [Problem(loc=[], code="json_invalid", message="no")],
                                              PUBLIC_FORM_CHANNEL)
        await uow.commit()
    letter, answer = uow.outbox.sent
    assert letter.topic == topics.dlq(topics.REFERRALS) and letter.event != raw
    assert uow.seal.unseal_bytes(letter.event) == raw
    assert answer.event is outcome and outcome.status == "rejected"


# ---- the public form's acceptance


async def test_an_officer_accepts_a_held_referral_once_and_its_event_names_the_merged_subject():
    uow = FakeIntakeUnitOfWork()
    held = await receive(uow, public(), channel=PUBLIC_FORM_CHANNEL)
    survivor = uuid.uuid4()
    uow.identity.subjects[survivor] = "child"
    uow.identity.merges.append(SimpleNamespace(merge_id=1, subject_id=held.child_subject_id, merged_into=survivor,
                                               match_id=None))
    uow.clock.advance(timedelta(days=1))
    async with uow:
        accepted = await reception.accept_held(uow, held.intake_id, accepted_by="officer-1", role="officer",
                                               scope=Scope.of_boroughs({Borough.WESTMINSTER}),
                                               borough=Borough.WESTMINSTER, reason=None)
        await uow.commit()
    [event] = uow.outbox.events(topics.REFERRAL_ACCEPTED)
    assert event.child_subject_id == survivor and event.occurred_at == uow.clock.now()
    assert accepted.borough == W
    with pytest.raises(reception.AlreadyAccepted) as twice:
        async with uow:
            await reception.accept_held(uow, held.intake_id, accepted_by="officer-2", role="officer",
                                        scope=Scope.of_boroughs({Borough.WESTMINSTER}), borough=None, reason=None)
    assert (twice.value.status, twice.value.code) == (409, "already_accepted") and uow.rolled_back


async def test_a_referral_another_borough_holds_is_not_found_and_a_partners_is_not_held():
    uow = FakeIntakeUnitOfWork()
    held = await receive(uow, public(), channel=PUBLIC_FORM_CHANNEL)
    partners = await receive(uow, sample(SCHOOL))
    kensington = Scope.of_boroughs({Borough.KENSINGTON_AND_CHELSEA})
    westminster = Scope.of_boroughs({Borough.WESTMINSTER})
    for intake_id, scope, refusal in ((held.intake_id, kensington, (404, "not_found")),
                                      (uuid.uuid4(), westminster, (404, "not_found")),
                                      (partners.intake_id, westminster, (409, "not_held"))):
        with pytest.raises(Refusal) as refused:
            async with uow:
                await reception.accept_held(uow, intake_id, accepted_by="o", role="officer", scope=scope,
                                            borough=None, reason=None)
        assert (refused.value.status, refused.value.code) == refusal
    assert not uow.referrals.acceptances


# ---- possible matches: who decides, and how many people it takes


async def two_children(uow: FakeIntakeUnitOfWork, second_borough: str | None = None) -> UUID:
    """Two referrals whose children may be one (name and date of birth): the match id."""
    await receive(uow, sample(SCHOOL))
    namesake = sample(SCHOOL, referral_id="SCH-2026-0002", borough=second_borough)
    namesake["child"].update(upn=None, nhs_number=None, address=None)
    await receive(uow, namesake)
    [match_id] = [m.match_id for m in uow.identity.matches.values() if m.subject_type == "child"]
    uow.identity.matches[match_id].borough = second_borough or W
    return match_id


async def act(uow: FakeIntakeUnitOfWork, call: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    async with uow:
        answer = await call(uow, *args, **kwargs)
        await uow.commit()
    return answer


async def test_an_officer_merges_within_their_borough_at_once_and_a_second_decision_is_refused():
    uow = FakeIntakeUnitOfWork()
    match_id = await two_children(uow, W)
    answer = await act(uow, possible_matches.resolve, match_id, decision=Decision.MERGE, reason="same child",
                       actor=officer(W))
    assert answer["status"] == "decided" and answer["subject_id"] == answer["candidate_subject_id"]
    assert answer["decided_at"] == NOW.isoformat()
    with pytest.raises(possible_matches.AlreadyDecided):
        await act(uow, possible_matches.resolve, match_id, decision=Decision.KEEP_APART, reason="no",
                  actor=officer(W))


async def test_another_boroughs_match_is_not_found():
    uow = FakeIntakeUnitOfWork()
    match_id = await two_children(uow, W)
    with pytest.raises(possible_matches.MatchNotFound) as refused:
        await act(uow, possible_matches.resolve, match_id, decision=Decision.KEEP_APART, reason="x",
                  actor=officer(K))
    assert refused.value.status == 404 and not uow.identity.decisions


async def test_a_merge_across_two_boroughs_needs_a_manager_who_did_not_propose_it():
    uow = FakeIntakeUnitOfWork()
    match_id = await two_children(uow, K)  # the first child's referral is Westminster's
    proposed = await act(uow, possible_matches.resolve, match_id, decision=Decision.MERGE, reason="same child",
                         actor=manager("manager-1"))
    assert proposed["status"] == "pending_approval" and proposed["proposal"]["boroughs"] == [K, W]
    assert not uow.identity.merges
    with pytest.raises(possible_matches.MergePending):
        await act(uow, possible_matches.resolve, match_id, decision=Decision.KEEP_APART, reason="x",
                  actor=manager("manager-2"))
    with pytest.raises(possible_matches.SamePerson) as same:
        await act(uow, possible_matches.decide_proposal, match_id, approval=Approval.APPROVE, reason="ok",
                  actor=manager("manager-1"))
    assert (same.value.status, same.value.code) == (403, "two_person_rule")
    approved = await act(uow, possible_matches.decide_proposal, match_id, approval=Approval.APPROVE, reason="ok",
                         actor=manager("manager-2"))
    assert approved["status"] == "decided" and approved["proposal"]["proposed_by"] == "manager-1"
    assert len(uow.identity.merges) == 1


async def test_a_refused_proposal_leaves_the_match_open():
    uow = FakeIntakeUnitOfWork()
    match_id = await two_children(uow, K)
    await act(uow, possible_matches.resolve, match_id, decision=Decision.MERGE, reason="r", actor=manager("m-1"))
    refused = await act(uow, possible_matches.decide_proposal, match_id, approval=Approval.REFUSE, reason="no",
                        actor=manager("m-2"))
    assert refused["status"] == "open" and not uow.identity.decisions and not uow.identity.merges
    with pytest.raises(possible_matches.NoPendingProposal):
        await act(uow, possible_matches.decide_proposal, match_id, approval=Approval.APPROVE, reason="ok",
                  actor=manager("m-3"))


async def test_an_officer_who_cannot_see_every_record_only_proposes():
    uow = FakeIntakeUnitOfWork()
    match_id = await two_children(uow, W)
    first = next(iter(uow.referrals.rows.values()))
    first.borough = None  # the first child's referral is on the triage list, which officers never see
    answer = await act(uow, possible_matches.resolve, match_id, decision=Decision.MERGE, reason="r",
                       actor=officer(W))
    assert answer["status"] == "pending_approval" and answer["proposal"]["boroughs"] == [W, None]


async def test_a_manager_undoes_a_merge_once():
    uow = FakeIntakeUnitOfWork()
    match_id = await two_children(uow, W)
    with pytest.raises(possible_matches.NotMerged):
        await act(uow, possible_matches.unmerge, match_id, reason="not yet", actor=manager())
    merged = await act(uow, possible_matches.resolve, match_id, decision=Decision.MERGE, reason="same",
                       actor=officer(W))
    undone = await act(uow, possible_matches.unmerge, match_id, reason="twins", actor=manager())
    assert undone["status"] == "unmerged" and undone["subject_id"] != undone["candidate_subject_id"]
    assert undone["unmerged"]["was_merged_into"] == merged["candidate_subject_id"]
    with pytest.raises(possible_matches.NotMerged):
        await act(uow, possible_matches.unmerge, match_id, reason="again", actor=manager())


# ---- the rights service's messages


def rectification(subject_id: UUID, field: str, value: Any) -> FactualRectification:
    return FactualRectification(event_id=uuid.uuid4(), occurred_at=NOW, rights_request_id=uuid.uuid4(),
                                subject_id=subject_id, field=field, new_value=value, decided_by="dpo-1")


async def test_a_rectification_is_a_new_version_that_wins_over_every_report():
    uow = FakeIntakeUnitOfWork()
    child = (await receive(uow, sample(SCHOOL))).child_subject_id
    await receive(uow, sample(SCHOOL, referral_id="SCH-2026-0003"))  # a later report, as before
    async with uow:
        await subject_rights.on_factual_rectification(uow, rectification(child, "last_name", "Haddad-Ali"))
        await uow.commit()
    [reply] = uow.outbox.events(topics.replies_of("intake"))
    assert reply.records_changed == 1 and reply.subject_id == child
    assert (await uow.identity.view(child)).details["last_name"] == "Haddad-Ali"
    assert uow.identity.rectified[0]["field"] == "last_name"


async def test_a_rectification_of_a_subject_intake_does_not_hold_changes_nothing_and_says_so():
    uow = FakeIntakeUnitOfWork()
    async with uow:
        await subject_rights.on_factual_rectification(uow, rectification(uuid.uuid4(), "first_name", "X"))
        await uow.commit()
    [reply] = uow.outbox.events(topics.replies_of("intake"))
    assert reply.records_changed == 0 and not uow.identity.rectified


async def test_a_collection_addressed_to_other_services_is_not_answered_and_other_kinds_pass():
    uow = FakeIntakeUnitOfWork()
    request = DataCollectionRequest(event_id=uuid.uuid4(), occurred_at=NOW, collection_id=uuid.uuid4(),
                                    rights_request_id=uuid.uuid4(), subject_ids=[uuid.uuid4()],
                                    services=["casework"])
    async with uow:
        await on_rights_request(uow, request)
        await on_rights_request(uow, None)  # a kind intake has no part in
        await uow.commit()
    assert uow.outbox.sent == []


async def test_a_lookup_finds_the_child_by_upn_and_names_only_accepted_boroughs():
    uow = FakeIntakeUnitOfWork()
    child = (await receive(uow, sample(SCHOOL))).child_subject_id
    uow.referrals.accepted_boroughs = _accepted_boroughs(uow)  # type: ignore[method-assign]
    lookup = SubjectLookup(event_id=uuid.uuid4(), occurred_at=NOW, collection_id=uuid.uuid4(),
                           person={"first_name": "amira", "last_name": "HADDAD", "upn": "G213200119044"})
    async with uow:
        await on_rights_request(uow, lookup)
        await uow.commit()
    [reply] = uow.outbox.events(topics.replies_of("intake"))
    assert [(m.subject_id, m.match, m.boroughs) for m in reply.matches] == [(child, "exact_identifier", [W])]


def _accepted_boroughs(uow: FakeIntakeUnitOfWork) -> Any:
    async def accepted_boroughs(members: list[UUID], subject_type: str) -> list[str]:
        return sorted({r.borough for r in uow.referrals.rows.values()
                       if r.borough and r.child_subject_id in members and r.intake_id not in uow.referrals.held_events})
    return accepted_boroughs

