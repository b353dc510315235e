"""Retention and disposal (issue 14, item 1): legal holds, tombstones, the disposal role.

The kit's two tables (`disposal_tombstones`, append-only; `legal_holds`) and the disposal login
`cme_rights_disposal`, used by `python -m cme_rights dispose` only, never by the running service. It may read
what it needs to find the requests due and the holds that keep them, delete a request's content from every
table it touches (adapters/retention.py), write its tombstone and its RecordsDisposed event to the outbox. The
history tables (clock_events, audit_log, decisions, rectifications_applied) are opened to it alone: their
trigger refuses every other role's UPDATE and DELETE as before, the owner's included, and TRUNCATE to all.
The access log is not opened: its rows (ids and roles) stay after a disposal. It may lock a request's row
(an UPDATE privilege on `updated_at` alone, which FOR UPDATE needs).

The history tables' time (`at`) is the database's, whoever writes the line: a BEFORE INSERT trigger sets it
to the transaction's time, so the running service's login cannot backdate a release or an activity line and
make a request fall due early (the disposal job decides from these lines, never from `rights_requests`,
which that login may rewrite).

Revision ID: 0008
Revises: 0007
"""
from alembic import op

from cme_shared.migrations import (close_to_disposal, create_retention_tables, disposal_role, drop_retention_tables,
                                   grant_disposal_role, open_to_disposal, revoke_disposal_role)

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

HISTORY = ("clock_events", "audit_log", "decisions", "rectifications_applied")
TIMED = ("clock_events", "audit_log", "decisions")
HISTORY_TIME = "rights_history_time_is_now"
CONTENT = ("rights_requests", "asks", "ask_targets", "ask_chunks", *HISTORY, "outbox")


def upgrade() -> None:
    create_retention_tables()
    grant_disposal_role(select=(*CONTENT, "legal_holds", "disposal_tombstones"), delete=CONTENT,
                        insert=("disposal_tombstones", "outbox"))
    open_to_disposal(*HISTORY)
    # The job locks a request's row before it disposes of it (SELECT ... FOR UPDATE, which PostgreSQL allows
    # only with an UPDATE privilege): on `updated_at` alone, so the lock is all it can do with it.
    op.execute(f'GRANT UPDATE (updated_at) ON rights_requests TO "{disposal_role()}"')
    # Deleting a request's row runs PostgreSQL's foreign-key check on the tables that refer to it as their owner,
    # with a FOR KEY SHARE lock that needs an UPDATE privilege, which 0003 revoked from the owner on the history
    # tables. It gets UPDATE back on the referring column only; their triggers still refuse every UPDATE of
    # the owner's (and anyone's but the disposal job's), so history is as closed as before.
    for table in ("clock_events", "audit_log", "decisions"):
        op.execute(f"GRANT UPDATE (request_id) ON {table} TO CURRENT_USER")
    op.execute(f"""
        CREATE FUNCTION {HISTORY_TIME}() RETURNS trigger LANGUAGE plpgsql AS $f$
        BEGIN
          NEW.at := now();
          RETURN NEW;
        END $f$
    """)
    for table in TIMED:
        op.execute(f"CREATE TRIGGER {table}_at_is_now BEFORE INSERT ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION {HISTORY_TIME}()")


def downgrade() -> None:
    for table in TIMED:
        op.execute(f"DROP TRIGGER {table}_at_is_now ON {table}")
    op.execute(f"DROP FUNCTION {HISTORY_TIME}()")
    for table in ("clock_events", "audit_log", "decisions"):
        op.execute(f"REVOKE UPDATE (request_id) ON {table} FROM CURRENT_USER")
    close_to_disposal(*HISTORY)
    revoke_disposal_role()
    drop_retention_tables()
