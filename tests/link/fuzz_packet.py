"""Coverage-guided fuzzing of the packet parser and the reassembler with atheris. Every test
run makes a short run of it (test_link_fuzz_atheris.py), beside the hypothesis tests in
test_link_packet.py and test_link_reassembler.py; longer runs by hand:

    .venv/bin/python tests/link/fuzz_packet.py -atheris_runs=200000
    .venv/bin/python tests/link/fuzz_packet.py corpus/ -max_total_time=600   # keep a corpus

Each input drives up to 16 packets. The first byte of each picks how it is made:
* raw bytes straight to the parser, which must reject anything malformed with PacketError;
* a packet of a real two-message stream whose payload is rewritten, cut or extended from the
  input and then resealed with valid CRCs (as a sender with the payload CRC off would), so the
  fuzzer reaches the Reed-Solomon control decoder and the index and caption decoders behind
  the CRCs.
The packets go to one reassembler in the input's order (reordered, duplicated, missing).
`Reassembler.push` must never raise: any exception is a finding and stops the run.
"""

import dataclasses
import logging
import sys

import atheris

with atheris.instrument_imports():
    import numpy as np

    from lamigo.errors import PacketError
    from lamigo.link import LinkConfig, Packet, Reassembler, packetize
    from lamigo.masking import make_policy
    from lamigo.message import Geometry, GOMessage


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


STREAM = _stream()


def packets_from(data: bytes) -> list[bytes]:
    provider = atheris.FuzzedDataProvider(data)
    packets = []
    for _ in range(provider.ConsumeIntInRange(0, 16)):
        if provider.ConsumeBool():
            packets.append(provider.ConsumeBytes(provider.ConsumeIntInRange(0, 160)))
            continue
        packet = STREAM[provider.ConsumeIntInRange(0, len(STREAM) - 1)]
        keep = provider.ConsumeIntInRange(0, len(packet.payload))
        payload = packet.payload[:keep] + provider.ConsumeBytes(provider.ConsumeIntInRange(0, 40))
        packets.append(dataclasses.replace(packet, payload=payload).to_bytes())
    return packets


def test_one_input(data: bytes) -> None:
    reassembler = Reassembler()
    for packet in packets_from(data):
        try:
            Packet.from_bytes(packet)
        except PacketError:
            pass
        reassembler.push(packet)
    reassembler.flush()


if __name__ == "__main__":
    logging.disable(logging.WARNING)  # every undecodable message logs a warning
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
