"""The partner documentation committed under docs/asyncapi/ is what the contract models generate."""

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

SCRIPT = Path(__file__).resolve().parents[1] / "deploy" / "render_partner_docs.py"


def test_committed_asyncapi_documents_match_the_models():
    spec = importlib.util.spec_from_file_location("render_partner_docs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for path, text in module.documents().items():
        assert path.read_text() == text, f"{path.name} is stale: run .venv/bin/python deploy/render_partner_docs.py"
