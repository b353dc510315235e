"""Names as the identity index compares them: "José O'Brien-Smith" and "JOSE OBRIEN SMITH" are one name.

A name key is `first|last`, each part folded: case folded, accents removed (Unicode NFKD, combining marks
dropped), letters that do not decompose mapped by hand (Polish ł, Danish ø...), and every character
that is not a letter or digit (spaces, hyphens, apostrophes) removed.
"""

import unicodedata
from collections.abc import Iterable

_NOT_DECOMPOSING = str.maketrans(
    {"ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ı": "i", "æ": "ae", "œ": "oe", "þ": "th", "ð": "d"}
)


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_NOT_DECOMPOSING))
    return "".join(c for c in decomposed if not unicodedata.combining(c) and c.isalnum())


def name_key(first: str | None, last: str | None) -> str | None:
    first_part, last_part = fold(first or ""), fold(last or "")
    return f"{first_part}|{last_part}" if first_part and last_part else None


def alias_keys(alias: str) -> set[str]:
    """An alias is free text ("Tom Nowak", "Mary Ann Smith-Jones"): every split into first | last."""
    words = alias.split()
    keys = {name_key(" ".join(words[:i]), " ".join(words[i:])) for i in range(1, len(words))}
    return {k for k in keys if k}


def name_keys(
    first_name: str | None,
    last_name: str | None,
    *,
    middle_names: str | None = None,
    preferred_name: str | None = None,
    aliases: Iterable[str] = (),
) -> frozenset[str]:
    keys = {
        name_key(first_name, last_name),
        name_key(preferred_name, last_name),
        name_key(f"{first_name or ''} {middle_names or ''}", last_name) if middle_names else None,
    }
    for alias in aliases:
        keys |= alias_keys(alias)
    return frozenset(k for k in keys if k)
