"""The outside witness: submit every new checkpoint (C2SP tlog-witness) and keep its cosignature.

The witness (litewitness here, deploy/bin/witness.sh) remembers the last checkpoint it cosigned for
this log and cosigns a new one only with a consistency proof from that one: a log that rewrote its
history cannot get a cosignature again, whatever it does to its own database. Checkpoints are sent
after their transaction commits, in size order, each proven from the last size the witness holds;
a cosignature is checked against the pinned witness key before it is stored.
"""

import asyncio
import base64
from collections.abc import Callable, Sequence

import httpx

from cme_shared.logging import get_logger

from ..adapters.unit_of_work import DisclosureUnitOfWork
from ..domain.checkpoint import SignedNote, cosignature_time, parse_verifier_key

log = get_logger(__name__)


class WitnessConflict(Exception):
    """The witness holds a different size for this log than the request's old size (HTTP 409)."""

    def __init__(self, known: int) -> None:
        super().__init__(f"the witness holds size {known}")
        self.known = known


class WitnessRefused(Exception):
    """The witness turned the checkpoint down: 422 a bad consistency proof, 403 unknown log or key."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"witness refused ({status}): {reason}")
        self.status, self.reason = status, reason


def add_checkpoint_body(old_size: int, proof: Sequence[bytes], note: str) -> bytes:
    """tlog-witness `POST /add-checkpoint`: "old <size>", one base64 proof hash a line, a blank line, the note."""
    lines = [f"old {old_size}"] + [base64.b64encode(h).decode() for h in proof]
    return ("\n".join(lines) + "\n\n" + note).encode()


class WitnessClient:
    def __init__(self, url: str, witness_key: str, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.witness_key = witness_key
        self.key = parse_verifier_key(witness_key)
        self.timeout = timeout

    async def add_checkpoint(self, old_size: int, proof: Sequence[bytes], note: SignedNote) -> SignedNote:
        """The note with the witness's cosignature added (verified against the pinned key)."""
        async with httpx.AsyncClient(timeout=self.timeout) as http:
            response = await http.post(f"{self.url}/add-checkpoint",
                                       content=add_checkpoint_body(old_size, proof, note.render()))
        if response.status_code == 409:
            raise WitnessConflict(int(response.text.strip()))
        if response.status_code != 200:
            raise WitnessRefused(response.status_code, response.text.strip()[:200])
        cosigned = note.with_signatures(response.text)
        if cosignature_time(cosigned, self.key) is None:
            raise WitnessRefused(200, "the reply carries no valid cosignature by the pinned witness key")
        return cosigned


class Cosigner:
    """Background task: every checkpoint not yet cosigned goes to the witness, oldest first."""

    def __init__(self, unit_of_work: Callable[[], DisclosureUnitOfWork], client: WitnessClient,
                 poll_seconds: float = 0.25) -> None:
        self.unit_of_work = unit_of_work
        self.client = client
        self.poll_seconds = poll_seconds
        self._task: asyncio.Task[None] | None = None
        self.refused: WitnessRefused | None = None  # the last refusal, for health and tests

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="witness-cosigner")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        backoff = self.poll_seconds
        while True:
            try:
                await self.cosign_pending()
                backoff = self.poll_seconds
            except (httpx.HTTPError, OSError) as exc:
                log.warning("witness_unreachable", error=type(exc).__name__)
                backoff = min(backoff * 2, 30.0)
            except WitnessRefused as exc:
                self.refused = exc
                log.error("witness_refused", status=exc.status, reason=exc.reason)
                backoff = min(backoff * 2, 30.0)
            except Exception:
                log.exception("witness_cosigner_failed")
                backoff = min(backoff * 2, 30.0)
            await asyncio.sleep(backoff)

    async def cosign_pending(self, limit: int = 100) -> int:
        """One pass; returns how many checkpoints were cosigned."""
        key = self.client.witness_key
        async with self.unit_of_work() as uow:
            last = await uow.log.last_cosigned(key)
            pending = await uow.log.checkpoints_after(last, limit)
        done = 0
        for size, text in pending:
            note = SignedNote.parse(text)
            try:
                cosigned = await self._submit(last, size, note)
            except WitnessConflict as conflict:
                # The witness moved on without us recording it (a crash after it cosigned, or another
                # instance): prove the checkpoint from the size it holds instead.
                if not 0 <= conflict.known <= size:
                    raise WitnessRefused(409, f"the witness holds size {conflict.known}, beyond this checkpoint")
                if conflict.known == size:
                    cosigned = None  # cosigned already, cosignature lost: nothing to prove, skip it
                else:
                    cosigned = await self._submit(conflict.known, size, note)
            if cosigned is not None:
                line = next(s.line() for s in cosigned.signatures if s.key_id == self.client.key.key_id
                            and s.name == self.client.key.name)
                async with self.unit_of_work() as uow:
                    await uow.log.add_cosignature(size, key, line, cosignature_time(cosigned, self.client.key))
                    await uow.commit()
                done += 1
            last = size
        return done

    async def _submit(self, old_size: int, tree_size: int, note: SignedNote) -> SignedNote:
        proof: list[bytes] = []
        if 0 < old_size < tree_size:
            async with self.unit_of_work() as uow:
                proof = await uow.log.consistency_proof(old_size, tree_size)
        return await self.client.add_checkpoint(old_size, proof, note)
