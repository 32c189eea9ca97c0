"""Coverage-guided fuzzing of the packet parser and the reassembler (atheris), run by hand:

    .venv/bin/python tests/link/fuzz_packet.py -atheris_runs=200000

Each input is split into packets (first byte: number of packets, then a length byte before
each); they are parsed, and those that parse go to a reassembler together with a few valid
packets of a real message. Any exception other than the parser's PacketError is a finding.
"""

import sys

import atheris

with atheris.instrument_imports():
    import numpy as np

    from lamigo.errors import PacketError
    from lamigo.link import LinkConfig, Packet, Reassembler, packetize
    from lamigo.masking import make_policy
    from lamigo.message import Geometry, GOMessage


def _valid_packets() -> list[bytes]:
    geometry = Geometry(32, 32, 8, 8, 64)
    policy = make_policy("prm", ratio=0.25, seed=1)
    indices = np.arange(64).reshape(8, 8)
    msg = GOMessage(geometry, policy, policy.select((8, 8)), indices, "a small test caption")
    return [p.to_bytes() for p in packetize(msg, 7, LinkConfig(max_payload=32))]


VALID = _valid_packets()


def split_input(data: bytes) -> list[bytes]:
    provider = atheris.FuzzedDataProvider(data)
    packets = []
    for _ in range(provider.ConsumeIntInRange(0, 16)):
        packets.append(provider.ConsumeBytes(provider.ConsumeIntInRange(0, 160)))
    return packets


def test_one_input(data: bytes) -> None:
    reassembler = Reassembler()
    for index, packet in enumerate(split_input(data)):
        try:
            Packet.from_bytes(packet)
        except PacketError:
            pass
        reassembler.push(packet)
        reassembler.push(VALID[index % len(VALID)])
    reassembler.flush()


if __name__ == "__main__":
    # Seed the corpus-free run with real packets so mutations start from valid headers.
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
