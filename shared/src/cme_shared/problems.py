"""What is wrong with a message or a request: where, which rule, and words that name no one."""

from pydantic import BaseModel


class Problem(BaseModel):
    """An error or a warning: where (`loc`), which rule (`code`), and a message with no personal data."""

    loc: list[str | int]
    code: str
    message: str
