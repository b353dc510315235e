"""The Merkle tree against RFC 6962's test vectors and an independent, literal recomputation."""

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cme_disclosure.domain import merkle

pytestmark = pytest.mark.unit

# The Certificate Transparency reference leaves and roots (RFC 6962; transparency-dev/merkle testonly).
LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f",
)]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION = [  # (leaf index, tree size, audit path)
    (0, 1, []),
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
CONSISTENCY = [  # (first, second, proof)
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]


# --- the reference: RFC 6962 section 2.1 written out literally, over whole leaf lists ---------------

def ref_mth(d: list[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return ref_path(m, d[:k]) + [ref_mth(d[k:])]
    return ref_path(m - k, d[k:]) + [ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return ref_subproof(m, d[:k], b) + [ref_mth(d[k:])]
    return ref_subproof(m - k, d[k:], False) + [ref_mth(d[:k])]


# --- the code under test, over stored nodes as the database keeps them ------------------------------

def stored(leaves: list[bytes]) -> tuple[merkle.Frontier, dict[merkle.Coord, bytes]]:
    frontier, nodes = merkle.Frontier(), {}
    for leaf in leaves:
        for level, index, h in frontier.append(leaf):
            assert (level, index) not in nodes  # every node is written once: append-only
            nodes[(level, index)] = h
    return frontier, nodes


def inclusion(nodes, index: int, size: int) -> list[bytes]:
    ranges = merkle.inclusion_ranges(index, size)
    assert merkle.needed_nodes(ranges) <= nodes.keys()
    return merkle.hash_ranges(ranges, nodes)


def consistency(nodes, first: int, second: int) -> list[bytes]:
    return merkle.hash_ranges(merkle.consistency_ranges(first, second), nodes)


def root(nodes, size: int) -> bytes:
    return merkle.Frontier.from_nodes(size, nodes).root()


def test_the_empty_tree_is_the_hash_of_nothing():
    assert merkle.Frontier().root().hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_rfc6962_vectors(size):
    frontier, nodes = stored(LEAVES[:size])
    assert frontier.root().hex() == ROOTS[size - 1]
    assert root(stored(LEAVES)[1], size).hex() == ROOTS[size - 1]  # any earlier size, from the bigger store


@pytest.mark.parametrize(("index", "size", "expected"), INCLUSION)
def test_inclusion_proofs_match_rfc6962_vectors(index, size, expected):
    _, nodes = stored(LEAVES)
    proof = inclusion(nodes, index, size)
    assert [p.hex() for p in proof] == expected
    assert merkle.verify_inclusion(index, size, merkle.leaf_hash(LEAVES[index]), proof, bytes.fromhex(ROOTS[size - 1]))


@pytest.mark.parametrize(("first", "second", "expected"), CONSISTENCY)
def test_consistency_proofs_match_rfc6962_vectors(first, second, expected):
    _, nodes = stored(LEAVES)
    proof = consistency(nodes, first, second)
    assert [p.hex() for p in proof] == expected
    assert merkle.verify_consistency(first, second, bytes.fromhex(ROOTS[first - 1]), bytes.fromhex(ROOTS[second - 1]),
                                     proof)


def test_proofs_need_only_logarithmically_many_stored_nodes():
    for size in (1000, 65_537, 1_000_003):
        for index in (0, size // 3, size - 1):
            assert len(merkle.needed_nodes(merkle.inclusion_ranges(index, size))) <= 2 * size.bit_length()
        for first in (1, size // 2, size - 1):
            assert len(merkle.needed_nodes(merkle.consistency_ranges(first, size))) <= 3 * size.bit_length()


leaf_lists = st.lists(st.binary(max_size=12), min_size=1, max_size=70)


@settings(max_examples=60, deadline=None)
@given(leaves=leaf_lists, data=st.data())
def test_stored_tree_agrees_with_the_literal_rfc_recursion(leaves, data):
    frontier, nodes = stored(leaves)
    n = len(leaves)
    assert frontier.root() == ref_mth(leaves)
    size = data.draw(st.integers(1, n), label="size")
    assert root(nodes, size) == ref_mth(leaves[:size])
    index = data.draw(st.integers(0, size - 1), label="index")
    proof = inclusion(nodes, index, size)
    assert proof == ref_path(index, leaves[:size])
    assert merkle.verify_inclusion(index, size, merkle.leaf_hash(leaves[index]), proof, ref_mth(leaves[:size]))
    first = data.draw(st.integers(1, size), label="first")
    cproof = consistency(nodes, first, size)
    assert cproof == ref_subproof(first, leaves[:size], True)
    assert merkle.verify_consistency(first, size, ref_mth(leaves[:first]), ref_mth(leaves[:size]), cproof)


@settings(max_examples=60, deadline=None)
@given(leaves=st.lists(st.binary(max_size=8), min_size=2, max_size=40), data=st.data())
def test_a_changed_leaf_or_proof_does_not_verify(leaves, data):
    _, nodes = stored(leaves)
    n = len(leaves)
    index = data.draw(st.integers(0, n - 1))
    proof = inclusion(nodes, index, n)
    good_root = ref_mth(leaves)
    assert not merkle.verify_inclusion(index, n, merkle.leaf_hash(leaves[index] + b"x"), proof, good_root)
    if proof:
        position = data.draw(st.integers(0, len(proof) - 1))
        bent = list(proof)
        bent[position] = bytes(32)
        assert not merkle.verify_inclusion(index, n, merkle.leaf_hash(leaves[index]), bent, good_root)
        assert not merkle.verify_inclusion(index, n, merkle.leaf_hash(leaves[index]), proof[:-1], good_root)
    # A rewritten history: the old head no longer extends to the new tree.
    first = data.draw(st.integers(1, n - 1))
    rewritten = list(leaves)
    rewritten[data.draw(st.integers(0, first - 1))] += b"!"
    _, forged = stored(rewritten)
    assert not merkle.verify_consistency(first, n, ref_mth(leaves[:first]), ref_mth(rewritten),
                                         consistency(forged, first, n))


def test_verification_rejects_impossible_shapes():
    leaf = merkle.leaf_hash(b"a")
    assert not merkle.verify_inclusion(3, 3, leaf, [], leaf)
    assert not merkle.verify_inclusion(0, 2, leaf, [], leaf)  # a proof too short
    assert not merkle.verify_consistency(0, 3, leaf, leaf, [])
    assert not merkle.verify_consistency(4, 3, leaf, leaf, [])
    assert not merkle.verify_consistency(2, 2, leaf, leaf, [leaf])  # same size needs an empty proof
