"""Reading GOV.UK form fields back into the services' JSON: dates from the three-field date input, empty
fields as absent. Pure."""

from datetime import date
from typing import Any

from starlette.datastructures import FormData


class FieldError(ValueError):
    def __init__(self, field: str, text: str) -> None:
        super().__init__(text)
        self.field = field
        self.text = text


def text(form: FormData, name: str) -> str | None:
    value = str(form.get(name, "")).strip()
    return value or None


def required(form: FormData, name: str, what: str) -> str:
    value = text(form, name)
    if value is None:
        raise FieldError(name, f"Enter {what}")
    return value


def day(form: FormData, name: str, what: str, *, optional: bool = False) -> str | None:
    """A GOV.UK date input (`<name>-day`, `-month`, `-year`) as an ISO date."""
    parts = [text(form, f"{name}-{p}") for p in ("day", "month", "year")]
    if not any(parts):
        if optional:
            return None
        raise FieldError(f"{name}-day", f"Enter {what}")
    try:
        d, m, y = (int(p or "") for p in parts)
        return date(y, m, d).isoformat()
    except ValueError:
        raise FieldError(f"{name}-day", f"{what.capitalize()} must be a real date") from None


def errors_of(problems: list[FieldError]) -> list[dict[str, str]]:
    return [{"text": p.text, "href": f"#{p.field}"} for p in problems]


def collect(*steps: Any) -> tuple[list[Any], list[FieldError]]:
    """Run each zero-argument reader, keeping every field's error (the summary lists them all at once)."""
    values, problems = [], []
    for step in steps:
        try:
            values.append(step())
        except FieldError as problem:
            values.append(None)
            problems.append(problem)
    return values, problems
