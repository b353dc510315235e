"""HTTP response shapes (what the OpenAPI document shows)."""

from datetime import date, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field


class LeafRef(BaseModel):
    leaf_index: int
    kind: str


class DecisionOut(BaseModel):
    decision: str
    reason: str | None
    decided_by: str | None = Field(description="the decider's id (token sub); null in the auditor's view")
    decider_name: str | None = Field(description="the decider as the token names them")
    decider_role: str | None = Field(description="the token's role that decided (or the policy's version)")
    decider_title: str | None = Field(default=None, description="the job title the decider typed (an annotation)")
    sign_off: dict[str, Any] | None = Field(default=None, description="police: the sign-off rank as the decider "
                                                                       "confirmed it, and who confirmed it")
    decided_at: datetime


class WithholdingOut(BaseModel):
    exemption: str
    reason: str | None
    decided_by: str | None
    decider_name: str | None
    decider_role: str
    decider_title: str | None = None
    review_date: date
    recorded_at: datetime


class DisclosureRecord(BaseModel):
    disclosure_id: UUID
    status: str = Field(description="pending (awaiting a second person's decision) | shared | refused")
    origin: str = Field(description='"request" (POST /disclosures) or the service that reported the share')
    share_ref: str | None
    subject_ids: list[UUID]
    recipient: dict[str, Any]
    purpose: str
    legal_gateway: str
    reference: str | None
    authorised_officer: str | None
    categories_requested: list[str]
    categories_released: list[str]
    categories_not_released: list[str]
    fields_released: list[str]
    reason: str | None
    restriction_exception: dict[str, Any] | None
    refusal_reasons: list[dict[str, Any]] = Field(description="why the policy refused, as {loc, code, message}")
    policy_findings: list[dict[str, Any]]
    approval_roles: list[str] = Field(description="roles that may decide this request")
    requested_by: str | None = Field(description="the requester's id (token sub); null in the auditor's view")
    requested_by_role: str | None
    borough: str | None
    requested_at: datetime
    received_on: date | None = Field(description="the day the council received the request (requests only)")
    decision: DecisionOut | None
    shared_at: datetime | None
    withheld_from_sar: WithholdingOut | None
    purged_at: datetime | None
    log: list[LeafRef] = Field(description="this disclosure's leaves in the log, for inclusion proofs")
    view: str = Field(default="full", description='"full", or "auditor": free text and names left out (SEC-21)')


class RecipientToNotify(BaseModel):
    recipient_type: str
    org_id: str | None
    org_name: str | None
    disclosure_ids: list[UUID]
    first_shared_at: datetime
    last_shared_at: datetime


class ReportLine(BaseModel):
    month: str
    recipient_type: str
    purpose: str
    shared: int
    refused: int
    pending: int


class TreeHeadOut(BaseModel):
    tree_size: int
    root_hash: str = Field(description="hex MTH (RFC 6962) of the first tree_size leaves")
    timestamp: int = Field(description="milliseconds since the Unix epoch, UTC")
    key_id: str = Field(description="hex SHA-256 of the signing key's DER SubjectPublicKeyInfo")
    signature: str = Field(description="hex Ed25519 signature over signed_bytes (UTF-8)")
    signature_algorithm: str
    encoding: str = Field(description="how signed_bytes is made: JSON of {key_id, root_hash, timestamp, "
                                      "tree_size}, keys sorted, no whitespace")
    signed_bytes: str


class PublicKeyOut(BaseModel):
    key_id: str
    public_key_pem: str
    algorithm: str = "Ed25519"
    note_verifier_key: str = Field(description="the same key as a C2SP signed-note verifier key, for /log/checkpoint")
    previous_keys: list[dict[str, Any]] = Field(description="earlier pinned keys, for heads signed before a rotation")


class LeafOut(BaseModel):
    leaf_index: int
    leaf: str = Field(description="base64 of the exact leaf bytes; leaf hash = SHA-256(0x00 || bytes)")


class LeavesOut(BaseModel):
    start: int
    end: int
    leaves: list[LeafOut]


class ProofOut(BaseModel):
    proof: list[str] = Field(description="hex hashes, RFC 9162 order")
    leaf_index: int | None = None
    tree_size: int | None = None
    first: int | None = None
    second: int | None = None
    leaf: str | None = Field(default=None, description="inclusion proofs: base64 of the leaf's exact bytes")
