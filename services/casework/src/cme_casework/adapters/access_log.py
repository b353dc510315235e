"""Casework's access log (the kit's `access_log` table): every read of a child's data, recorded in the
read's own transaction, and the subject access items it yields (cme_shared.access_log)."""

from collections.abc import Iterable, Sequence
from uuid import UUID

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from cme_shared.access_log import access_items, record_access
from cme_shared.auth import Principal
from cme_shared.contracts.rights import DataItem

from .tables import kit

SERVICE = "casework"


class AccessLog:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(self, request: Request, principal: Principal, subject_ids: Iterable[UUID], *, action: str,
                     returned: str, record_type: str | None = None, record_id: str | None = None) -> int:
        """One row per subject read (who, as which role, why, what); returns how many were written."""
        return await record_access(self.session, kit.access_log, request, principal, subject_ids, action=action,
                                   returned=returned, record_type=record_type, record_id=record_id)

    async def items(self, subject_ids: Sequence[UUID]) -> list[DataItem]:
        """Who within the council looked at these subjects' records here (UK GDPR Art 15(1)(c) recipients)."""
        return await access_items(self.session, kit.access_log, SERVICE, list(subject_ids))
