"""The append-only Merkle log and the disclosure records.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

APPEND_ONLY = ("log_leaves", "log_nodes", "tree_heads")


def upgrade() -> None:
    op.create_table(
        "log_leaves",
        sa.Column("leaf_index", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("leaf", sa.LargeBinary, nullable=False),
        sa.Column("appended_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "log_nodes",
        sa.Column("level", sa.SmallInteger, nullable=False),
        sa.Column("node_index", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("level", "node_index"),
    )
    op.create_table(
        "tree_heads",
        sa.Column("tree_size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("root_hash", sa.LargeBinary, nullable=False),
        sa.Column("timestamp_ms", sa.BigInteger, nullable=False),
        sa.Column("key_id", sa.Text, nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=False),
    )
    # Records have integrity (DOMAIN 4; LGA 1972 s224): the log is append-only, and the service's own
    # role can only INSERT and SELECT (CONTRACT 4). The triggers also stop an owner that re-grants
    # itself; only a superuser disabling them can edit a row, and verify-log then names the leaf.
    op.execute(
        """
        CREATE FUNCTION refuse_log_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION 'the disclosure log is append-only: % on % refused', TG_OP, TG_TABLE_NAME;
        END $$;
        """
    )
    for table in APPEND_ONLY:
        op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM CURRENT_USER")
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION refuse_log_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION refuse_log_change()"
        )

    op.create_table(
        "signing_keys",
        sa.Column("key_id", sa.Text, primary_key=True),
        sa.Column("public_key_pem", sa.Text, nullable=False),
        sa.Column("development_private_key_pem", sa.Text),
        sa.Column("first_used_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "leaf_payloads",
        sa.Column("leaf_index", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("payload", sa.LargeBinary),
        sa.Column("purged_at", sa.DateTime(timezone=True)),
        sa.Column("purge_reason", sa.Text),
    )
    op.create_table(
        "disclosures",
        sa.Column("disclosure_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("origin", sa.Text, nullable=False),
        sa.Column("share_ref", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("recipient", JSONB, nullable=False),
        sa.Column("recipient_type", sa.Text, nullable=False),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("legal_gateway", sa.Text, nullable=False),
        sa.Column("reference", sa.Text),
        sa.Column("authorised_officer", sa.Text),
        sa.Column("categories_requested", JSONB, nullable=False),
        sa.Column("categories_released", JSONB, nullable=False),
        sa.Column("fields_released", JSONB, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("restriction_exception", JSONB),
        sa.Column("policy_findings", JSONB, nullable=False),
        sa.Column("approval_roles", JSONB, nullable=False),
        sa.Column("requested_by", sa.Text, nullable=False),
        sa.Column("requested_by_role", sa.Text),
        sa.Column("borough", sa.Text),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decision", sa.Text),
        sa.Column("decided_by", sa.Text),
        sa.Column("decider_name", sa.Text),
        sa.Column("decider_role", sa.Text),
        sa.Column("decision_reason", sa.Text),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.Column("shared_at", sa.DateTime(timezone=True)),
        sa.Column("purged_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("origin", "share_ref", name="disclosures_share_ref"),
    )
    op.create_index("disclosures_report", "disclosures", ["status", "requested_at"])
    op.create_table(
        "disclosure_subjects",
        sa.Column("disclosure_id", UUID(as_uuid=True), sa.ForeignKey("disclosures.disclosure_id"), nullable=False),
        sa.Column("subject_id", UUID(as_uuid=True), nullable=False),
        sa.PrimaryKeyConstraint("disclosure_id", "subject_id"),
    )
    op.create_index("disclosure_subjects_subject", "disclosure_subjects", ["subject_id"])
    op.create_table(
        "disclosure_leaves",
        sa.Column("disclosure_id", UUID(as_uuid=True), sa.ForeignKey("disclosures.disclosure_id"), nullable=False),
        sa.Column("leaf_index", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("disclosure_id", "leaf_index"),
    )
    op.create_table(
        "sar_withholdings",
        sa.Column("withholding_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("disclosure_id", UUID(as_uuid=True), sa.ForeignKey("disclosures.disclosure_id"), nullable=False),
        sa.Column("exemption", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("decided_by", sa.Text, nullable=False),
        sa.Column("decider_name", sa.Text, nullable=False),
        sa.Column("decider_role", sa.Text, nullable=False),
        sa.Column("review_date", sa.Date, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("sar_withholdings_disclosure", "sar_withholdings", ["disclosure_id"])
    op.create_table(
        "restrictions",
        sa.Column("subject_id", UUID(as_uuid=True), nullable=False),
        sa.Column("rights_request_id", UUID(as_uuid=True), nullable=False),
        sa.Column("restricted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("subject_id", "rights_request_id"),
    )


def downgrade() -> None:
    for table in ("restrictions", "sar_withholdings", "disclosure_leaves", "disclosure_subjects", "disclosures",
                  "leaf_payloads", "signing_keys", *APPEND_ONLY):
        op.execute(f"DROP TABLE {table}")
    op.execute("DROP FUNCTION refuse_log_change()")
