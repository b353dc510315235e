"""The one refusal type: what a rule does not allow, said as an HTTP status, a code and a message.

Service layers and domains raise it (or a subclass naming the rule); the kit maps it to the one JSON error
shape ({"errors": [{"loc", "code", "message"}]}) in `http.errors.install_error_handlers`. The message is the
rule's own words, never the request's data: it may reach a log, an error body and a partner.
It imports nothing, so a pure domain may raise it too.
"""


class Refusal(Exception):
    def __init__(self, status: int, code: str, message: str, loc: list[str | int] | None = None, *,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(code)
        self.status, self.code, self.message, self.loc = status, code, message, loc or []
        self.headers = headers  # sent with the answer: `Retry-After` on a 429

    def errors(self) -> list[tuple[list[str | int], str, str]]:
        """The (loc, code, message) of each problem the answer lists: one, unless a subclass names several
        (evidence that fails more than one rule)."""
        return [(self.loc, self.code, self.message)]
