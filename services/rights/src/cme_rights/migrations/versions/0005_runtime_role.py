"""The service logs in as a role that owns nothing (issue 12, SEC-08).

Migrations run as `cme_rights_owner`, which owns every table; the service's login `cme_rights` gets
the rights it needs and no more. The clock, audit trail and decisions keep the triggers of 0002 and
are INSERT and SELECT only for the runtime role (0003 revoked from the role that owned them, which
could grant it back). What each service reports it rectified is history too: it is inserted once per
event and never changed, so it becomes append-only here.

Revision ID: 0005
Revises: 0004
"""
from cme_shared.migrations import append_only, drop_append_only, grant_runtime_role, revoke_runtime_role

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

HISTORY = ("clock_events", "audit_log", "decisions", "rectifications_applied")


def upgrade() -> None:
    grant_runtime_role(history=HISTORY)
    append_only("rectifications_applied")


def downgrade() -> None:
    drop_append_only("rectifications_applied")
    revoke_runtime_role()
