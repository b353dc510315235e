"""The append-only history tables refuse changes by privilege too, not only by trigger (as casework's and
disclosure's do): the service's own role may insert into them and read them, never update, delete or
truncate.

Revision ID: 0003
Revises: 0002
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

APPEND_ONLY = ("clock_events", "audit_log", "decisions")


def upgrade() -> None:
    for table in APPEND_ONLY:
        op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM CURRENT_USER")


def downgrade() -> None:
    for table in APPEND_ONLY:
        op.execute(f"GRANT UPDATE, DELETE, TRUNCATE ON {table} TO CURRENT_USER")
