"""Bounds from what this receiver can decode, where no model set fixes the codebook (issue 25,
the coding rows): a forged header naming K = 2^20 is refused from the header; at the largest K
accepted, no code is built until an index is decoded; the coder cache is bounded in bytes."""

import numpy as np
import pytest

from lamigo.cli.main import main
from lamigo.coding import IndexPrior, index
from lamigo.coding.wire import Writer
from lamigo.errors import MessageError
from lamigo.link import Packet, PacketKind, Reassembler
from lamigo.link.control import encode_link_control
from lamigo.link.fec import protect_control
from lamigo.message import DEFAULT_MAX_CODEBOOK, VERSION, ReceiverLimits, peek_control, unpack_message
from lamigo.message.format import crc32

HUFFMAN, RANGE = 0x11, 0x21  # index coder << 4 | text coder (huffman)


def control_part(codebook: int, coders: int = HUFFMAN, latent: int = 16, masked: int = 0) -> bytes:
    """A GO message control part written byte by byte, as an attacker would: PRM, `masked`
    tokens masked, the fingerprint of the uniform prior (what a receiver without one holds)."""
    out = Writer()
    out.raw(b"LG")
    out.u8(VERSION)
    out.u8(coders)
    out.u8(1)
    for value in (4 * latent, 4 * latent, latent, latent, codebook):
        out.varint(value)
    out.u16(IndexPrior.uniform(codebook).fingerprint if codebook <= DEFAULT_MAX_CODEBOOK else 0)
    out.varint(masked)
    out.u32(0)
    return out.getvalue()


def forged_file(codebook: int, coders: int = HUFFMAN) -> bytes:
    out = Writer()
    out.raw(control_part(codebook, coders))
    out.varint(0)
    out.blob(b"")
    out.blob(bytes(20))  # 20 bytes of "indices"
    out.u32(crc32(out.getvalue()))
    return out.getvalue()


def forged_packets(codebook: int, coders: int, groups: int, message_id: int = 1, masked: int = 0) -> list[bytes]:
    """A control block naming `codebook` and `groups` index packets of 27 junk bytes."""
    tag = 5
    control = control_part(codebook, coders, masked=masked)
    chunks = protect_control(encode_link_control(tag, control, "block", 0, groups, []), 105)
    count = len(chunks) + groups
    packets = [Packet(message_id=message_id, tag=tag, seq=i, count=count, kind=PacketKind.CONTROL, group=i,
                      payload=chunk) for i, chunk in enumerate(chunks)]
    packets += [Packet(message_id=message_id, tag=tag, seq=len(chunks) + g, count=count, kind=PacketKind.INDICES,
                       group=g, payload=bytes(range(g, g + 27))) for g in range(groups)]
    return [packet.to_bytes() for packet in packets]


def built_codebooks() -> set[int]:
    return {key[1] for key, coder in index._cache.items() if "_canonical" in coder.__dict__ or key[0] == "range"}


@pytest.mark.parametrize("coders", [HUFFMAN, RANGE], ids=["huffman", "range"])
def test_a_reassembler_with_k_open_refuses_k_2_20_from_the_control_block(coders):
    reassembler = Reassembler()  # no model set fixes K: the tiny set's depacketizer
    assert reassembler.limits.codebook_size is None
    out = [m for data in forged_packets(1 << 20, coders, groups=4) for m in reassembler.push(data)]
    out += reassembler.flush()
    assert out == [] and reassembler.stats.messages_failed == 1
    assert (1 << 20) not in built_codebooks()


def test_inspect_and_unpack_refuse_k_2_20(tmp_path, capsys):
    data = forged_file(1 << 20)
    assert len(data) <= 1024
    with pytest.raises(MessageError, match=f"more than the {DEFAULT_MAX_CODEBOOK} this receiver accepts"):
        peek_control(data)
    with pytest.raises(MessageError, match="this receiver accepts"):
        unpack_message(data)
    path = tmp_path / "k20.lgo"
    path.write_bytes(data)
    assert main(["inspect", str(path)]) == 2
    assert "this receiver accepts" in capsys.readouterr().err


def test_the_bound_is_a_parameter_and_a_fixed_codebook_overrides_it():
    control = forged_file(1 << 15)
    assert peek_control(control, ReceiverLimits(max_codebook=1 << 15).check).geometry.codebook_size == 1 << 15
    with pytest.raises(MessageError, match="this receiver's model 512"):
        peek_control(forged_file(1 << 10), ReceiverLimits(codebook_size=512).check)


def test_at_the_largest_k_accepted_no_code_is_built_without_indices_to_decode():
    index._cache.clear()  # codes other tests built
    reassembler = Reassembler()
    chunks = forged_packets(DEFAULT_MAX_CODEBOOK, HUFFMAN, groups=0, message_id=2, masked=256)
    out = [m for data in chunks for m in reassembler.push(data)] + reassembler.flush()
    assert len(out) == 1 and out[0].message.geometry.codebook_size == DEFAULT_MAX_CODEBOOK
    assert DEFAULT_MAX_CODEBOOK not in built_codebooks()


def test_the_coder_cache_is_bounded_in_bytes():
    """A stream of headers each naming another K near the bound, or another code table."""
    for codebook in range(DEFAULT_MAX_CODEBOOK - 40, DEFAULT_MAX_CODEBOOK):
        index.get_index_coder("huffman", codebook)
    assert index.cache_bytes() <= index.CACHE_BYTES
    assert len(index._cache) < 40
    rng = np.random.default_rng(0)
    base = index.get_index_coder("image-huffman", DEFAULT_MAX_CODEBOOK)
    for _ in range(3 * index.CACHE_SIZE):  # tables with an escape: codes for every codeword
        counts = np.bincount(rng.integers(0, DEFAULT_MAX_CODEBOOK, 200), minlength=DEFAULT_MAX_CODEBOOK)
        base.with_table(index.CodeTable.from_counts(counts, 2))
    assert index.cache_bytes() <= index.CACHE_BYTES
    assert len(index._cache) <= index.CACHE_SIZE
