"""Coverage-guided fuzzing of the packet parser and the reassembler with atheris. Every test
run makes a short run of it (test_link_fuzz_atheris.py), beside the hypothesis tests in
test_link_packet.py and test_link_reassembler.py; longer runs by hand:

    .venv/bin/python tests/link/fuzz_packet.py -atheris_runs=200000
    .venv/bin/python tests/link/fuzz_packet.py corpus/ -max_total_time=600   # keep a corpus

Each input drives up to 16 packets. A choice from the input picks how each is made:
* raw bytes straight to the parser, which must reject anything malformed with PacketError;
* a packet of a real two-message stream, or of crafted control blocks claiming huge or odd
  geometry (a 4096x4096 latent with PRM and EBM masks, a codebook of 2^20, a 70,000-character
  caption, more index groups than tokens), whose payload is rewritten, cut or extended from
  the input and then resealed with valid CRCs (as a sender with the payload CRC off would), so
  the fuzzer reaches the Reed-Solomon control decoder and the index and caption decoders behind
  the CRCs;
* a control block made of input bytes, Reed-Solomon coded as a sender would, so the fuzzer
  writes control blocks (geometry, policy, mask, chunk counts) directly;
* a packet of the stream (or a crafted classical header block claiming a 16384x16384 image)
  authenticated with the link key and carrying a replay stamp (sender, counter) from the input,
  so the fuzzer reaches the stamp parser and the replay window.
The packets go in the input's order (reordered, duplicated, missing) to GO reassemblers
and classical file receivers, without and with the key. `push` must never raise: any
exception is a finding and stops the run.
"""

import dataclasses
import logging
import sys

import atheris

with atheris.instrument_imports():
    import numpy as np

    from lamigo.coding.wire import Writer
    from lamigo.errors import PacketError
    from lamigo.link import LinkConfig, LinkKey, Packet, PacketKind, Reassembler, packetize
    from lamigo.link.classical import FileReceiver, _HeaderBlock
    from lamigo.link.control import encode_link_control
    from lamigo.link.fec import protect_control
    from lamigo.masking import make_policy
    from lamigo.message import VERSION, Geometry, GOMessage


def _stream() -> list[Packet]:
    """Two small messages, unchecked payloads, Huffman and range coding."""
    geometry = Geometry(32, 32, 8, 8, 64)
    config = LinkConfig(max_payload=32, payload_crc=False)
    packets = []
    for message_id, (coder, policy) in enumerate([("huffman", "prm"), ("range", "ebm")]):
        rng = np.random.default_rng(message_id)
        params = {"ratio": 0.25, "seed": 1} if policy == "prm" else {"ratio": 0.3}
        masking = make_policy(policy, **params)
        mask = masking.select((8, 8), distances=rng.random((8, 8)))
        msg = GOMessage(geometry, masking, mask, rng.integers(0, 64, (8, 8)), "a small test caption",
                        coder, coder)
        packets += packetize(msg, message_id, config)
    return packets


def crafted_control(sizes: tuple[int, ...], policy: int, policy_bytes: bytes, index_groups: int = 1,
                    chunk_chars: tuple[int, ...] = (), tag: int = 5) -> list[Packet]:
    """Control packets an attacker writes byte by byte: `sizes` (h, w, h', w', K) and a policy
    (1 PRM, 3 EBM) with its parameter bytes, whatever a transmitter would allow."""
    out = Writer()
    out.raw(b"LG")
    out.u8(VERSION)
    out.u8(0x11)  # huffman indices, huffman caption
    out.u8(policy)
    for value in sizes:
        out.varint(value)
    out.u16(0)
    out.raw(policy_bytes)
    block = encode_link_control(tag, out.getvalue(), "block", 0, index_groups, list(chunk_chars))
    return control_packets(block, tag)


def control_packets(block: bytes, tag: int) -> list[Packet]:
    chunks = protect_control(block, 32)
    return [Packet(message_id=7, tag=tag, seq=group, count=len(chunks) + 1, kind=PacketKind.CONTROL,
                   group=group, payload=chunk, payload_crc=False) for group, chunk in enumerate(chunks)]


def _crafted() -> list[Packet]:
    huge = (16384, 16384, 4096, 4096, 512)
    prm = b"\x80\x80\x80\x01" + bytes(4)  # varint count 2^21, seed 0
    ebm = b"\x04" + bytes(4)  # a 4-byte EBM mask: all-unmasked for any size
    return [
        *crafted_control(huge, 1, prm),
        *crafted_control(huge, 3, ebm, tag=6),
        *crafted_control((64, 64, 16, 16, 1 << 20), 1, b"\x01" + bytes(4), tag=8),
        *crafted_control((128, 128, 32, 32, 512), 3, ebm, tag=9),
        *crafted_control((32, 32, 8, 8, 64), 1, b"\x01" + bytes(4), chunk_chars=(70_000,), tag=10),
        *crafted_control((32, 32, 8, 8, 64), 1, b"\x01" + bytes(4), index_groups=1000, tag=11),
    ]


def _classical() -> list[Packet]:
    block = _HeaderBlock(3, "jpeg", (16384, 16384), 4000, 32, b"\xff\xd8\xff\xdb").to_bytes()
    chunks = protect_control(block, 32)
    header = [Packet(message_id=8, tag=3, seq=group, count=len(chunks) + 1, kind=PacketKind.CLASSICAL_HEADER,
                     group=group, payload=chunk, payload_crc=False) for group, chunk in enumerate(chunks)]
    return [*header, Packet(message_id=8, tag=3, seq=len(chunks), count=len(chunks) + 1,
                            kind=PacketKind.CLASSICAL_DATA, group=0, payload=bytes(32), payload_crc=False)]


STREAM = _stream() + _crafted() + _classical()
KEY = LinkKey(bytes(range(32)))


def packets_from(data: bytes) -> list[bytes]:
    provider = atheris.FuzzedDataProvider(data)
    packets = []
    for _ in range(provider.ConsumeIntInRange(0, 16)):
        how = provider.ConsumeIntInRange(0, 4)
        if how == 0:
            packets.append(provider.ConsumeBytes(provider.ConsumeIntInRange(0, 160)))
            continue
        if how == 1:
            block = provider.ConsumeBytes(provider.ConsumeIntInRange(0, 120))
            packets += [packet.to_bytes() for packet in control_packets(block, 12)]
            continue
        packet = STREAM[provider.ConsumeIntInRange(0, len(STREAM) - 1)]
        if how == 4:
            stamp = (provider.ConsumeIntInRange(0, 0xFFFF), provider.ConsumeIntInRange(0, (1 << 64) - 1))
            sealed = packet.to_bytes(KEY, stamp)
            packets.append(sealed[:provider.ConsumeIntInRange(0, len(sealed))] if provider.ConsumeBool() else sealed)
            continue
        keep = provider.ConsumeIntInRange(0, len(packet.payload))
        payload = packet.payload[:keep] + provider.ConsumeBytes(provider.ConsumeIntInRange(0, 40))
        packets.append(dataclasses.replace(packet, payload=payload).to_bytes())
    return packets


def test_one_input(data: bytes) -> None:
    receivers = [Reassembler(), Reassembler(key=KEY), FileReceiver(), FileReceiver(key=KEY)]
    for packet in packets_from(data):
        try:
            Packet.from_bytes(packet)
        except PacketError:
            pass
        for receiver in receivers:
            receiver.push(packet)
    for receiver in receivers:
        receiver.flush()


if __name__ == "__main__":
    logging.disable(logging.WARNING)  # every undecodable message logs a warning
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
