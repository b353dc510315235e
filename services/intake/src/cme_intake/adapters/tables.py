"""Intake's tables. Nothing here is updated in place or deleted: a referral is kept as received, the
identity index grows by observations, addresses, merge pointers and recorded decisions (DOMAIN 3:
records show transactions as they happened; a correction is a new version). The one exception is
disposal past retention, by the disposal job's own login (service_layer/retention.py)."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from cme_shared import retention as kit_retention
from cme_shared.messaging.tables import KitTables

metadata = MetaData()
kit = KitTables(metadata)

referrals = Table(
    "referrals",
    metadata,
    Column("intake_id", UUID(as_uuid=True), primary_key=True),
    # (source.org_id, referral_id), or a digest of the payload when there is no org_id.
    Column("idempotency_key", Text, nullable=False, unique=True),
    Column("referral_id", Text, nullable=False),
    Column("source_type", Text, nullable=False),
    Column("source_org_id", Text, nullable=True),
    Column("borough", Text, nullable=True),  # null: on the triage list
    Column("child_subject_id", UUID(as_uuid=True), nullable=False),
    Column("carer_subject_ids", ARRAY(UUID(as_uuid=True)), nullable=False),  # in the order of `carers`
    # The parsed referral; a public or parent referrer's contact is not in it (third_party_details).
    Column("payload", JSONB, nullable=False),
    # The bytes as received; null when they hold a private referrer's details (sealed instead).
    Column("raw", LargeBinary, nullable=True),
    Column("warnings", JSONB, nullable=False),
    Column("missing_return_fields", JSONB, nullable=False),  # SI 2024/208 reg 13 gaps
    Column("channel", Text, nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("referrals_child", "child_subject_id"),
    Index("referrals_carers", "carer_subject_ids", postgresql_using="gin"),  # who no referral names (0007)
    Index("referrals_triage", "received_at", postgresql_where=text("borough IS NULL")),
)

# Messages that could not be understood: their bytes are in the DLQ topic; here, why and where from.
rejected_messages = Table(
    "rejected_messages",
    metadata,
    Column("message_id", Text, primary_key=True),
    Column("channel", Text, nullable=False),
    Column("errors", JSONB, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Data about someone other than the subject, kept apart and sealed (Fernet): a public referrer's
# contact details (DPA 2018 Sch 2 Part 3 para 16). Never on an event to another service.
third_party_details = Table(
    "third_party_details",
    metadata,
    Column("detail_id", UUID(as_uuid=True), primary_key=True),
    Column("intake_id", UUID(as_uuid=True), ForeignKey("referrals.intake_id"), nullable=False),
    Column("reason", Text, nullable=False),  # ThirdPartyReason: public_referrer, other_carer
    Column("third_party", Boolean, nullable=False, server_default=text("true")),
    Column("sealed", LargeBinary, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("third_party_details_intake", "intake_id"),
)

# A referral from the public form waits here for an officer (SEC-11): stored and answered like any other,
# but its `ReferralAccepted` (kept as it will be published) leaves only when an officer accepts it.
held_referrals = Table(
    "held_referrals",
    metadata,
    Column("intake_id", UUID(as_uuid=True), ForeignKey("referrals.intake_id"), primary_key=True),
    Column("reason", Text, nullable=False),  # public_form
    Column("event", JSONB, nullable=False),
    Column("held_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Who accepted a held referral (one acceptance per referral: the primary key), as which role, when, why.
referral_acceptances = Table(
    "referral_acceptances",
    metadata,
    Column("intake_id", UUID(as_uuid=True), ForeignKey("held_referrals.intake_id"), primary_key=True),
    Column("accepted_by", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("borough", Text, nullable=True),
    Column("reason", Text, nullable=True),
    Column("accepted_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Each time the DPO opened a sealed third-party detail: who, as which role, when and why.
third_party_unseals = Table(
    "third_party_unseals",
    metadata,
    Column("unseal_id", UUID(as_uuid=True), primary_key=True),
    Column("detail_id", UUID(as_uuid=True), ForeignKey("third_party_details.detail_id"), nullable=False),
    Column("intake_id", UUID(as_uuid=True), nullable=False),
    Column("unsealed_by", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("unsealed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("third_party_unseals_detail", "detail_id"),
)

# ---- the identity index

subjects = Table(
    "subjects",
    metadata,
    Column("subject_id", UUID(as_uuid=True), primary_key=True),
    Column("subject_type", Text, nullable=False),  # child | carer
    Column("created_by_intake_id", UUID(as_uuid=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# What a source said about a subject, once per referral; a rectification adds a version (kind
# `rectification`). The subject's current details are its latest observation.
subject_observations = Table(
    "subject_observations",
    metadata,
    Column("observation_id", BigInteger, primary_key=True, autoincrement=True),
    Column("subject_id", UUID(as_uuid=True), ForeignKey("subjects.subject_id"), nullable=False),
    Column("kind", Text, nullable=False),  # referral | rectification
    Column("intake_id", UUID(as_uuid=True), nullable=True),
    Column("rights_request_id", UUID(as_uuid=True), nullable=True),
    Column("source", Text, nullable=False),
    Column("first_name", Text, nullable=True),
    Column("last_name", Text, nullable=True),
    Column("middle_names", Text, nullable=True),
    Column("preferred_name", Text, nullable=True),
    Column("aliases", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("name_keys", ARRAY(Text), nullable=False),
    Column("date_of_birth", Date, nullable=True),
    Column("sex", Text, nullable=True),
    Column("upn", Text, nullable=True),
    Column("upn_valid", Boolean, nullable=False, server_default=text("false")),
    Column("nhs_number", Text, nullable=True),
    Column("nhs_valid", Boolean, nullable=False, server_default=text("false")),
    Column("relationship", Text, nullable=True),
    Column("phones", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("email", Text, nullable=True),
    Column("decided_by", Text, nullable=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("observations_subject", "subject_id"),
    Index("observations_name_keys", "name_keys", postgresql_using="gin"),
    Index("observations_upn", "upn", postgresql_where=text("upn_valid")),
    Index("observations_nhs", "nhs_number", postgresql_where=text("nhs_valid")),
)

# Address history: every report of an address, from when and from whom; never overwritten.
subject_addresses = Table(
    "subject_addresses",
    metadata,
    Column("address_id", BigInteger, primary_key=True, autoincrement=True),
    Column("subject_id", UUID(as_uuid=True), ForeignKey("subjects.subject_id"), nullable=False),
    Column("line1", Text, nullable=False),
    Column("line2", Text, nullable=True),
    Column("town", Text, nullable=True),
    Column("postcode", Text, nullable=True),
    Column("postcode_key", Text, nullable=True),
    Column("uprn", Text, nullable=True),
    Column("valid_from", Date, nullable=True),  # null: as reported on recorded_at
    Column("source", Text, nullable=False),
    Column("intake_id", UUID(as_uuid=True), nullable=True),
    Column("rights_request_id", UUID(as_uuid=True), nullable=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("addresses_subject", "subject_id"),
    Index("addresses_postcode", "postcode_key"),
)

care_links = Table(
    "care_links",
    metadata,
    Column("child_subject_id", UUID(as_uuid=True), ForeignKey("subjects.subject_id"), nullable=False),
    Column("carer_subject_id", UUID(as_uuid=True), ForeignKey("subjects.subject_id"), nullable=False),
    Column("relationship", Text, nullable=False),
    Column("intake_id", UUID(as_uuid=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("care_links_child", "child_subject_id"),
    Index("care_links_carer", "carer_subject_id"),
)

possible_matches = Table(
    "possible_matches",
    metadata,
    Column("match_id", UUID(as_uuid=True), primary_key=True),
    Column("subject_type", Text, nullable=False),
    Column("subject_id", UUID(as_uuid=True), ForeignKey("subjects.subject_id"), nullable=False),
    Column("candidate_subject_id", UUID(as_uuid=True), ForeignKey("subjects.subject_id"), nullable=False),
    Column("matched_on", JSONB, nullable=False),
    Column("conflicts", JSONB, nullable=False),
    Column("intake_id", UUID(as_uuid=True), nullable=True),
    Column("borough", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("possible_matches_created", "created_at"),
)

# An officer's decision on a possible match: who, when, why. One per match (the primary key).
possible_match_decisions = Table(
    "possible_match_decisions",
    metadata,
    Column("match_id", UUID(as_uuid=True), ForeignKey("possible_matches.match_id"), primary_key=True),
    Column("decision", Text, nullable=False),  # merge | keep_apart
    Column("reason", Text, nullable=False),
    Column("decided_by", Text, nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# A merge points one subject at another; nothing is deleted. A pointer holds until a manager undoes it
# (`subject_unmerges`); a subject has at most one pointer in force, and may be merged again after an unmerge.
subject_merges = Table(
    "subject_merges",
    metadata,
    Column("merge_id", BigInteger, Identity(), primary_key=True),
    Column("subject_id", UUID(as_uuid=True), ForeignKey("subjects.subject_id"), nullable=False),
    Column("merged_into", UUID(as_uuid=True), ForeignKey("subjects.subject_id"), nullable=False),
    Column("match_id", UUID(as_uuid=True), ForeignKey("possible_matches.match_id"), nullable=True),
    Column("decided_by", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("subject_merges_subject", "subject_id"),
    Index("subject_merges_into", "merged_into"),
)

# A merge undone by a manager, with why (one per merge: the primary key). The pointer stays, no longer in force.
subject_unmerges = Table(
    "subject_unmerges",
    metadata,
    Column("merge_id", BigInteger, ForeignKey("subject_merges.merge_id"), primary_key=True),
    Column("match_id", UUID(as_uuid=True), ForeignKey("possible_matches.match_id"), nullable=True),
    Column("reason", Text, nullable=False),
    Column("decided_by", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# A merge that needs a second person (the two subjects' records are in two boroughs, or in one the proposer
# does not see): proposed here, applied only when a manager other than the proposer approves it.
merge_proposals = Table(
    "merge_proposals",
    metadata,
    Column("proposal_id", UUID(as_uuid=True), primary_key=True),
    Column("match_id", UUID(as_uuid=True), ForeignKey("possible_matches.match_id"), nullable=False),
    Column("proposed_by", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("boroughs", JSONB, nullable=False),  # the boroughs the two subjects' records were in (null: triage)
    Column("proposed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("merge_proposals_match", "match_id"),
)

# The manager's answer to a proposal (one per proposal: the primary key): approve (the merge is applied) or refuse.
merge_proposal_decisions = Table(
    "merge_proposal_decisions",
    metadata,
    Column("proposal_id", UUID(as_uuid=True), ForeignKey("merge_proposals.proposal_id"), primary_key=True),
    Column("decision", Text, nullable=False),  # approve | refuse
    Column("reason", Text, nullable=False),
    Column("decided_by", Text, nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Factual rectifications applied (UK GDPR Art 16), with the versions they added.
rectifications = Table(
    "rectifications",
    metadata,
    Column("rectification_id", UUID(as_uuid=True), primary_key=True),
    Column("rights_request_id", UUID(as_uuid=True), nullable=False),
    Column("subject_id", UUID(as_uuid=True), nullable=False),
    Column("field", Text, nullable=False),
    Column("decided_by", Text, nullable=False),
    Column("records_changed", BigInteger, nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# ---- retention and disposal (issue 14, item 1; migration 0007)

# The kit's tables (cme_shared.retention), as intake's migration makes them: what was disposed of (append-only,
# one row per record) and the legal holds that keep a record past its retention.
disposal_tombstones = kit_retention.tombstones.to_metadata(metadata)
Index("disposal_tombstones_subjects", disposal_tombstones.c.subject_ids, postgresql_using="gin")
Index("disposal_tombstones_digests", disposal_tombstones.c.subject_digests, postgresql_using="gin")
legal_holds = kit_retention.legal_holds.to_metadata(metadata)
Index("legal_holds_in_force", legal_holds.c.scope, legal_holds.c.target_id,
      postgresql_where=text("lifted_at IS NULL"))

# Referrals another service's RecordsDisposed said are due (a disposed case's referrals): recorded by the
# running service, one row per (event, referral), carried out by the disposal job (`done_at`, `run_id`). An
# ordinary table: ids, codes and dates only.
pending_disposals = Table(
    "pending_disposals",
    metadata,
    Column("event_id", UUID(as_uuid=True), primary_key=True),
    Column("intake_id", UUID(as_uuid=True), primary_key=True),
    Column("from_service", Text, nullable=False),
    Column("from_record_type", Text, nullable=False),
    Column("from_record_ids", ARRAY(Text), nullable=False),
    Column("case_ids", ARRAY(UUID(as_uuid=True)), nullable=False),
    Column("subject_ids", ARRAY(UUID(as_uuid=True)), nullable=False),
    Column("schedule_id", Text, nullable=False),
    Column("rule_id", Text, nullable=False),
    Column("clock_started_on", Date, nullable=True),
    Column("disposed_upstream_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("run_id", UUID(as_uuid=True), nullable=True),
    Column("done_at", DateTime(timezone=True), nullable=True),
    # The signed record as received: the disposal job verifies it again with the pinned keys (the runtime
    # login can INSERT here, so a row is evidence only with a signature that verifies).
    Column("signed_payload", LargeBinary, nullable=False),
    Column("signed_key", LargeBinary, nullable=True),
    Column("signed_event_id", LargeBinary, nullable=True),
    Column("signer", Text, nullable=False),
    Column("signature", LargeBinary, nullable=False),
    Index("pending_disposals_waiting", "intake_id", postgresql_where=text("done_at IS NULL")),
)

# UK GDPR Art 18 restrictions as rights sent them (append-only): a subject whose latest event is `restricted`
# is kept from disposal, as a legal hold keeps them.
restriction_events = Table(
    "restriction_events",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("event_id", UUID(as_uuid=True), nullable=False),
    Column("rights_request_id", UUID(as_uuid=True), nullable=False),
    Column("subject_id", UUID(as_uuid=True), nullable=False),
    Column("change", Text, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("event_id", "subject_id", name="restriction_events_once"),
    Index("restriction_events_subject", "subject_id", "id"),
)
