"""The one vote over protected-block copies (lamigo.link.protected_block): what forged and junk
copies cost and cannot do."""

from __future__ import annotations

import numpy as np

from lamigo.errors import MessageError
from lamigo.link.fec import CONTROL_PARITY, protect_control
from lamigo.link.protected_block import MAX_COPIES, ProtectedBlock

BLOCK = b"geometry, policy and mask of a genuine message " * 4


def _parse(data: bytes) -> bytes:
    if not data.startswith(b"geometry"):
        raise MessageError("not a block of this test")
    return data


def _junk(number: int, length: int = 105) -> bytes:
    return np.random.default_rng(number).integers(0, 256, length, dtype=np.uint8).tobytes()


def test_each_distinct_copy_is_decoded_once(rs_decodes):
    """Regression: every new copy retried Reed-Solomon on every copy so far (N forged copies of
    one chunk cost O(N^2) decodes: 200 packets, 8.5 s)."""
    vote = ProtectedBlock(_parse)
    for number in range(200):
        vote.add(0, _junk(number))
    for _ in range(100):  # repeated copies vote again without another decode
        vote.add(0, _junk(7))
    assert rs_decodes[0] <= 2 * 300  # the copy itself and at most the majority of its chunk
    assert vote.block is None


def test_junk_copies_cannot_keep_the_genuine_ones_out():
    chunks = protect_control(BLOCK, 105)
    vote = ProtectedBlock(_parse)
    for number in range(3 * MAX_COPIES):
        for group in range(len(chunks)):
            vote.add(group, _junk(number))
    for group, chunk in enumerate(chunks):
        vote.add(group, chunk)
    assert vote.block == BLOCK and vote.copies_refused == 0


def test_decodable_forgeries_beyond_the_bound_are_refused_and_the_genuine_block_wins():
    chunks = protect_control(BLOCK, 105)
    vote = ProtectedBlock(_parse)
    for group, chunk in enumerate(chunks):  # the genuine copies, three times
        for _ in range(3):
            vote.add(group, chunk)
    forged = protect_control(b"forged " * 30, 105)[0]
    for number in range(2 * MAX_COPIES):  # distinct copies that each decode (a few bytes flipped)
        copy = bytearray(forged)
        copy[number % CONTROL_PARITY] ^= 1 + number // CONTROL_PARITY
        vote.add(0, bytes(copy))
    assert vote.copies_refused > 0
    assert vote.block == BLOCK


def test_copies_that_each_fail_alone_decode_by_their_majority():
    (chunk,) = protect_control(b"geometry" * 10, 105)
    vote = ProtectedBlock(_parse)
    for copy in range(3):  # each copy too damaged alone, no byte wrong in two copies
        damaged = bytearray(chunk)
        for position in range(copy, 3 * CONTROL_PARITY, 3):
            damaged[position] ^= 0xFF
        vote.add(0, bytes(damaged))
    assert vote.block == b"geometry" * 10


def test_a_refused_block_says_why_and_chunk_numbers_past_the_format_are_ignored():
    vote = ProtectedBlock(_parse)
    for group, chunk in enumerate(protect_control(b"another kind of block", 105)):
        vote.add(group, chunk)
    vote.add(300, b"x" * 40)
    assert vote.block is None and "not a block" in vote.refused and vote.copies_refused == 1
