"""Who sees which of intake's records: one rule for every officer read (a referral, the triage list, possible
matches and the subjects they show) and for who may merge alone, written once (issue 13, SEC-13, SEC-14).

A record belongs to the borough of its referral, or to none yet (the triage list). A person sees the boroughs
of the role that let the request in (the kit's `visible_boroughs`, from `Principal.boroughs()`: an officer
their token's borough, a manager or the DPO both; never widened by another role in the token). Records no borough has been decided for are seen
only by those who see every borough, as in casework, where officers never see unassigned cases and a manager
assigns them.
"""

from collections.abc import Iterable, Set
from dataclasses import dataclass
from typing import Any

from sqlalchemy import false, or_

from cme_shared.auth import EVERY_BOROUGH, Principal, visible_boroughs
from cme_shared.contracts.referrals import Borough


@dataclass(frozen=True)
class Scope:
    # The boroughs whose records are seen, and None when records no borough has yet are seen too (the kit's
    # `visible_boroughs`: only by those who see every borough).
    visible: frozenset[str | None]

    @classmethod
    def of(cls, principal: Principal) -> "Scope":
        return cls(visible_boroughs(principal, include_unassigned=True))

    @classmethod
    def of_boroughs(cls, boroughs: Set[Borough]) -> "Scope":
        """The scope of someone who sees these boroughs (as `Principal.boroughs()` gives them)."""
        named: frozenset[str | None] = frozenset(Borough(b).value for b in boroughs)
        return cls(named | {None} if named >= EVERY_BOROUGH else named)

    @property
    def unassigned(self) -> bool:
        """Whether records on the triage list (no borough yet) are seen: only by those who see every borough."""
        return None in self.visible

    def sees(self, borough: str | None) -> bool:
        return borough in self.visible

    def sees_any(self, boroughs: Iterable[str | None]) -> bool:
        return any(self.sees(b) for b in boroughs)

    def where(self, column: Any) -> Any:
        """The same rule as `sees`, as a condition on a borough column."""
        boroughs = sorted(b for b in self.visible if b is not None)
        named = column.in_(boroughs) if boroughs else false()
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
