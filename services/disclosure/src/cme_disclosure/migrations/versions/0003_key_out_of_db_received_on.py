"""No private key in the log's database; the date a request was received.

The development signing key used to be kept in `signing_keys`, beside the log it signs: whoever
could write the database could re-sign a rewritten log. It now lives in a file (see settings); the
private half is dropped here. Heads it signed still verify by its public key, which stays.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_column("signing_keys", "development_private_key_pem")
    # DOMAIN 4: every share records the date the request was received. Rows from before this
    # revision were received the day they were entered.
    op.add_column("disclosures", sa.Column("received_on", sa.Date))
    op.execute("UPDATE disclosures SET received_on = (requested_at AT TIME ZONE 'Europe/London')::date "
               "WHERE origin = 'request'")


def downgrade() -> None:
    op.drop_column("disclosures", "received_on")
    op.add_column("signing_keys", sa.Column("development_private_key_pem", sa.Text))
