"""Retention and disposal (issue 14, item 1): tombstones, legal holds, disposals due, the disposal role.

- The kit's `disposal_tombstones` (append-only: what was disposed of, when, under which rule, with keyed
  digests of the identifiers a later subject access request is matched on) and `legal_holds`.
- `pending_disposals` (an ordinary table): the referrals another service's `RecordsDisposed` said are due
  (casework's disposed case, its referrals in `related_record_ids`), one row per (event, referral), until
  intake's disposal job carries them out. The running service records them; it never deletes history. Each
  row keeps the signed record exactly as received (payload bytes, key, event_id header, signer and signature):
  the runtime login can INSERT here, so the job trusts a row only after verifying that signature again with
  the pinned keys (C1 of the retention review).
- `restriction_events` (append-only): UK GDPR Art 18 restrictions and their lifting, as rights sent them; a
  subject restricted is kept from disposal as a legal hold keeps it.
- A GIN index on `referrals.carer_subject_ids` (finding who no referral names any more).
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
    append_only,
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
        # The signed record as received (C1): the job verifies it again before disposing of anything.
        sa.Column("signed_payload", sa.LargeBinary, nullable=False),
        sa.Column("signed_key", sa.LargeBinary, nullable=True),
        sa.Column("signed_event_id", sa.LargeBinary, nullable=True),
        sa.Column("signer", sa.Text, nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("event_id", "intake_id"),
    )
    op.create_table(
        "restriction_events",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("event_id", UUID(as_uuid=True), nullable=False),
        sa.Column("rights_request_id", UUID(as_uuid=True), nullable=False),
        sa.Column("subject_id", UUID(as_uuid=True), nullable=False),
        sa.Column("change", sa.Text, nullable=False),  # restricted | lifted (only "restricted" keeps a subject)
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("event_id", "subject_id", name="restriction_events_once"),
    )
    op.create_index("restriction_events_subject", "restriction_events", ["subject_id", "id"])
    append_only("restriction_events")
    op.create_index("referrals_carers", "referrals", ["carer_subject_ids"], postgresql_using="gin")
    op.create_index("pending_disposals_waiting", "pending_disposals", ["intake_id"],
                    postgresql_where=sa.text("done_at IS NULL"))
    grant_disposal_role(
        select=(*DISPOSED_HISTORY, "outbox", "pending_disposals", "disposal_tombstones", "legal_holds",
                "restriction_events"),
        delete=(*DISPOSED_HISTORY, "outbox"),
        update=("subject_merges", "subject_unmerges", "pending_disposals"),
        insert=("disposal_tombstones", "outbox"),
    )
    open_to_disposal(*DISPOSED_HISTORY)


def downgrade() -> None:
    close_to_disposal(*DISPOSED_HISTORY)
    revoke_disposal_role()
    op.drop_index("referrals_carers", table_name="referrals")
    op.drop_table("restriction_events")
    op.drop_index("pending_disposals_waiting", table_name="pending_disposals")
    op.drop_table("pending_disposals")
    drop_retention_tables()
