"""Who looked at a subject's disclosure records (`uow.access_log`), on the kit's access_log table."""

from collections.abc import Iterable, Sequence
from uuid import UUID

from fastapi import Request
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from cme_shared.access_log import access_items, record_access
from cme_shared.auth import Principal
from cme_shared.contracts.rights import DataItem


class AccessLog:
    def __init__(self, session: AsyncSession, table: Table, service: str) -> None:
        self.session, self.table, self.service = session, table, service

    async def record(self, request: Request, principal: Principal, subject_ids: Iterable[UUID], *, action: str,
                     returned: str, record_type: str | None = None, record_id: str | None = None) -> int:
        """One row per subject shown, in the transaction that read them."""
        return await record_access(self.session, self.table, request, principal, subject_ids, action=action,
                                   returned=returned, record_type=record_type, record_id=record_id)

    async def items(self, subject_ids: Sequence[UUID]) -> list[DataItem]:
        """The subject access items for these subjects' rows (Art 15(1)(c): recipients within the council)."""
        return await access_items(self.session, self.table, self.service, subject_ids)
