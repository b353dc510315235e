"""The identity index: one subject id per child and per carer, whichever partner refers them.

The matching rules are pure (`domain.identity`); this module asks the index (`uow.identity`,
adapters/identity_store.py) what it knows and records what was decided. Every write is made under the
index lock, which `reception.receive` and the officers' decisions take first.
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING
from uuid import UUID

from cme_shared.contracts.referrals import Address, Carer, Child

from ..domain.identity import (
    ChildFacts,
    MatchDecision,
    carer_address,
    carer_facts,
    child_facts,
    match_carer,
    match_child,
)
from ..domain.names import name_keys

if TYPE_CHECKING:
    from ..adapters.unit_of_work import IntakeUnitOfWork


@dataclass(frozen=True)
class Resolution:
    subject_id: UUID
    decision: MatchDecision
    possible_match_ids: tuple[UUID, ...] = ()

    @property
    def possible_subject_ids(self) -> list[UUID]:
        return [c.subject_id for c in self.decision.possible]


async def match_child_facts(uow: "IntakeUnitOfWork", facts: ChildFacts) -> MatchDecision:
    identity = uow.identity
    holders = await identity.subjects_holding(facts.upn, facts.nhs_number)
    named = await identity.subjects_named(facts.name_keys, "child")
    return match_child(facts, await identity.known_children(holders), await identity.known_children(named))


async def record_child(
    uow: "IntakeUnitOfWork", child: Child, *, intake_id: UUID, source: str, borough: str | None,
    future_address: Address | None = None, future_address_from: date | None = None,
) -> Resolution:
    facts = child_facts(child)
    decision = await match_child_facts(uow, facts)
    subject_id = decision.same_as or uuid.uuid4()
    await uow.identity.observe_child(subject_id, child, facts, new=decision.same_as is None, intake_id=intake_id,
                                     source=source)
    match_ids = await uow.identity.add_possible_matches("child", subject_id, decision, intake_id, borough)
    await uow.identity.add_address(subject_id, future_address, source=source, intake_id=intake_id,
                                   valid_from=future_address_from)
    return Resolution(subject_id, decision, match_ids)


async def record_carer(
    uow: "IntakeUnitOfWork", carer: Carer, *, child: Child, child_subject_id: UUID, intake_id: UUID, source: str,
    borough: str | None,
) -> Resolution:
    facts = carer_facts(carer, child, child_subject_id)
    named = await uow.identity.subjects_named(facts.name_keys, "carer")
    decision = match_carer(facts, await uow.identity.known_carers(named))
    subject_id = decision.same_as or uuid.uuid4()
    await uow.identity.observe_carer(subject_id, carer, facts, carer_address(carer, child),
                                     new=decision.same_as is None, intake_id=intake_id, source=source)
    match_ids = await uow.identity.add_possible_matches("carer", subject_id, decision, intake_id, borough)
    await uow.identity.link_carer(child_subject_id=child_subject_id, carer_subject_id=subject_id,
                                  relationship=carer.relationship.value, intake_id=intake_id)
    return Resolution(subject_id, decision, match_ids)


async def prepare_batch(uow: "IntakeUnitOfWork", people: Iterable[tuple[Child, list[Carer]]]) -> None:
    """For a batch of referrals: the index lock once, first (every record would take it anyway and keep it
    until the batch commits, so no lock order changes), then every name the batch's children and carers
    will be looked up by, in one query."""
    await uow.identity.lock_for_batch()
    await uow.identity.prefetch_names(frozenset(key for child, carers in people for key in (
        *child_facts(child).name_keys, *(k for carer in carers for k in name_keys(carer.first_name, carer.last_name)))))
