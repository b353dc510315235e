"""Shares that services other than disclosure make: each lands in the disclosure log as an event.

casework -> `cme.disclosure.share-events.v1`: a school told of a child, a statutory transfer to another
council; rights -> the same topic for a "transfer to another authority" (a statutory share, DOMAIN 5).
"""

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel

from .categories import DataCategory
from .events import Event


class Recipient(BaseModel):
    type: str  # police | home_office | dwp | school | other_local_authority | internal
    org_id: str | None = None
    org_name: str


class ShareMade(Event):
    share_ref: str  # the sharing service's own reference (idempotency)
    service: str
    subject_ids: list[UUID]
    recipient: Recipient
    purpose: str  # cme_tracking | safeguarding | statutory_transfer | ...
    legal_gateway: str
    categories: list[DataCategory]
    fields_released: list[str]
    reason: str
    decided_by: str  # who made or approved the share
    shared_at: datetime
    # The two-person rule (SEC-17), optional so that earlier events still parse: who proposed the share
    # (never the same person as `decided_by`), and the roles that may approve such a share.
    proposed_by: str | None = None
    approval_roles: list[str] = []
