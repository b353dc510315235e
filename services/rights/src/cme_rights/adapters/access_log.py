"""Rights's access log (the kit's table, cme_shared/access_log.py): the reads of a request's personal data are
recorded here, and a subject's access pack lists them as recipients within the council (Art 15(1)(c))."""

import uuid
from collections.abc import Iterable, Sequence

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from cme_shared.access_log import access_items, record_access
from cme_shared.auth import Principal
from cme_shared.contracts.rights import DataItem

from .tables import kit

SERVICE = "rights"


class AccessLog:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def record(self, request: Request, principal: Principal, subject_ids: Iterable[uuid.UUID], *,
                     action: str, returned: str, request_id: uuid.UUID) -> None:
        """`principal` read the personal data of `subject_ids` in rights request `request_id`."""
        await record_access(self._session, kit.access_log, request, principal, subject_ids, action=action,
                            returned=returned, record_type="rights_request", record_id=str(request_id))

    async def items_about(self, subject_ids: Sequence[uuid.UUID]) -> list[DataItem]:
        """Who within the council looked at these subjects' rights requests, as subject access items."""
        return await access_items(self._session, kit.access_log, SERVICE, subject_ids)
