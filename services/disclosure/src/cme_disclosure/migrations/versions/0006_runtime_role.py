"""The service logs in as a role that owns nothing (issue 12, SEC-08).

Migrations run as `cme_disclosure_owner`, which owns every table; the service's login `cme_disclosure`
gets the rights it needs and no more. The log's tables keep their triggers and are INSERT and SELECT
only for the runtime role; before, the role that appended to them owned them and could grant itself
back what 0002 revoked, or disable the triggers. The public keys that signed heads are never changed
either (a key is registered once, before its first head), so they get the same triggers here.

Revision ID: 0006
Revises: 0005
"""
from alembic import op

from cme_shared.migrations import HISTORY_GUARD, append_only, drop_append_only, grant_runtime_role, revoke_runtime_role

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

HISTORY = ("log_leaves", "log_nodes", "tree_heads", "signing_keys", "checkpoints", "witness_cosignatures")


def upgrade() -> None:
    grant_runtime_role(history=HISTORY)
    append_only("signing_keys")


def downgrade() -> None:
    drop_append_only("signing_keys")
    op.execute(f"DROP FUNCTION {HISTORY_GUARD}()")
    revoke_runtime_role()
