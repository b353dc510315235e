"""Cells a spreadsheet will not run (SEC-26): the census CSV is opened in Excel by officers and the DfE.

OWASP "CSV Injection": a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return may be read as
a formula; prefixing it with a single quote makes the spreadsheet show it as text. Quotes inside a cell are
doubled by the `csv` module's own quoting. (defusedcsv covers `=+-@|%` but not tab and carriage return.)
"""

import csv
import io
from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def csv_text(header: Iterable[object], rows: Iterable[Iterable[object]]) -> str:
    """The CSV document, every cell (the header's too) neutralised.

    Lines end in CRLF (RFC 4180), so that a cell holding a CR or LF is quoted, never split."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(c) for c in header])
    writer.writerows([safe_cell(c) for c in row] for row in rows)
    return out.getvalue()
