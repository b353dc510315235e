"""C2SP checkpoints of the log and the witness's cosignatures of them (issue 12, SEC-09).

Both are append-only like the log itself: a checkpoint is signed in the append's transaction, a
cosignature stored once the outside witness has checked the checkpoint extends the last it saw.

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

APPEND_ONLY = ("checkpoints", "witness_cosignatures")


def upgrade() -> None:
    op.create_table(
        "checkpoints",
        sa.Column("tree_size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("note", sa.Text, nullable=False),  # the signed note, with the log's signature only
    )
    op.create_table(
        "witness_cosignatures",
        sa.Column("tree_size", sa.BigInteger, nullable=False),
        sa.Column("witness_key", sa.Text, nullable=False),  # the witness's verifier key string
        sa.Column("signature_line", sa.Text, nullable=False),
        sa.Column("cosigned_at", sa.BigInteger, nullable=False),  # the cosignature's own time (Unix seconds)
        sa.PrimaryKeyConstraint("tree_size", "witness_key"),
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


def downgrade() -> None:
    for table in reversed(APPEND_ONLY):
        op.execute(f"DROP TABLE {table}")
