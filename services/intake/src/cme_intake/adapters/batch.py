"""What one transaction of intake knows beyond its rows: the unit of work's typed batch state (`uow.batch`).

A batch of referrals (the kit's batch mode) takes the identity-index lock once, first, and keeps it until it
commits; then nobody else can store a referral or an observation, so what the batch read once at its start,
plus what it recorded itself since, is all there is. The caches are only read while the transaction holds
its rows back for one insert at its end (the kit's held inserts), where any failure rolls the whole
transaction back, state and all. A new unit of work starts with a new, empty batch.
"""

from dataclasses import dataclass, field
from uuid import UUID

StoredIds = tuple[UUID, UUID]  # a stored referral's (intake id, child subject id)


@dataclass
class NamesKnown:
    """Every observation whose name keys meet `asked`, as read once, plus those the batch itself records."""

    asked: frozenset[str]
    observations: dict[str, list[tuple[UUID, frozenset[str]]]]


@dataclass
class IntakeBatch:
    # The identity-index lock is held until this transaction ends: taking it again is a round trip for nothing.
    index_locked: bool = False
    # Idempotency key -> a stored referral's ids, or None: which of the batch's referrals came before.
    known_keys: dict[str, StoredIds | None] = field(default_factory=dict)
    # Idempotency key -> the ids of the referrals this transaction holds back for one insert at its end,
    # for the duplicate check to find (a query does not see held rows).
    held_referrals: dict[str, StoredIds] = field(default_factory=dict)
    # The batch's name lookups, read once (`IdentityStore.prefetch_names`).
    names: NamesKnown | None = None
