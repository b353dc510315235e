"""Who sees which of intake's records: one rule for every officer read (a referral, the triage list, possible
matches and the subjects they show) and for who may merge alone, written once (issue 13, SEC-13, SEC-14).

A record belongs to the borough of its referral, or to none yet (the triage list). A person sees the boroughs
of the role that let the request in (`Principal.boroughs()`: an officer their token's borough, a manager or
the DPO both; never widened by another role in the token). Records no borough has been decided for are seen
only by those who see every borough, as in casework, where officers never see unassigned cases and a manager
assigns them.
"""

from collections.abc import Iterable, Set
from dataclasses import dataclass
from typing import Any

from sqlalchemy import false, or_

from cme_shared.auth import Principal
from cme_shared.contracts.referrals import Borough

EVERY_BOROUGH = frozenset(b.value for b in Borough)


@dataclass(frozen=True)
class Scope:
    boroughs: frozenset[str]

    @classmethod
    def of(cls, principal: Principal) -> "Scope":
        return cls.of_boroughs(principal.boroughs())

    @classmethod
    def of_boroughs(cls, boroughs: Set[Borough]) -> "Scope":
        return cls(frozenset(Borough(b).value for b in boroughs))

    @property
    def unassigned(self) -> bool:
        """Whether records on the triage list (no borough yet) are seen: only by those who see every borough."""
        return self.boroughs >= EVERY_BOROUGH

    def sees(self, borough: str | None) -> bool:
        return self.unassigned if borough is None else borough in self.boroughs

    def sees_any(self, boroughs: Iterable[str | None]) -> bool:
        return any(self.sees(b) for b in boroughs)

    def where(self, column: Any) -> Any:
        """The same rule as `sees`, as a condition on a borough column."""
        named = column.in_(sorted(self.boroughs)) if self.boroughs else false()
        return or_(column.is_(None), named) if self.unassigned else named

    def merges_alone(self, boroughs: Iterable[str | None]) -> bool:
        """Whether this person may merge, on their own, two subjects whose records are in these boroughs: the
        records are all in one borough, and they see it. Otherwise (two boroughs, or records they cannot
        see) a manager who did not propose it must approve (segregation of duties, SEC-13)."""
        boroughs = set(boroughs)
        return len(boroughs - {None}) <= 1 and all(self.sees(b) for b in boroughs)


def visible(borough: str | None, boroughs: Set[Borough]) -> bool:
    """`Scope.sees` for a caller holding `principal.boroughs()`."""
    return Scope.of_boroughs(boroughs).sees(borough)
