"""Public referrals wait for an officer, and the DPO's unsealing of a third party is recorded (issue 13, SEC-05, SEC-11).

- `held_referrals`: a referral from the public form, stored and answered as any other, whose
  `ReferralAccepted` (kept here as it will be published) waits until an officer accepts it.
- `referral_acceptances`: who accepted a held referral, acting as which role, when and why (one per referral).
- `third_party_unseals`: each time the DPO opened a sealed third-party detail, who, when and why.

All three are history: INSERT and SELECT only for the runtime role, never updated or deleted.

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

from cme_shared.migrations import append_only, drop_append_only

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

HISTORY = ("held_referrals", "referral_acceptances", "third_party_unseals")


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def upgrade() -> None:
    op.create_table(
        "held_referrals",
        sa.Column("intake_id", UUID(as_uuid=True), sa.ForeignKey("referrals.intake_id"), primary_key=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("event", JSONB, nullable=False),
        _now("held_at"),
    )
    op.create_table(
        "referral_acceptances",
        sa.Column("intake_id", UUID(as_uuid=True), sa.ForeignKey("held_referrals.intake_id"), primary_key=True),
        sa.Column("accepted_by", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("borough", sa.Text, nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        _now("accepted_at"),
    )
    op.create_table(
        "third_party_unseals",
        sa.Column("unseal_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("detail_id", UUID(as_uuid=True), sa.ForeignKey("third_party_details.detail_id"), nullable=False),
        sa.Column("intake_id", UUID(as_uuid=True), nullable=False),
        sa.Column("unsealed_by", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        _now("unsealed_at"),
    )
    op.create_index("third_party_unseals_detail", "third_party_unseals", ["detail_id"])
    append_only(*HISTORY)


def downgrade() -> None:
    drop_append_only(*HISTORY)
    for table in reversed(HISTORY):
        op.drop_table(table)
