"""RFC 6962 / RFC 9162 Merkle tree hashing over stored perfect subtrees. Pure: no I/O.

The log keeps, besides every leaf, the hash of every *perfect* subtree once it is complete: node
`(level, index)` covers leaves `[index * 2**level, (index + 1) * 2**level)`. Appending a leaf adds
amortised two nodes; the root of any size and every proof are folds of O(log n) stored nodes.

Proof generation follows RFC 9162 section 2.1.3.1 (PATH) and 2.1.4.1 (SUBPROOF) but names each
proof element as a leaf range; `range_nodes` turns a range into the stored nodes it is made of.
Verification (`verify_inclusion`, `verify_consistency`) is the bit-walking algorithm of RFC 9162
sections 2.1.3.2 and 2.1.4.2, deliberately a different algorithm from the generator's.
"""

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

Coord = tuple[int, int]  # (level, index) of a perfect subtree
Range = tuple[int, int]  # leaves [start, end)

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1): RFC 6962's k."""
    return 1 << ((n - 1).bit_length() - 1)


def range_nodes(start: int, end: int) -> list[Coord]:
    """The perfect subtrees that make up `[start, end)`, left to right.

    Valid for the ranges RFC 6962's recursion produces (start a multiple of the range's size rounded
    up to a power of two), which are the only ones proofs and roots need.
    """
    coords: list[Coord] = []
    position, remaining = start, end - start
    for level in range(remaining.bit_length() - 1, -1, -1):
        if remaining & (1 << level):
            coords.append((level, position >> level))
            position += 1 << level
    return coords


def fold(hashes: Sequence[bytes]) -> bytes:
    """MTH of a range from its perfect subtrees (left to right): fold from the right."""
    if not hashes:
        return EMPTY_ROOT
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """RFC 9162 2.1.3.1 PATH(m, D[n]) as leaf ranges, nearest the leaf first."""
    if not 0 <= index < size:
        raise ValueError("leaf index must be below the tree size")
    ranges: list[Range] = []
    start, end, m = 0, size, index
    while end - start > 1:
        k = _split(end - start)
        if m < k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start, m = start + k, m - k
    ranges.reverse()
    return ranges


def consistency_ranges(first: int, second: int) -> list[Range]:
    """RFC 9162 2.1.4.1 PROOF(m, D[n]) = SUBPROOF(m, D[n], true) as leaf ranges, in proof order."""
    if not 0 < first <= second:
        raise ValueError("consistency needs 0 < first <= second")
    ranges: list[Range] = []
    start, end, m, whole = 0, second, first, True
    while True:
        n = end - start
        if m == n:
            if not whole:
                ranges.append((start, end))
            break
        k = _split(n)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start, m, whole = start + k, m - k, False
    ranges.reverse()
    return ranges


def needed_nodes(ranges: Iterable[Range]) -> set[Coord]:
    return {coord for start, end in ranges for coord in range_nodes(start, end)}


def hash_ranges(ranges: Iterable[Range], nodes: Mapping[Coord, bytes]) -> list[bytes]:
    """Each range's MTH from stored nodes; a missing node is a corrupt store (KeyError)."""
    return [fold([nodes[c] for c in range_nodes(start, end)]) for start, end in ranges]


@dataclass
class Frontier:
    """The compact range of a tree of `size` leaves: the stored node at each level whose bit is set.

    Appending needs only these (RFC 9162's "compact range"); so does the root.
    """

    size: int = 0
    by_level: dict[int, bytes] = field(default_factory=dict)

    @staticmethod
    def coords(size: int) -> list[Coord]:
        return range_nodes(0, size)

    @classmethod
    def from_nodes(cls, size: int, nodes: Mapping[Coord, bytes]) -> "Frontier":
        return cls(size, {level: nodes[(level, index)] for level, index in cls.coords(size)})

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf; returns the nodes `(level, index, hash)` that became complete, leaf first."""
        h, level, index = leaf_hash(leaf), 0, self.size
        created = [(0, index, h)]
        while index & 1:
            h = node_hash(self.by_level.pop(level), h)
            level, index = level + 1, index >> 1
            created.append((level, index, h))
        self.by_level[level] = h
        self.size += 1
        return created

    def root(self) -> bytes:
        return fold([self.by_level[level] for level in sorted(self.by_level, reverse=True)])


# --- verification: RFC 9162 sections 2.1.3.2 and 2.1.4.2, needing nothing but the proof -------------


def root_from_inclusion(index: int, size: int, leaf_hash_: bytes, proof: Sequence[bytes]) -> bytes:
    """The root an inclusion proof leads to, or ValueError when the proof cannot be for (index, size)."""
    if not 0 <= index < size:
        raise ValueError("leaf index must be below the tree size")
    fn, sn, r = index, size - 1, leaf_hash_
    for p in proof:
        if sn == 0:
            raise ValueError("proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ValueError("proof is shorter than the tree is deep")
    return r


def verify_inclusion(index: int, size: int, leaf_hash_: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    try:
        return root_from_inclusion(index, size, leaf_hash_, proof) == root
    except ValueError:
        return False


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    if not 0 < first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the old root is itself the first node
        path.insert(0, first_root)
    if not path:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first_root and sr == second_root
