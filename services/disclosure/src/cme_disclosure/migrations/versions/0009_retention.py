"""Retention and disposal (issue 14, item 1): tombstones, legal holds, disposal notices, the disposal role.

- The kit's `disposal_tombstones` (append-only) and `legal_holds`.
- `disposal_notices` (append-only): every `RecordsDisposed` read from cme.retention.disposals.v1, once per
  event id, with the log leaf it became and the record as received and signed (the disposal job verifies
  it again with the pinned keys before acting on it: the runtime login could add a row); the subjects of a case's notice are what the disposal job reads
  to find the disclosures that fall due with the case (domain/retention.py). verify-log binds each row
  to its leaf.
- `leaf_payloads` becomes a history table: the running service may only add payloads; emptying one is
  disposal, done by the disposal job's login `cme_disclosure_disposal` alone (`open_to_disposal`).
- The words a disposal removes from the mutable rows may be NULL: the requester's and the decider's
  ids on `disclosures`, the withholding's reason and decider on `sar_withholdings`.
- The disposal role: what the one purge path needs (read the records and the log, append to the log,
  empty payloads, blank the rows' words, unlink subjects, remove the published copies of replies that
  quoted the record, write tombstones and its own `RecordsDisposed` to the outbox; read the Art 18 restrictions, which keep
  records) and nothing more.

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from cme_shared.migrations import _runtime_role  # the role 0006 granted to
from cme_shared.migrations import (append_only, close_to_disposal, create_retention_tables, drop_append_only,
                                   drop_retention_tables, grant_disposal_role, open_to_disposal,
                                   revoke_disposal_role)

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

LOG = ("log_leaves", "log_nodes", "tree_heads", "checkpoints", "signing_keys")


def upgrade() -> None:
    create_retention_tables()
    op.create_table(
        "disposal_notices",
        sa.Column("event_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("service", sa.Text, nullable=False),
        sa.Column("record_type", sa.Text, nullable=False),
        sa.Column("schedule_id", sa.Text, nullable=False),
        sa.Column("rule_id", sa.Text, nullable=False),
        sa.Column("run_id", UUID(as_uuid=True), nullable=False),
        sa.Column("record_ids", ARRAY(sa.Text), nullable=False),
        sa.Column("subject_ids", ARRAY(UUID(as_uuid=True)), nullable=False),
        sa.Column("case_ids", ARRAY(UUID(as_uuid=True)), nullable=False),
        # The record as it was received and signed (C1): the disposal job acts only on what verifies again
        # with the pinned keys, never on the columns above (the runtime login can add a row).
        sa.Column("record_key", sa.LargeBinary, nullable=True),
        sa.Column("signed_event_id", sa.Text, nullable=False),
        sa.Column("signer", sa.Text, nullable=False),
        sa.Column("signature", sa.Text, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("clock_started_on", sa.Date, nullable=True),
        sa.Column("disposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("leaf_index", sa.BigInteger, nullable=False, unique=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("disposal_notices_subjects", "disposal_notices", ["subject_ids"], postgresql_using="gin")
    append_only("disposal_notices")
    append_only("leaf_payloads")
    open_to_disposal("leaf_payloads")
    for column in ("requested_by",):
        op.alter_column("disclosures", column, nullable=True)
    for column in ("reason", "decided_by", "decider_name"):
        op.alter_column("sar_withholdings", column, nullable=True)
    grant_disposal_role(
        select=(*LOG, "leaf_payloads", "disclosures", "disclosure_subjects", "disclosure_leaves",
                "sar_withholdings", "disposal_notices", "legal_holds", "disposal_tombstones", "outbox",
                "restrictions"),
        insert=(*LOG, "leaf_payloads", "disclosure_leaves", "disposal_tombstones", "outbox"),
        update=("leaf_payloads", "disclosures", "sar_withholdings"),
        delete=("disclosure_subjects", "outbox"),
    )


def downgrade() -> None:
    revoke_disposal_role()
    for column in ("reason", "decided_by", "decider_name"):
        op.execute(f"UPDATE sar_withholdings SET {column} = '' WHERE {column} IS NULL")
        op.alter_column("sar_withholdings", column, nullable=False)
    op.execute("UPDATE disclosures SET requested_by = '' WHERE requested_by IS NULL")
    op.alter_column("disclosures", "requested_by", nullable=False)
    close_to_disposal("leaf_payloads")
    drop_append_only("leaf_payloads")
    # The runtime role gets back what 0006 gave it on an ordinary table.
    op.execute(f'GRANT UPDATE, DELETE ON leaf_payloads TO "{_runtime_role()}"')
    drop_append_only("disposal_notices")
    op.drop_table("disposal_notices")
    drop_retention_tables()
