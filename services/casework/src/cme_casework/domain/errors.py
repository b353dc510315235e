"""What the domain refuses, and why: the kit's one refusal type, a subclass per kind of refusal (each with
its HTTP status). Messages name rules, never a person's data."""

from collections.abc import Sequence

from cme_shared.refusal import Refusal

from .closure import Problem


class CaseworkError(Refusal):
    status = 409

    def __init__(self, code: str, message: str, loc: Sequence[str | int] = ()) -> None:
        super().__init__(type(self).status, code, message, list(loc))


class TransitionRefused(CaseworkError):
    """The case's state does not allow this now (HTTP 409)."""


class RecordNotFound(CaseworkError):
    """A record named in the request is not part of this case (HTTP 404)."""

    status = 404


class NotPermitted(CaseworkError):
    """This person may not do this, whatever the case's state: e.g. decide a share they proposed (HTTP 403)."""

    status = 403


class EvidenceRefused(CaseworkError):
    """The request is well formed but does not meet a rule of law or practice (HTTP 422), one error per
    problem, each placed in the request's body."""

    status = 422

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("evidence_refused", "the evidence does not support this")
        self.problems = list(problems)

    def errors(self) -> list[tuple[list[str | int], str, str]]:
        return [(["body", *p.loc], p.code, p.message) for p in self.problems]
