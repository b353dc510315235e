"""The console's own receipt check agrees with the disclosure log: genuine proofs and checkpoints (made by the
disclosure service's code) verify; any changed byte, wrong key or wrong size does not."""

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cme_console.receipts import ReceiptInvalid, VerifierKey, verified_checkpoint, verify_receipt
from cme_disclosure.domain import checkpoint as log_checkpoint
from cme_disclosure.domain import merkle

pytestmark = pytest.mark.unit

ORIGIN = "cme.example/disclosure-log"


def tree(leaves: list[bytes]) -> tuple[bytes, dict]:
    """Root and every perfect subtree's hash, the way the log stores them."""
    nodes = {}
    for i, leaf in enumerate(leaves):
        nodes[(0, i)] = merkle.leaf_hash(leaf)
    level = 0
    while any((level, i) in nodes for i in range(1)) and (1 << (level + 1)) <= len(leaves):
        for i in range(len(leaves) >> (level + 1)):
            nodes[(level + 1, i)] = merkle.node_hash(nodes[(level, 2 * i)], nodes[(level, 2 * i + 1)])
        level += 1
    root = merkle.fold([nodes[c] for c in merkle.range_nodes(0, len(leaves))])
    return root, nodes


def proof_for(index: int, size: int, nodes: dict) -> list[str]:
    return [h.hex() for h in merkle.hash_ranges(merkle.inclusion_ranges(index, size), nodes)]


@pytest.fixture
def log():
    key = Ed25519PrivateKey.generate()
    leaves = [f"leaf {i}".encode() for i in range(7)]
    root, nodes = tree(leaves)
    note = log_checkpoint.sign_checkpoint(key, ORIGIN, len(leaves), root).render()
    verifier = log_checkpoint.verifier_key(ORIGIN, key.public_key())
    return leaves, nodes, note, verifier


@pytest.mark.parametrize("index", range(7))
def test_every_leaf_of_a_genuine_log_verifies_against_its_signed_checkpoint(log, index):
    leaves, nodes, note, verifier = log
    checkpoint = verified_checkpoint(note, VerifierKey.parse(verifier))
    assert checkpoint.tree_size == 7 and checkpoint.origin == ORIGIN
    receipt = verify_receipt(leaf=leaves[index], leaf_index=index, kind="share", proof=proof_for(index, 7, nodes),
                             checkpoint=checkpoint)
    assert receipt.leaf_hash == hashlib.sha256(b"\x00" + leaves[index]).hexdigest()


def test_a_changed_leaf_a_wrong_index_or_a_cut_proof_is_refused(log):
    leaves, nodes, note, verifier = log
    checkpoint = verified_checkpoint(note, VerifierKey.parse(verifier))
    proof = proof_for(3, 7, nodes)
    for leaf, index, path in ((b"leaf 3 changed", 3, proof), (leaves[3], 2, proof), (leaves[3], 3, proof[:-1]),
                              (leaves[3], 7, proof)):
        with pytest.raises(ReceiptInvalid):
            verify_receipt(leaf=leaf, leaf_index=index, kind="share", proof=path, checkpoint=checkpoint)


def test_a_checkpoint_signed_by_another_key_or_edited_is_refused(log):
    _, _, note, verifier = log
    other = log_checkpoint.verifier_key(ORIGIN, Ed25519PrivateKey.generate().public_key())
    with pytest.raises(ReceiptInvalid, match="no signature by the log's published key"):
        verified_checkpoint(note, VerifierKey.parse(other))
    edited = note.replace("\n7\n", "\n8\n", 1)
    with pytest.raises(ReceiptInvalid, match="does not verify"):
        verified_checkpoint(edited, VerifierKey.parse(verifier))
    with pytest.raises(ReceiptInvalid):
        VerifierKey.parse(verifier.replace("+", "+00", 1))  # a key id that is not the key's
    assert base64.b64decode(verifier.split("+", 2)[2])[0] == 1  # an Ed25519 signed-note key
