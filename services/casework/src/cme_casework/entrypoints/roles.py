"""Who may call what (CONTRACT section 2): the role dependencies the routes share."""

from typing import Annotated

from fastapi import Depends

from cme_shared.auth import Principal, Role, require_roles

Officers = Annotated[Principal, Depends(require_roles(Role.OFFICER, Role.MANAGER))]
Readers = Annotated[Principal, Depends(require_roles(Role.OFFICER, Role.MANAGER, Role.DPO))]
Managers = Annotated[Principal, Depends(require_roles(Role.MANAGER))]
Dpo = Annotated[Principal, Depends(require_roles(Role.DPO))]
Triage = Annotated[Principal, Depends(require_roles(Role.MANAGER, Role.DPO))]
