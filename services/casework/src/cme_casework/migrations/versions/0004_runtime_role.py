"""The service logs in as a role that owns nothing (issue 12, SEC-08).

Migrations run as `cme_casework_owner`, which owns every table; the service's login `cme_casework` gets
the rights it needs and no more. The case history and the restriction log keep the triggers of 0001
and are INSERT and SELECT only for the runtime role; before, the role that used them owned them and
could grant itself back what 0001 revoked, or disable the triggers.

Revision ID: 0004
Revises: 0003
"""
from cme_shared.migrations import grant_runtime_role, revoke_runtime_role

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

HISTORY = ("case_history", "restriction_events")


def upgrade() -> None:
    grant_runtime_role(history=HISTORY)


def downgrade() -> None:
    revoke_runtime_role()
