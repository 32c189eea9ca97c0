import pytest

from lamigo.errors import PacketError
from lamigo.link.fec import CONTROL_PARITY, decode_chunk, join_control, protect_control

BLOCK = bytes(range(256)) * 2  # needs several chunks at a 105-byte payload


def corrupt(chunk: bytes, positions) -> bytes:
    data = bytearray(chunk)
    for position in positions:
        data[position] ^= 0xFF
    return bytes(data)


def decode_all(chunks_copies) -> bytes:
    decoded = [decode_chunk(copies) for copies in chunks_copies]
    assert all(chunk is not None for chunk in decoded)
    assert {count for count, _ in decoded} == {len(decoded)}
    return join_control([chunk for _, chunk in decoded])


def test_round_trip_over_several_chunks():
    chunks = protect_control(BLOCK, 105)
    assert len(chunks) > 1 and all(len(chunk) <= 105 for chunk in chunks)
    assert decode_all([[chunk] for chunk in chunks]) == BLOCK


def test_corrects_up_to_half_the_parity_in_byte_errors():
    chunks = protect_control(BLOCK, 105)
    damaged = [[corrupt(chunk, range(0, 2 * CONTROL_PARITY, 4))] for chunk in chunks]
    assert decode_all(damaged) == BLOCK


def test_too_many_errors_in_a_single_copy_fail_cleanly():
    chunk = protect_control(b"control", 105)[0]
    assert decode_chunk([corrupt(chunk, range(CONTROL_PARITY))]) is None


def test_majority_vote_recovers_copies_that_each_fail_alone():
    chunk = protect_control(b"geometry, policy and mask" * 3, 105)[0]
    # Each copy has too many byte errors, but no byte is wrong in two copies.
    copies = [corrupt(chunk, range(copy, 3 * CONTROL_PARITY, 3)) for copy in range(3)]
    assert all(decode_chunk([copy]) is None for copy in copies)
    _, data = decode_chunk(copies)
    assert join_control([data]) == b"geometry, policy and mask" * 3


def test_block_crc_catches_a_wrong_chunk_order():
    chunks = protect_control(BLOCK, 105)
    decoded = [decode_chunk([chunk])[1] for chunk in chunks]
    with pytest.raises(PacketError, match="CRC"):
        join_control(decoded[::-1])


def test_payload_too_small_for_parity_is_an_error():
    with pytest.raises(PacketError):
        protect_control(b"x", CONTROL_PARITY + 1)


def test_the_fast_codeword_check_agrees_with_reedsolo():
    """decode_chunk skips reedsolo for an intact chunk; intact must mean what reedsolo says."""
    import numpy as np

    from lamigo.link import fec

    rng = np.random.default_rng(0)
    for _ in range(200):
        codeword = bytes(fec._codec.encode(bytes(rng.integers(0, 256, int(rng.integers(1, 200)), dtype=np.uint8))))
        assert fec._is_codeword(codeword)
        damaged = bytearray(codeword)
        damaged[int(rng.integers(0, len(codeword)))] ^= int(rng.integers(1, 256))
        assert not fec._is_codeword(bytes(damaged))
        noise = bytes(rng.integers(0, 256, len(codeword), dtype=np.uint8))
        assert fec._is_codeword(noise) == fec._codec.check(noise)[0]
