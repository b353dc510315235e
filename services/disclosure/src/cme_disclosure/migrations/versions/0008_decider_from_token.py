"""The decider as the token names them (SEC-23), and a per-person request rate (SEC-29).

`decider_name` and `decider_role` are the token's from now on; the job title a decider types is kept
beside them (`decider_title`) on decisions and withholdings. `sign_off` keeps a police request's
sign-off rank as the decider confirmed it. An index on (requested_by, requested_at) serves the count of
a person's requests in the last hour. Rows written before keep the words they were typed with.

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("disclosures", sa.Column("decider_title", sa.Text, nullable=True))
    op.add_column("disclosures", sa.Column("sign_off", JSONB, nullable=True))
    op.add_column("sar_withholdings", sa.Column("decider_title", sa.Text, nullable=True))
    op.create_index("disclosures_requester", "disclosures", ["requested_by", "requested_at"])


def downgrade() -> None:
    op.drop_index("disclosures_requester", table_name="disclosures")
    op.drop_column("sar_withholdings", "decider_title")
    op.drop_column("disclosures", "sign_off")
    op.drop_column("disclosures", "decider_title")
