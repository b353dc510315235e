"""Third-party information in a subject's records, and what the requester may see of it (pure).

DPA 2018 Sch 2 Part 3 para 16: information identifying someone else is withheld unless they consent or
it is reasonable to disclose. Services mark such parts of each record (`ThirdPartyMarker`); here each
mark becomes a redaction with its reason code, except a carer's own data when that carer is the
requester. Professionals acting in their role are not third parties in this sense and are not marked.
A mark whose path cannot be found withholds the whole record: when unsure, nobody else's data leaks.
"""

import copy
from dataclasses import asdict, dataclass
from typing import Any
from uuid import UUID

from cme_shared.contracts.rights import DataItem, ThirdPartyMarker, ThirdPartyReason

BASIS = "DPA 2018 Sch 2 Part 3 para 16 (information about another individual)"
REDACTED = "[redacted]"

REASON_CODES = {
    ThirdPartyReason.PUBLIC_REFERRER: "third_party_public_referrer",
    ThirdPartyReason.OTHER_CHILD: "third_party_other_child",
    ThirdPartyReason.OTHER_CARER: "third_party_other_carer",
    ThirdPartyReason.OTHER_PERSON: "third_party_other_person",
}
UNRESOLVED = "third_party_path_unresolved"


@dataclass(frozen=True)
class Redaction:
    service: str
    record_type: str
    record_id: str
    path: str
    reason_code: str
    basis: str = BASIS

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class RedactedItem:
    data: dict[str, Any] | None  # None: the whole record is withheld
    redactions: list[Redaction]


def is_third_party(marker: ThirdPartyMarker, requester_subject_ids: frozenset[UUID]) -> bool:
    """A carer's own data is theirs to see; everyone else's is third-party to the requester."""
    if marker.reason is ThirdPartyReason.OTHER_CARER and marker.subject_id is not None:
        return marker.subject_id not in requester_subject_ids
    return True


def redact(item: DataItem, requester_subject_ids: frozenset[UUID],
           reasons: frozenset[ThirdPartyReason] = frozenset(ThirdPartyReason)) -> RedactedItem:
    """The item's data with each third-party part the requester may not see blanked (only `reasons`)."""
    data = copy.deepcopy(item.data)
    redactions: list[Redaction] = []
    for marker in item.third_party:
        if marker.reason not in reasons or not is_third_party(marker, requester_subject_ids):
            continue
        if _blank(data, marker.path):
            redactions.append(Redaction(item.service, item.record_type, item.record_id, marker.path,
                                        REASON_CODES[marker.reason]))
        else:
            return RedactedItem(None, [Redaction(item.service, item.record_type, item.record_id, marker.path,
                                                 UNRESOLVED)])
    return RedactedItem(data, redactions)


def _blank(data: Any, path: str) -> bool:
    """Replace the value at dotted `path` (list positions as numbers) by REDACTED; False if not found."""
    parts = path.split(".") if path else []
    if not parts:
        return False
    node = data
    for part in parts[:-1]:
        node = _child(node, part)
        if node is _MISSING:
            return False
    last = parts[-1]
    if isinstance(node, dict) and last in node:
        node[last] = REDACTED
        return True
    if isinstance(node, list) and last.isdigit() and int(last) < len(node):
        node[int(last)] = REDACTED
        return True
    return False


_MISSING = object()


def _child(node: Any, part: str) -> Any:
    if isinstance(node, dict):
        return node.get(part, _MISSING)
    if isinstance(node, list) and part.isdigit() and int(part) < len(node):
        return node[int(part)]
    return _MISSING
