"""Walking a JSON document's places, for tests that mutate sample referrals (the property and fuzz runs)."""

from typing import Any


def paths(document: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in `document` below its root: the keys and indices that lead there."""
    found = [prefix] if prefix else []
    if isinstance(document, dict):
        for key, value in document.items():
            found += paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += paths(value, (*prefix, index))
    return found


def parent_of(document: Any, path: tuple) -> Any:
    """The dict or list holding the place `path` leads to."""
    for part in path[:-1]:
        document = document[part]
    return document
