"""Retention in PostgreSQL (`uow.retention`): the disposals other services said are due, what intake's own
schedule finds, and the removal of a disposed record's content from every table it touches.

Removing rows from a history table works only as the disposal job's login (`cme_intake_disposal`): the history
triggers refuse every other role (migration 0007, `open_to_disposal`). The running service uses this store only
to record pending disposals and to read tombstones for subject access.
"""

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from sqlalchemy import and_, bindparam, delete, func, or_, select, text, true, union, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from cme_shared.contracts.retention import RecordsDisposed, RecordType

from ..domain.retention import ChildIdentifiers

if TYPE_CHECKING:
    from ..service_layer.retention import ReceivedDisposal
from .tables import (
    care_links,
    disposal_tombstones,
    held_referrals,
    kit,
    merge_proposal_decisions,
    merge_proposals,
    pending_disposals,
    possible_match_decisions,
    possible_matches,
    rectifications,
    referral_acceptances,
    referrals,
    rejected_messages,
    restriction_events,
    subject_addresses,
    subject_merges,
    subject_observations,
    subject_unmerges,
    subjects,
    third_party_details,
    third_party_unseals,
)

# Outbox rows whose payload names a disposed record (its outcome, its ReferralAccepted, a data-collection reply
# quoting it...), in groups of this many ids per statement.
OUTBOX_IDS_PER_STATEMENT = 50


class RetentionStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # ---- what other services disposed of (recorded by the running service's handler)

    async def record_pending(self, received: "ReceivedDisposal", intake_ids: Sequence[UUID]) -> int:
        """One row per (event, referral), with the signed record as received; a redelivered event adds
        nothing. How many were new."""
        if not intake_ids:
            return 0
        event: RecordsDisposed = received.event
        rows = [dict(event_id=event.event_id, intake_id=intake_id, from_service=event.service,
                     from_record_type=event.record_type.value, from_record_ids=list(event.record_ids),
                     case_ids=list(event.case_ids), subject_ids=list(event.subject_ids),
                     schedule_id=event.schedule_id, rule_id=event.rule_id, clock_started_on=event.clock_started_on,
                     disposed_upstream_at=event.disposed_at, signed_payload=received.payload,
                     signed_key=received.key, signed_event_id=received.event_id_header, signer=received.signer,
                     signature=received.signature)
                for intake_id in dict.fromkeys(intake_ids)]
        done = await self._session.execute(insert(pending_disposals).values(rows).on_conflict_do_nothing()
                                           .returning(pending_disposals.c.intake_id))
        return len(done.all())

    async def waiting(self) -> list[Any]:
        """Pending disposals not yet carried out, with their referral (its columns None when intake holds no
        such referral: disposed already, or never here)."""
        return list((await self._session.execute(
            select(pending_disposals.c.event_id, pending_disposals.c.intake_id, pending_disposals.c.from_service,
                   pending_disposals.c.case_ids, pending_disposals.c.clock_started_on,
                   pending_disposals.c.disposed_upstream_at, pending_disposals.c.signed_payload,
                   pending_disposals.c.signed_key, pending_disposals.c.signed_event_id, pending_disposals.c.signer,
                   pending_disposals.c.signature, referrals.c.source_type.label("source_type"),
                   referrals.c.received_at.label("received_at"),
                   referrals.c.child_subject_id, referrals.c.carer_subject_ids)
            .outerjoin(referrals, referrals.c.intake_id == pending_disposals.c.intake_id)
            .where(pending_disposals.c.done_at.is_(None))
            .order_by(pending_disposals.c.recorded_at, pending_disposals.c.intake_id)
        )).all())

    async def mark_done(self, intake_ids: Iterable[UUID], *, run_id: UUID, now: datetime) -> None:
        ids = list(intake_ids)
        if ids:
            await self._session.execute(update(pending_disposals).where(
                pending_disposals.c.intake_id.in_(ids), pending_disposals.c.done_at.is_(None)
            ).values(run_id=run_id, done_at=now))

    # ---- Art 18 restrictions (rights' SubjectRestricted / RestrictionLifted; append-only)

    async def record_restriction(self, event_id: UUID, rights_request_id: UUID, subject_ids: Sequence[UUID],
                                 change: str) -> None:
        if subject_ids:
            await self._session.execute(insert(restriction_events).values([
                dict(event_id=event_id, rights_request_id=rights_request_id, subject_id=s, change=change)
                for s in dict.fromkeys(subject_ids)]).on_conflict_do_nothing())

    async def restrictions_in_force(self, subject_ids: Sequence[UUID]) -> dict[UUID, set[UUID]]:
        """For each subject, the rights requests whose restriction is in force (its latest event: restricted)."""
        rows = await self._session.execute(
            select(restriction_events.c.subject_id, restriction_events.c.rights_request_id,
                   restriction_events.c.change)
            .where(restriction_events.c.subject_id.in_(list(subject_ids))).order_by(restriction_events.c.id))
        latest: dict[tuple[UUID, UUID], str] = {}
        for subject_id, request_id, change in rows.all():
            latest[(subject_id, request_id)] = change
        found: dict[UUID, set[UUID]] = {}
        for (subject_id, request_id), change in latest.items():
            if change == "restricted":
                found.setdefault(subject_id, set()).add(request_id)
        return found

    # ---- what intake's own schedule finds

    async def unaccepted_held(self, received_before: datetime) -> list[Any]:
        """Public form referrals no officer accepted (they never reached casework), received before then."""
        return list((await self._session.execute(
            select(referrals.c.intake_id, referrals.c.source_type, referrals.c.child_subject_id,
                   referrals.c.carer_subject_ids, referrals.c.received_at)
            .join(held_referrals, held_referrals.c.intake_id == referrals.c.intake_id)
            .outerjoin(referral_acceptances, referral_acceptances.c.intake_id == referrals.c.intake_id)
            .where(referral_acceptances.c.intake_id.is_(None), referrals.c.received_at < received_before)
            .order_by(referrals.c.received_at)
        )).all())

    async def dead_letters(self, received_before: datetime) -> list[Any]:
        return list((await self._session.execute(
            select(rejected_messages.c.message_id, rejected_messages.c.received_at)
            .where(rejected_messages.c.received_at < received_before).order_by(rejected_messages.c.received_at)
        )).all())

    async def orphans(self, excluding: Sequence[UUID] = ()) -> list[UUID]:
        """Subjects no referral names any more (ignoring the referrals `excluding`: those a dry run would
        dispose of)."""
        kept = referrals.c.intake_id.not_in(list(excluding)) if excluding else true()
        named = union(select(referrals.c.child_subject_id.label("subject_id")).where(kept),
                      select(func.unnest(referrals.c.carer_subject_ids).label("subject_id")).where(kept)).subquery()
        return list((await self._session.execute(
            select(subjects.c.subject_id).where(subjects.c.subject_id.not_in(select(named.c.subject_id)))
            .order_by(subjects.c.created_at, subjects.c.subject_id)
        )).scalars())

    async def referrals_naming(self, members: Sequence[UUID], excluding: Sequence[UUID] = ()) -> int:
        ids = list(members)
        condition = or_(referrals.c.child_subject_id.in_(ids), referrals.c.carer_subject_ids.overlap(ids))
        if excluding:
            condition = and_(condition, referrals.c.intake_id.not_in(list(excluding)))
        return int((await self._session.execute(select(func.count()).where(condition))).scalar_one())

    async def last_referral_clock(self, members: Sequence[UUID]) -> date | None:
        """The latest clock of the disposed referrals about these subjects (their tombstones)."""
        return (await self._session.execute(
            select(func.max(disposal_tombstones.c.clock_started_on)).where(
                disposal_tombstones.c.record_type == RecordType.REFERRAL.value,
                disposal_tombstones.c.subject_ids.overlap(list(members)))
        )).scalar()

    async def child_referral_digests(self, members: Sequence[UUID]) -> set[str]:
        """The digests the tombstones of these children's disposed referrals keep (the child is a referral
        tombstone's first subject): what the person was known by in referrals that are gone already."""
        rows = await self._session.execute(
            select(func.unnest(disposal_tombstones.c.subject_digests)).where(
                disposal_tombstones.c.record_type == RecordType.REFERRAL.value,
                disposal_tombstones.c.subject_ids[1].in_(list(members))))
        return set(rows.scalars())

    # ---- identifiers, for a tombstone's digests (read before the content goes)

    async def referral_child_identifiers(self, intake_id: UUID, child_subject_id: UUID) -> ChildIdentifiers:
        """What this referral said of its child, as the index compares it."""
        observed = (await self._session.execute(
            select(subject_observations.c.name_keys, subject_observations.c.date_of_birth,
                   subject_observations.c.upn, subject_observations.c.upn_valid)
            .where(subject_observations.c.intake_id == intake_id,
                   subject_observations.c.subject_id == child_subject_id)
        )).all()
        postcodes = (await self._session.execute(
            select(subject_addresses.c.postcode_key).where(
                subject_addresses.c.intake_id == intake_id, subject_addresses.c.subject_id == child_subject_id,
                subject_addresses.c.postcode_key.is_not(None))
        )).scalars()
        return _identifiers(observed, postcodes)

    async def subject_identifiers(self, members: Sequence[UUID]) -> tuple[str | None, ChildIdentifiers]:
        """A subject's type and everything the index still holds of it (every observation and address)."""
        ids = list(members)
        subject_type = (await self._session.execute(
            select(subjects.c.subject_type).where(subjects.c.subject_id.in_(ids)).limit(1))).scalar()
        observed = (await self._session.execute(
            select(subject_observations.c.name_keys, subject_observations.c.date_of_birth,
                   subject_observations.c.upn, subject_observations.c.upn_valid)
            .where(subject_observations.c.subject_id.in_(ids))
        )).all()
        postcodes = (await self._session.execute(
            select(subject_addresses.c.postcode_key).where(
                subject_addresses.c.subject_id.in_(ids), subject_addresses.c.postcode_key.is_not(None))
        )).scalars()
        return subject_type, _identifiers(observed, postcodes)

    # ---- removing content (the disposal login only)

    async def dispose_referrals(self, intake_ids: Sequence[UUID], *, keep_topic: str) -> None:
        """A referral's content, everywhere in intake: the stored referral (raw bytes, validated body), its
        sealed third-party details and who opened them, its held event and acceptance, what it told the
        identity index (observations, addresses, care links), the possible matches it raised (and what
        officers decided on them; a merge pointer they led to stays, no longer naming the match), and the
        outbox rows naming it (its outcome, its ReferralAccepted, a data-collection reply quoting it)."""
        ids = list(intake_ids)
        if not ids:
            return
        matches = list((await self._session.execute(
            select(possible_matches.c.match_id).where(possible_matches.c.intake_id.in_(ids)))).scalars())
        await self._forget_matches(matches)
        for table in (third_party_unseals, third_party_details, referral_acceptances, held_referrals,
                      subject_observations, subject_addresses, care_links):
            await self._session.execute(delete(table).where(table.c.intake_id.in_(ids)))
        await self._session.execute(delete(referrals).where(referrals.c.intake_id.in_(ids)))
        await self._forget_outbox([str(i) for i in ids], keep_topic=keep_topic)

    async def dispose_dead_letters(self, message_ids: Sequence[str]) -> None:
        """Why a message was rejected (`rejected_messages`) and its dead letter still in the outbox."""
        ids = list(message_ids)
        if not ids:
            return
        await self._session.execute(delete(rejected_messages).where(rejected_messages.c.message_id.in_(ids)))
        await self._session.execute(delete(kit.outbox).where(
            kit.outbox.c.aggregate_type == "dead_letter", kit.outbox.c.aggregate_id.in_(ids)))

    async def dispose_identities(self, members: Sequence[UUID], *, keep_topic: str) -> None:
        """A person's entry in the index: every observation, address, care link, possible match (and its
        decisions and proposals), merge pointer (and its undoing), rectification note and the subjects, and the
        outbox rows naming them (lookup and data-collection replies, rectification receipts)."""
        ids = list(members)
        if not ids:
            return
        matches = list((await self._session.execute(select(possible_matches.c.match_id).where(or_(
            possible_matches.c.subject_id.in_(ids), possible_matches.c.candidate_subject_id.in_(ids))))).scalars())
        merges = list((await self._session.execute(select(subject_merges.c.merge_id).where(or_(
            subject_merges.c.subject_id.in_(ids), subject_merges.c.merged_into.in_(ids))))).scalars())
        if merges:
            await self._session.execute(delete(subject_unmerges).where(subject_unmerges.c.merge_id.in_(merges)))
            await self._session.execute(delete(subject_merges).where(subject_merges.c.merge_id.in_(merges)))
        await self._forget_matches(matches)
        await self._session.execute(delete(subject_observations).where(subject_observations.c.subject_id.in_(ids)))
        await self._session.execute(delete(subject_addresses).where(subject_addresses.c.subject_id.in_(ids)))
        await self._session.execute(delete(care_links).where(or_(
            care_links.c.child_subject_id.in_(ids), care_links.c.carer_subject_id.in_(ids))))
        await self._session.execute(delete(rectifications).where(rectifications.c.subject_id.in_(ids)))
        await self._session.execute(delete(subjects).where(subjects.c.subject_id.in_(ids)))
        await self._forget_outbox([str(i) for i in ids], keep_topic=keep_topic)

    async def _forget_matches(self, match_ids: list[UUID]) -> None:
        if not match_ids:
            return
        for table in (subject_merges, subject_unmerges):  # the pointer (and its undoing) stays, unnamed
            await self._session.execute(update(table).where(table.c.match_id.in_(match_ids)).values(match_id=None))
        proposals = select(merge_proposals.c.proposal_id).where(merge_proposals.c.match_id.in_(match_ids))
        await self._session.execute(delete(merge_proposal_decisions).where(
            merge_proposal_decisions.c.proposal_id.in_(proposals)))
        await self._session.execute(delete(merge_proposals).where(merge_proposals.c.match_id.in_(match_ids)))
        await self._session.execute(delete(possible_match_decisions).where(
            possible_match_decisions.c.match_id.in_(match_ids)))
        await self._session.execute(delete(possible_matches).where(possible_matches.c.match_id.in_(match_ids)))

    async def _forget_outbox(self, ids: list[str], *, keep_topic: str) -> None:
        """Outbox rows (sent or not) whose payload names one of these ids, except the disposal events."""
        for start in range(0, len(ids), OUTBOX_IDS_PER_STATEMENT):
            chunk = ids[start:start + OUTBOX_IDS_PER_STATEMENT]
            names = or_(*(text(f"position(CAST(:needle_{n} AS bytea) IN outbox.payload) > 0").bindparams(
                bindparam(f"needle_{n}", value.encode())) for n, value in enumerate(chunk)))
            await self._session.execute(delete(kit.outbox).where(kit.outbox.c.topic != keep_topic, names))

    # ---- tombstones for subject access (the running service)

    async def tombstones_matching(self, digests: Sequence[str]) -> list[Any]:
        """Tombstones keeping any of these digests: record type and id, subjects, and the digests."""
        if not digests:
            return []
        return list((await self._session.execute(
            select(disposal_tombstones.c.record_type, disposal_tombstones.c.record_id,
                   disposal_tombstones.c.subject_ids, disposal_tombstones.c.subject_digests)
            .where(disposal_tombstones.c.subject_digests.overlap(list(digests)))
            .order_by(disposal_tombstones.c.id)
        )).all())

    async def live_subject_type(self, subject_id: UUID) -> str | None:
        return (await self._session.execute(
            select(subjects.c.subject_type).where(subjects.c.subject_id == subject_id))).scalar()


def _identifiers(observed: Sequence[Any], postcodes: Iterable[str]) -> ChildIdentifiers:
    return ChildIdentifiers(
        name_keys=frozenset(k for o in observed for k in o.name_keys),
        dates_of_birth=frozenset(o.date_of_birth for o in observed if o.date_of_birth),
        postcodes=frozenset(postcodes),
        upns=frozenset(o.upn for o in observed if o.upn_valid and o.upn),
    )

