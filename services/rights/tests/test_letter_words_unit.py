"""Every code the letter may meet has words a parent can read: each exemption the DPO may apply, and each action
the services write into their access logs (found in their source, so a new action without words fails here)."""

import re
from pathlib import Path

import pytest

from cme_rights.adapters.letter import EXEMPTION_REASONS, VALUES
from cme_rights.domain.responses import EXEMPTIONS

pytestmark = pytest.mark.unit

SERVICES = Path(__file__).resolve().parents[2]


def logged_actions() -> set[str]:
    found: set[str] = set()
    for source in SERVICES.glob("*/src/*/**/*.py"):
        text = source.read_text()
        if "record_access" not in text and "action" not in text:
            continue
        for call in re.finditer(r'action=("[^"]+"|[A-Z_]+)', text):
            token = call.group(1)
            if token.startswith('"'):
                found.add(token.strip('"'))
        found |= {m for m in re.findall(r'"([a-z_]+\.[a-z_]+)"', text)
                  if m.split(".")[1] in {"read", "list", "pending", "export", "unseal", "request", "decide",
                                         "withhold", "closure_readiness"}}
    return found


def test_every_exemption_has_a_reason_a_person_understands():
    assert set(EXEMPTIONS) <= set(EXEMPTION_REASONS)


def test_every_action_in_an_access_log_has_words():
    actions = logged_actions()
    assert {"case.read", "cases.list", "third_party.unseal"} <= actions  # the scan finds them
    assert sorted(actions - set(VALUES)) == []
