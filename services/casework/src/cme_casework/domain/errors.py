"""What the domain refuses, and why. Messages name rules, never a person's data."""

from collections.abc import Sequence

from .closure import Problem


class CaseworkError(Exception):
    def __init__(self, code: str, message: str, loc: Sequence[str | int] = ()) -> None:
        super().__init__(code)
        self.code, self.message, self.loc = code, message, list(loc)


class TransitionRefused(CaseworkError):
    """The case's state does not allow this now (HTTP 409)."""


class RecordNotFound(CaseworkError):
    """A record named in the request is not part of this case (HTTP 404)."""


class NotPermitted(CaseworkError):
    """This person may not do this, whatever the case's state: e.g. decide a share they proposed (HTTP 403)."""


class EvidenceRefused(CaseworkError):
    """The request is well formed but does not meet a rule of law or practice (HTTP 422)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("evidence_refused", "the evidence does not support this")
        self.problems = list(problems)
