"""The kit's outbox and inbox; referrals, rejected messages, sealed third-party details; the identity index.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from cme_shared.migrations import create_kit_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TABLES = (
    "rectifications", "subject_merges", "possible_match_decisions", "possible_matches", "care_links",
    "subject_addresses", "subject_observations", "subjects", "third_party_details", "rejected_messages",
    "referrals", "inbox", "outbox",
)


def _uuid(name: str, *args: object, **kw: object) -> sa.Column:
    return sa.Column(name, UUID(as_uuid=True), *args, **kw)  # type: ignore[arg-type]


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def upgrade() -> None:
    create_kit_tables()
    op.create_table(
        "referrals",
        _uuid("intake_id", primary_key=True),
        sa.Column("idempotency_key", sa.Text, nullable=False, unique=True),
        sa.Column("referral_id", sa.Text, nullable=False),
        sa.Column("source_type", sa.Text, nullable=False),
        sa.Column("source_org_id", sa.Text),
        sa.Column("borough", sa.Text),
        _uuid("child_subject_id", nullable=False),
        sa.Column("carer_subject_ids", ARRAY(UUID(as_uuid=True)), nullable=False),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column("raw", sa.LargeBinary),
        sa.Column("warnings", JSONB, nullable=False),
        sa.Column("missing_return_fields", JSONB, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        _now("received_at"),
    )
    op.create_index("referrals_child", "referrals", ["child_subject_id"])
    op.create_index("referrals_triage", "referrals", ["received_at"], postgresql_where=sa.text("borough IS NULL"))
    op.create_table(
        "rejected_messages",
        sa.Column("message_id", sa.Text, primary_key=True),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("errors", JSONB, nullable=False),
        _now("received_at"),
    )
    op.create_table(
        "third_party_details",
        _uuid("detail_id", primary_key=True),
        _uuid("intake_id", sa.ForeignKey("referrals.intake_id"), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("third_party", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        _now("recorded_at"),
    )
    op.create_index("third_party_details_intake", "third_party_details", ["intake_id"])

    op.create_table(
        "subjects",
        _uuid("subject_id", primary_key=True),
        sa.Column("subject_type", sa.Text, nullable=False),
        _uuid("created_by_intake_id"),
        _now("created_at"),
    )
    op.create_table(
        "subject_observations",
        sa.Column("observation_id", sa.BigInteger, primary_key=True, autoincrement=True),
        _uuid("subject_id", sa.ForeignKey("subjects.subject_id"), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        _uuid("intake_id"),
        _uuid("rights_request_id"),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("first_name", sa.Text),
        sa.Column("last_name", sa.Text),
        sa.Column("middle_names", sa.Text),
        sa.Column("preferred_name", sa.Text),
        sa.Column("aliases", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("name_keys", ARRAY(sa.Text), nullable=False),
        sa.Column("date_of_birth", sa.Date),
        sa.Column("sex", sa.Text),
        sa.Column("upn", sa.Text),
        sa.Column("upn_valid", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("nhs_number", sa.Text),
        sa.Column("nhs_valid", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("relationship", sa.Text),
        sa.Column("phones", ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("email", sa.Text),
        sa.Column("decided_by", sa.Text),
        _now("recorded_at"),
    )
    op.create_index("observations_subject", "subject_observations", ["subject_id"])
    op.create_index("observations_name_keys", "subject_observations", ["name_keys"], postgresql_using="gin")
    op.create_index("observations_upn", "subject_observations", ["upn"], postgresql_where=sa.text("upn_valid"))
    op.create_index("observations_nhs", "subject_observations", ["nhs_number"],
                    postgresql_where=sa.text("nhs_valid"))
    op.create_table(
        "subject_addresses",
        sa.Column("address_id", sa.BigInteger, primary_key=True, autoincrement=True),
        _uuid("subject_id", sa.ForeignKey("subjects.subject_id"), nullable=False),
        sa.Column("line1", sa.Text, nullable=False),
        sa.Column("line2", sa.Text),
        sa.Column("town", sa.Text),
        sa.Column("postcode", sa.Text),
        sa.Column("postcode_key", sa.Text),
        sa.Column("uprn", sa.Text),
        sa.Column("valid_from", sa.Date),
        sa.Column("source", sa.Text, nullable=False),
        _uuid("intake_id"),
        _uuid("rights_request_id"),
        _now("recorded_at"),
    )
    op.create_index("addresses_subject", "subject_addresses", ["subject_id"])
    op.create_index("addresses_postcode", "subject_addresses", ["postcode_key"])
    op.create_table(
        "care_links",
        _uuid("child_subject_id", sa.ForeignKey("subjects.subject_id"), nullable=False),
        _uuid("carer_subject_id", sa.ForeignKey("subjects.subject_id"), nullable=False),
        sa.Column("relationship", sa.Text, nullable=False),
        _uuid("intake_id", nullable=False),
        _now("recorded_at"),
    )
    op.create_index("care_links_child", "care_links", ["child_subject_id"])
    op.create_index("care_links_carer", "care_links", ["carer_subject_id"])
    op.create_table(
        "possible_matches",
        _uuid("match_id", primary_key=True),
        sa.Column("subject_type", sa.Text, nullable=False),
        _uuid("subject_id", sa.ForeignKey("subjects.subject_id"), nullable=False),
        _uuid("candidate_subject_id", sa.ForeignKey("subjects.subject_id"), nullable=False),
        sa.Column("matched_on", JSONB, nullable=False),
        sa.Column("conflicts", JSONB, nullable=False),
        _uuid("intake_id"),
        sa.Column("borough", sa.Text),
        _now("created_at"),
    )
    op.create_index("possible_matches_created", "possible_matches", ["created_at"])
    op.create_table(
        "possible_match_decisions",
        _uuid("match_id", sa.ForeignKey("possible_matches.match_id"), primary_key=True),
        sa.Column("decision", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("decided_by", sa.Text, nullable=False),
        _now("decided_at"),
    )
    op.create_table(
        "subject_merges",
        _uuid("subject_id", sa.ForeignKey("subjects.subject_id"), primary_key=True),
        _uuid("merged_into", sa.ForeignKey("subjects.subject_id"), nullable=False),
        _uuid("match_id", sa.ForeignKey("possible_matches.match_id")),
        sa.Column("decided_by", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        _now("decided_at"),
    )
    op.create_index("subject_merges_into", "subject_merges", ["merged_into"])
    op.create_table(
        "rectifications",
        _uuid("rectification_id", primary_key=True),
        _uuid("rights_request_id", nullable=False),
        _uuid("subject_id", nullable=False),
        sa.Column("field", sa.Text, nullable=False),
        sa.Column("decided_by", sa.Text, nullable=False),
        sa.Column("records_changed", sa.BigInteger, nullable=False),
        _now("applied_at"),
    )


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
