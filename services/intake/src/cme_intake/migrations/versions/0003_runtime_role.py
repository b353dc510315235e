"""Intake's history is append-only, and the service logs in as a role that owns none of it (issue 12, SEC-08).

Migrations run as `cme_intake_owner`, which owns every table; the service's login `cme_intake` gets
the rights it needs and no more. Intake never updates or deletes a row of its own tables (a referral
is kept as received, a rectification adds an observation, a merge adds a pointer), so every one of
them is history: INSERT and SELECT only for the runtime role, and triggers refusing UPDATE, DELETE
and TRUNCATE to anyone. Only the kit's outbox and inbox stay ordinary tables (the relay marks rows
sent; operators release or drop quarantined ones).

Revision ID: 0003
Revises: 0002
"""
from alembic import op

from cme_shared.migrations import HISTORY_GUARD, append_only, drop_append_only, grant_runtime_role, revoke_runtime_role

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

HISTORY = (
    "referrals", "rejected_messages", "third_party_details", "subjects", "subject_observations",
    "subject_addresses", "care_links", "possible_matches", "possible_match_decisions", "subject_merges",
    "rectifications",
)


def upgrade() -> None:
    grant_runtime_role(history=HISTORY)
    append_only(*HISTORY)


def downgrade() -> None:
    drop_append_only(*HISTORY)
    op.execute(f"DROP FUNCTION {HISTORY_GUARD}()")
    revoke_runtime_role()
