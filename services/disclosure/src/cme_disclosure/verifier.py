"""Standalone proof verifier: check a disclosure-log proof against a signed tree head, offline.

Needs no database and no running service: only what the log published (a tree head, the public key,
a leaf, a proof), e.g. saved from `GET /log/tree-head`, `/log/public-key`, `/log/leaves` and
`/log/proofs/...` (an inclusion proof carries its leaf, so an officer's receipt needs no leaves page). Imports nothing from the service but the pure Merkle and tree-head code.

    python -m cme_disclosure.verifier inclusion --tree-head head.json --public-key key.json \
        --leaf-index 3 --leaf-b64 eyJ2Ijo... --proof proof.json
    python -m cme_disclosure.verifier consistency --old old-head.json --new head.json \
        --public-key key.json --proof proof.json

`--public-key` takes a PEM file or the JSON of `GET /log/public-key` (which also lists earlier keys,
so a head signed before a key rotation still verifies). Exit status 0: verified; 1: not.
"""

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from .domain import merkle
from .domain.tree_head import SignedTreeHead, key_id, load_public_key, verify


@dataclass
class Verdict:
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def public_keys(text: str) -> dict[str, Any]:
    """key_id -> public key, from a PEM or from the JSON of GET /log/public-key."""
    pems: list[str] = []
    if text.lstrip().startswith("{"):
        body = json.loads(text)
        pems.append(body["public_key_pem"])
        pems.extend(k["public_key_pem"] for k in body.get("previous_keys", []))
    else:
        pems.append(text)
    keys = [load_public_key(pem) for pem in pems]
    return {key_id(k): k for k in keys}


def _check_head(verdict: Verdict, head: SignedTreeHead, keys: dict[str, Any], name: str) -> None:
    key = keys.get(head.head.key_id)
    if key is None:
        verdict.problems.append(f"{name}: signed by key {head.head.key_id[:16]}..., which is not among the keys given")
    elif not verify(key, head):
        verdict.problems.append(f"{name}: the signature does not verify")


def check_inclusion(head: SignedTreeHead, keys: dict[str, Any], leaf: bytes, leaf_index: int,
                    proof: list[bytes]) -> Verdict:
    verdict = Verdict()
    _check_head(verdict, head, keys, "tree head")
    if not merkle.verify_inclusion(leaf_index, head.head.tree_size, merkle.leaf_hash(leaf), proof, head.head.root_hash):
        verdict.problems.append(f"leaf {leaf_index} is not proven in the tree of size {head.head.tree_size}")
    return verdict


def check_consistency(old: SignedTreeHead, new: SignedTreeHead, keys: dict[str, Any], proof: list[bytes]) -> Verdict:
    verdict = Verdict()
    _check_head(verdict, old, keys, "old tree head")
    _check_head(verdict, new, keys, "new tree head")
    if not merkle.verify_consistency(old.head.tree_size, new.head.tree_size, old.head.root_hash,
                                     new.head.root_hash, proof):
        verdict.problems.append(f"the tree of size {new.head.tree_size} is not proven to extend the tree of size "
                                f"{old.head.tree_size}: history may have been rewritten")
    return verdict


def _proof(path: Path) -> list[bytes]:
    body = json.loads(path.read_text())
    hashes = body["proof"] if isinstance(body, dict) else body
    return [bytes.fromhex(h) for h in hashes]


def _head(path: Path) -> SignedTreeHead:
    return SignedTreeHead.from_json(json.loads(path.read_text()))


cli = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.split("\n\n")[0])


def _finish(verdict: Verdict, what: str) -> None:
    if verdict.ok:
        typer.echo(f"OK: {what}")
        return
    for problem in verdict.problems:
        typer.echo(f"FAILED: {problem}", err=True)
    raise typer.Exit(1)


@cli.command()
def inclusion(
    tree_head: Annotated[Path, typer.Option(help="JSON of GET /log/tree-head")],
    public_key: Annotated[Path, typer.Option(help="PEM, or JSON of GET /log/public-key")],
    leaf_index: Annotated[int, typer.Option()],
    proof: Annotated[Path, typer.Option(help='JSON {"proof": [hex...]} of GET /log/proofs/inclusion')],
    leaf_b64: Annotated[str | None, typer.Option(help="the leaf bytes, base64 (as GET /log/leaves gives)")] = None,
    leaf_file: Annotated[Path | None, typer.Option(help="a file holding the exact leaf bytes")] = None,
) -> None:
    """Check that a leaf is in the tree a signed head describes."""
    if (leaf_b64 is None) == (leaf_file is None):
        raise typer.BadParameter("give exactly one of --leaf-b64 and --leaf-file")
    leaf = base64.b64decode(leaf_b64) if leaf_b64 is not None else leaf_file.read_bytes()  # type: ignore[union-attr]
    head = _head(tree_head)
    verdict = check_inclusion(head, public_keys(public_key.read_text()), leaf, leaf_index, _proof(proof))
    _finish(verdict, f"leaf {leaf_index} is in the signed tree of size {head.head.tree_size}")


@cli.command()
def consistency(
    old: Annotated[Path, typer.Option(help="the earlier signed tree head (JSON)")],
    new: Annotated[Path, typer.Option(help="the later signed tree head (JSON)")],
    public_key: Annotated[Path, typer.Option(help="PEM, or JSON of GET /log/public-key")],
    proof: Annotated[Path, typer.Option(help='JSON {"proof": [hex...]} of GET /log/proofs/consistency')],
) -> None:
    """Check that the later tree only appended to the earlier one."""
    old_head, new_head = _head(old), _head(new)
    verdict = check_consistency(old_head, new_head, public_keys(public_key.read_text()), _proof(proof))
    _finish(verdict, f"the tree of size {new_head.head.tree_size} extends the tree of size {old_head.head.tree_size}")


if __name__ == "__main__":
    cli()
