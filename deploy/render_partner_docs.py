"""Writes intake's AsyncAPI document and its readable rendering into docs/asyncapi/ (for partners).

Run after changing a contract model: `.venv/bin/python deploy/render_partner_docs.py`.
A test fails while the committed copies differ from what the models generate.
"""

import json
import sys
from pathlib import Path

from cme_intake.app import CHANNELS
from cme_shared.asyncapi import build_document, render_markdown
from cme_shared.contracts.topics import TopicNames

DOCS = Path(__file__).resolve().parents[1] / "docs" / "asyncapi"
# Partners read this in the rendered copy: it names the repository's own documents and samples.
DESCRIPTION = ("Referral topics of the CME platform (docs/CONTRACT.md section 3). Sample messages, each named "
               "after the status intake gives it, are in samples/referrals/ in the repository.")


def documents() -> dict[Path, str]:
    document = build_document(
        "CME intake", "1.0.0", DESCRIPTION, CHANNELS, TopicNames(), "127.0.0.1:9092",
    )
    return {
        DOCS / "intake.asyncapi.json": json.dumps(document, indent=2, sort_keys=True) + "\n",
        DOCS / "intake.md": render_markdown(document) + "\n",
    }


if __name__ == "__main__":
    DOCS.mkdir(parents=True, exist_ok=True)
    for path, text in documents().items():
        path.write_text(text)
        print(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    sys.exit(0)
