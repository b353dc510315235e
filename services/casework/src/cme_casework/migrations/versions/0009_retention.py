"""Retention and disposal (issue 14, item 1): legal holds, tombstones, the disposal role.

- The kit's `disposal_tombstones` (append-only: what was disposed of, when, under which rule) and
  `legal_holds` (placed and lifted with who, when and why; a lifted hold stays as a row).
- `case_history`, `ehe_history` and `cnis_register_entries` (migration 0008) opened to disposal: their row
  triggers now let the disposal role, and it alone, delete a row; every other role, the owner included, is
  refused as before, and TRUNCATE stays refused to all. `restriction_events` and `access_log` stay closed:
  they hold ids and codes only (who was restricted under which rights request, who looked at a record),
  and say what happened to the record, not what it held.
- The disposal role `cme_casework_disposal` (the login of `python -m cme_casework dispose` only, never the
  running service): SELECT what the rules read (cases, case_history, restriction_events for restrictions in
  force, legal_holds, disposal_tombstones, the EHE tables); DELETE a disposed case's row, its history and
  the outbox rows about it, and a disposed EHE record's row, history and register versions; INSERT one
  tombstone and its `RecordsDisposed` into the outbox (the running service's relay sends it). No UPDATE
  anywhere: nothing is disposed of by rewriting.
- `case_history.recorded_at` and `ehe_history.recorded_at` are the database's clock, whatever an INSERT
  says (a BEFORE INSERT trigger sets them to now()): the job decides what is due from the history alone
  (C1), and a record without a case is clocked from the day its entries were written, so the running
  service's login, which may add entries, cannot backdate one to make a record fall due.

Revision ID: 0009
Revises: 0008
"""
from alembic import op

from cme_shared.migrations import (
    DISPOSAL_GUARD,
    close_to_disposal,
    create_retention_tables,
    drop_retention_tables,
    grant_disposal_role,
    open_to_disposal,
    revoke_disposal_role,
)

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

DISPOSED_HISTORY = ("case_history", "ehe_history", "cnis_register_entries")
STAMPED = ("case_history", "ehe_history")  # recorded_at is the database's, never the writer's
STAMP = "stamp_recorded_at"


def upgrade() -> None:
    create_retention_tables()
    open_to_disposal(*DISPOSED_HISTORY)
    op.execute(f"""
        CREATE FUNCTION {STAMP}() RETURNS trigger LANGUAGE plpgsql AS $f$
        BEGIN
          NEW.recorded_at := now();
          RETURN NEW;
        END $f$
    """)
    for table in STAMPED:
        op.execute(f"CREATE TRIGGER {table}_recorded_at BEFORE INSERT ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION {STAMP}()")
    grant_disposal_role(
        select=("cases", "case_history", "restriction_events", "legal_holds", "disposal_tombstones", "outbox",
                "ehe_records", "ehe_history", "cnis_register_entries"),
        delete=("cases", "case_history", "outbox", "ehe_records", "ehe_history", "cnis_register_entries"),
        insert=("disposal_tombstones", "outbox"),
    )


def downgrade() -> None:
    for table in STAMPED:
        op.execute(f"DROP TRIGGER {table}_recorded_at ON {table}")
    op.execute(f"DROP FUNCTION {STAMP}()")
    revoke_disposal_role()
    close_to_disposal(*DISPOSED_HISTORY)
    op.execute(f"DROP FUNCTION IF EXISTS {DISPOSAL_GUARD}()")
    drop_retention_tables()
