"""Retention and disposal (issue 14, item 1): tombstones, legal holds, disposals due, the disposal role.

- The kit's `disposal_tombstones` (append-only: what was disposed of, when, under which rule, with keyed
  digests of the identifiers a later subject access request is matched on) and `legal_holds`.
- `pending_disposals` (an ordinary table): the referrals another service's `RecordsDisposed` said are due
  (casework's disposed case, its referrals in `related_record_ids`), one row per (event, referral), until
  intake's disposal job carries them out. The running service records them; it never deletes history.
- The disposal role `cme_intake_disposal` (the job's login, `python -m cme_intake dispose`): it may read
  what it must find, DELETE the rows of a disposed referral, dead letter or identity from the history
  tables (opened to it, and it alone, by `open_to_disposal`), clear the match a merge pointer names,
  mark pending disposals done, and INSERT tombstones and its `RecordsDisposed` into the outbox. The runtime
  role keeps INSERT and SELECT on history, as before.

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from cme_shared.migrations import (
    close_to_disposal,
    create_retention_tables,
    drop_retention_tables,
    grant_disposal_role,
    open_to_disposal,
    revoke_disposal_role,
)

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# History tables the disposal job removes rows from (a referral, a dead letter, an identity).
DISPOSED_HISTORY = (
    "referrals", "rejected_messages", "third_party_details", "third_party_unseals", "held_referrals",
    "referral_acceptances", "subjects", "subject_observations", "subject_addresses", "care_links",
    "possible_matches", "possible_match_decisions", "merge_proposals", "merge_proposal_decisions",
    "subject_merges", "subject_unmerges", "rectifications",
)


def upgrade() -> None:
    create_retention_tables()
    op.create_table(
        "pending_disposals",
        sa.Column("event_id", UUID(as_uuid=True), nullable=False),
        sa.Column("intake_id", UUID(as_uuid=True), nullable=False),
        sa.Column("from_service", sa.Text, nullable=False),
        sa.Column("from_record_type", sa.Text, nullable=False),
        sa.Column("from_record_ids", ARRAY(sa.Text), nullable=False),
        sa.Column("case_ids", ARRAY(UUID(as_uuid=True)), nullable=False),
        sa.Column("subject_ids", ARRAY(UUID(as_uuid=True)), nullable=False),
        sa.Column("schedule_id", sa.Text, nullable=False),
        sa.Column("rule_id", sa.Text, nullable=False),
        sa.Column("clock_started_on", sa.Date, nullable=True),
        sa.Column("disposed_upstream_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("run_id", UUID(as_uuid=True), nullable=True),  # the intake run that carried it out
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("event_id", "intake_id"),
    )
    op.create_index("pending_disposals_waiting", "pending_disposals", ["intake_id"],
                    postgresql_where=sa.text("done_at IS NULL"))
    grant_disposal_role(
        select=(*DISPOSED_HISTORY, "outbox", "pending_disposals", "disposal_tombstones", "legal_holds"),
        delete=(*DISPOSED_HISTORY, "outbox"),
        update=("subject_merges", "subject_unmerges", "pending_disposals"),
        insert=("disposal_tombstones", "outbox"),
    )
    open_to_disposal(*DISPOSED_HISTORY)


def downgrade() -> None:
    close_to_disposal(*DISPOSED_HISTORY)
    revoke_disposal_role()
    op.drop_index("pending_disposals_waiting", table_name="pending_disposals")
    op.drop_table("pending_disposals")
    drop_retention_tables()
