"""Rights's own tables, plus the kit's outbox and inbox.

rights_requests  one row per request: who asked, for whom, on what authority; status; the cached due date;
                 its borough (domain/access.py); an officer's decision awaiting the DPO; the printed pack
clock_events     the statutory clock's history (append-only): the due date is rebuilt from it
audit_log        every status change and decision, who and when (append-only)
decisions        each recorded decision, with its reasons and decider (append-only)
asks             one lookup or data collection sent to the other services (the wire's collection_id)
ask_targets      per asked service: tries, last asked, answered or not
ask_chunks       the chunks a service answered with (a large record spans many); pruned a while after the
                 response is released (`prune_chunks`, SEC-18)
rectifications_applied  what each service reports it changed after a FactualRectification
disposal_tombstones  the kit's: what was disposed of, when, under which rule (append-only; migration 0008)
legal_holds     the kit's: what a legal hold keeps past its retention (placed and lifted, who, when, why)

The append-only tables refuse UPDATE and DELETE by trigger (migration 0001): records "as they
happened" (LGA 1972 s224) hold even against the service's own database role.
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from cme_shared import retention as kit_retention
from cme_shared.messaging.tables import KitTables

metadata = MetaData()
kit = KitTables(metadata)


def _now() -> Column[object]:
    return Column("at", DateTime(timezone=True), nullable=False, server_default=func.now())


rights_requests = Table(
    "rights_requests",
    metadata,
    Column("request_id", UUID(as_uuid=True), primary_key=True),
    Column("request_type", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("received_on", Date, nullable=False),
    Column("channel", Text, nullable=False),
    Column("requester", JSONB, nullable=False),  # personal data: never logged
    Column("subject", JSONB, nullable=False),
    Column("acting_as", Text, nullable=False),
    Column("authority", JSONB, nullable=False),
    Column("identity_verified", Boolean, nullable=False),
    Column("details", Text, nullable=True),
    Column("due_date", Date, nullable=True),  # None while the clock is stopped or paused
    Column("on_hold", Text, nullable=True),
    Column("subject_ids", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("requester_subject_ids", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("possible_matches", Integer, nullable=False, server_default=text("0")),
    Column("response", JSONB, nullable=True),  # prepared for review; released on approval
    Column("approved_by", Text, nullable=True),
    Column("approved_at", DateTime(timezone=True), nullable=True),
    Column("acknowledged_on", Date, nullable=True),  # complaints
    Column("created_by", Text, nullable=False),
    # The borough of the subject's records, or the recording officer's while none is known; None: no
    # borough (a DPO's request), seen by the cross-borough roles only.
    Column("borough", Text, nullable=True),
    # An officer's rectification, restriction or lift, recorded but without effect until a DPO approves it:
    # {kind, decision, proposed_by, proposed_at}.
    Column("pending_proposal", JSONB, nullable=True),
    Column("response_pdf", LargeBinary, nullable=True),  # the released response, printed once (SEC-25)
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("rights_requests_open_by_due", "due_date", postgresql_where=text("status <> 'responded'")),
    Index("rights_requests_borough", "borough"),
)

clock_events = Table(
    "clock_events",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("request_id", UUID(as_uuid=True), ForeignKey("rights_requests.request_id"), nullable=False),
    Column("event", Text, nullable=False),
    Column("on", Date, nullable=False),
    Column("reason", Text, nullable=True),
    Column("due_date_after", Date, nullable=True),
    Column("on_hold_after", Text, nullable=True),
    Column("recorded_by", Text, nullable=False),
    _now(),
    Index("clock_events_request", "request_id", "id"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("request_id", UUID(as_uuid=True), ForeignKey("rights_requests.request_id"), nullable=False),
    Column("action", Text, nullable=False),
    Column("from_status", Text, nullable=True),
    Column("to_status", Text, nullable=True),
    Column("actor", Text, nullable=False),
    Column("detail", JSONB, nullable=False, server_default=text("'{}'::jsonb")),  # ids and codes only
    _now(),
    Index("audit_log_request", "request_id", "id"),
)

decisions = Table(
    "decisions",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("request_id", UUID(as_uuid=True), ForeignKey("rights_requests.request_id"), nullable=False),
    Column("kind", Text, nullable=False),
    Column("decision", JSONB, nullable=False),
    Column("decided_by", Text, nullable=False),
    Column("decided_role", Text, nullable=False),
    _now(),
    Index("decisions_request", "request_id", "id"),
)

asks = Table(
    "asks",
    metadata,
    Column("ask_id", UUID(as_uuid=True), primary_key=True),  # the collection_id on the wire
    Column("request_id", UUID(as_uuid=True), ForeignKey("rights_requests.request_id"), nullable=False),
    Column("purpose", Text, nullable=False),
    Column("state", Text, nullable=False),  # open | complete | incomplete
    Column("message", JSONB, nullable=False),  # what to send again on a re-ask
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("closed_at", DateTime(timezone=True), nullable=True),
    Index("asks_request", "request_id"),
    Index("asks_open", "ask_id", postgresql_where=text("state = 'open'")),
)

ask_targets = Table(
    "ask_targets",
    metadata,
    Column("ask_id", UUID(as_uuid=True), ForeignKey("asks.ask_id"), nullable=False),
    Column("service", Text, nullable=False),
    Column("state", Text, nullable=False),  # waiting | answered | no_answer
    Column("attempts", Integer, nullable=False),
    Column("last_asked_at", DateTime(timezone=True), nullable=False),
    Column("result", JSONB, nullable=True),  # a lookup's matches
    Column("last_error", Text, nullable=True),  # a code from the service, never personal data
    PrimaryKeyConstraint("ask_id", "service"),
)

ask_chunks = Table(
    "ask_chunks",
    metadata,
    Column("ask_id", UUID(as_uuid=True), ForeignKey("asks.ask_id"), nullable=False),
    Column("service", Text, nullable=False),
    Column("chunk", Integer, nullable=False),
    Column("last", Boolean, nullable=False),
    Column("total_items", Integer, nullable=True),
    Column("item_count", Integer, nullable=False),
    Column("items", JSONB, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("ask_id", "service", "chunk"),
)

rectifications_applied = Table(
    "rectifications_applied",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("request_id", UUID(as_uuid=True), nullable=False),
    Column("service", Text, nullable=False),
    Column("subject_id", UUID(as_uuid=True), nullable=False),
    Column("records_changed", Integer, nullable=False),
    Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
    _now(),
)

# The kit's retention tables (cme_shared.retention, made by migrations.create_retention_tables in 0008), with
# the indexes the migration gives them, so that this metadata says exactly what the database holds.
disposal_tombstones = kit_retention.tombstones.to_metadata(metadata)
legal_holds = kit_retention.legal_holds.to_metadata(metadata)
Index("disposal_tombstones_subjects", disposal_tombstones.c.subject_ids, postgresql_using="gin")
Index("disposal_tombstones_digests", disposal_tombstones.c.subject_digests, postgresql_using="gin")
Index("legal_holds_in_force", legal_holds.c.scope, legal_holds.c.target_id, postgresql_where=text("lifted_at IS NULL"))
