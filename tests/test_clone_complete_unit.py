"""A clone is complete: a partner or a council's engineer who clones the repository alone has everything
it reads and cites. Nothing points to a folder beside it, every document the code cites is in docs/,
and the partners' sample referrals are in samples/referrals/ with the status each must get.

The files are the repository's tracked files and any new ones not yet committed (git ls-files), so a
reference that would break a clone fails here before it is pushed.
"""

import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

from cme_intake.domain.validation import assess
from cme_shared.contracts.referrals import Referral
from cme_shared.messaging.consumer import Delivery, Unreadable, json_model_parser

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "referrals"
DOCS = ROOT / "docs"
THIS = Path(__file__).resolve().relative_to(ROOT)  # it spells out what it looks for

# The folder that once lay beside the repository, by any of the names it went by: the handbook, the
# variable that chose it, its absolute path here, the seed/ folder the privacy notice came from.
# The old environment variable is spelt in two parts so that this file does not itself match a scan for it.
OUTSIDE_NAMES = re.compile(r"\bhandbook\b|CME_" r"HANDBOOK|/work/shared|\bseed/privacy-notice", re.IGNORECASE)
# A relative path that climbs: it must still land inside the repository, seen from the file that has it.
CLIMBING = re.compile(r"(?:\.\./)+[\w.-]*")
# "CONTRACT section 3", "CONTRACT 4", "DOMAIN sections 1-3", "DOMAIN.md section 4", "[DOMAIN.md](...) sections
# 3 and 5", "contract section 1": the sections of docs/CONTRACT.md and docs/DOMAIN.md the code cites.
CITATION = re.compile(
    r"\b(?:(?P<doc>(?i:contract|domain))(?:\.md(?:\]\([^)]*\))?)?\s+(?i:sections?)"
    r"|(?P<bare>CONTRACT|DOMAIN))\s+(?P<numbers>\d+(?:\s*(?:-|,|and)\s*\d+)*)"
)
# A path inside the repository a file names, e.g. docs/privacy-notice.txt or samples/referrals/.
REPO_PATH = re.compile(r"(?<![\w/.-])(?:docs|samples)/[\w./-]*[\w/]")
MARKDOWN_LINK = re.compile(r"\]\((?!https?:|mailto:|#)([^)\s#]+)")
SAMPLE_NAME = re.compile(r"\b(?:accepted|rejected)-[a-z0-9-]+\.(?:json|txt)\b")


@cache
def texts() -> dict[Path, str]:
    """Every tracked or new (not ignored) text file, by its path in the repository."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, check=True, capture_output=True).stdout.decode().split("\0")
    found = {}
    for name in filter(None, listed):
        path = ROOT / name
        if not path.is_file() or Path(name) == THIS:
            continue
        try:
            found[Path(name)] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # a binary file cites nothing
    assert Path("README.md") in found, "git ls-files listed no README.md: is this a clone?"
    return found


def lines_matching(pattern: re.Pattern[str]) -> list[tuple[Path, int, re.Match[str]]]:
    return [(path, text.count("\n", 0, match.start()) + 1, match)
            for path, text in texts().items() for match in pattern.finditer(text)]


def sections(document: Path) -> set[int]:
    return {int(n) for n in re.findall(r"^## (\d+)\.", document.read_text(encoding="utf-8"), re.MULTILINE)}


def cited_numbers(numbers: str) -> set[int]:
    cited: set[int] = set()
    for part in re.split(r"\s*(?:,|and)\s*", numbers):
        first, _, last = part.partition("-")
        cited.update(range(int(first), int(last or first) + 1))
    return cited


def test_nothing_refers_to_a_folder_beside_the_repository():
    named = [f"{path}:{line}: {match[0]!r}" for path, line, match in lines_matching(OUTSIDE_NAMES)]
    climbing = [f"{path}:{line}: {match[0]!r}" for path, line, match in lines_matching(CLIMBING)
                if not (ROOT / path).parent.joinpath(match[0]).resolve().is_relative_to(ROOT)]
    assert not named + climbing, "outside the repository:\n" + "\n".join(named + climbing)


def test_every_cited_section_is_in_the_repositorys_own_documents():
    documents = {"contract": DOCS / "CONTRACT.md", "domain": DOCS / "DOMAIN.md"}
    known = {name: sections(path) for name, path in documents.items()}
    dangling = [f"{path}:{line}: {match[0]!r}" for path, line, match in lines_matching(CITATION)
                if not cited_numbers(match["numbers"]) <= known[(match["doc"] or match["bare"]).lower()]]
    assert not dangling, "cites a section docs/ does not have:\n" + "\n".join(dangling)
    assert len(lines_matching(CITATION)) > 50  # the pattern still finds the code's citations


def test_every_repository_path_a_file_names_or_links_exists():
    named = [(path, line, match[0]) for path, line, match in lines_matching(REPO_PATH)]
    linked = [(path, line, match[1]) for path, line, match in lines_matching(MARKDOWN_LINK)
              if path.suffix == ".md"]
    missing = [f"{path}:{line}: {target}" for path, line, target in named if not (ROOT / target).exists()]
    missing += [f"{path}:{line}: {target}" for path, line, target in linked
                if not (ROOT / path).parent.joinpath(target).exists()]
    assert not missing, "names a path the repository does not have:\n" + "\n".join(missing)
    assert (DOCS / "privacy-notice.txt").is_file()  # the notice the Art 15 information is built from


def status(path: Path) -> str:
    """What intake gives the record: rejected when the contract model cannot read it, else accepted, with
    warnings when its rules find any."""
    delivery = Delivery(topic="t", partition=0, offset=0, key=None, value=path.read_bytes())
    try:
        referral: Referral = json_model_parser(Referral)(delivery)
    except Unreadable:
        return "rejected"
    return "accepted with warnings" if assess(referral).warnings else "accepted"


def status_by_name(name: str) -> str:
    """The status samples/referrals/README.md gives a file by its name."""
    if name.startswith("rejected-"):
        return "rejected"
    assert name.startswith("accepted-"), f"{name}: the README names no status for it"
    return "accepted with warnings" if "-with-warnings-" in name else "accepted"


def test_the_samples_readme_says_how_a_file_name_gives_its_status():
    readme = (SAMPLES / "README.md").read_text(encoding="utf-8")
    assert all(word in readme for word in ("`accepted-`", "`-with-warnings-`", "`rejected-`", "cme.referrals.v1"))


def test_every_sample_the_code_names_is_in_the_repository():
    named = {match[0] for _, _, match in lines_matching(SAMPLE_NAME)}
    present = {p.name for p in SAMPLES.iterdir()}
    assert named and named <= present, f"named but not in samples/referrals/: {sorted(named - present)}"


@pytest.mark.parametrize("path", sorted(p for p in SAMPLES.iterdir() if p.name != "README.md"), ids=lambda p: p.name)
def test_each_sample_gets_the_status_its_name_gives(path):
    assert status(path) == status_by_name(path.name)


def test_the_samples_cover_every_status():
    statuses = {status_by_name(p.name) for p in SAMPLES.iterdir() if p.name != "README.md"}
    assert statuses == {"accepted", "accepted with warnings", "rejected"}
