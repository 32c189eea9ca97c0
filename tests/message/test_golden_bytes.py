"""Golden bytes: two GO messages, their link packets and their service frames, pinned byte for
byte (as CompressAI keeps expected bitstreams), so no wire format drifts without a test saying
so. After a deliberate format change (with its version bumped), rewrite them with

    .venv/bin/python tests/message/test_golden_bytes.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lamigo.coding import IndexPrior
from lamigo.link import LinkConfig, LinkKey, Reassembler, packetize
from lamigo.masking import make_policy
from lamigo.message import Geometry, GOMessage, ReceivedMessage, pack_message, unpack_message
from lamigo.service.wire import message_frames, parse_frames

GOLDEN = Path(__file__).with_name("golden")
GEOMETRY = Geometry(64, 64, 16, 16, 512)
KEY = LinkKey(bytes(range(32)))
PRIOR = IndexPrior.from_indices(np.arange(4096) % 509, 512)


def _message(policy: str, coder: str, text_coder: str = "huffman", skewed: bool = False) -> GOMessage:
    rng = np.random.default_rng(2026)
    params = {"prm": {"ratio": 0.25, "seed": 11}, "ebm": {"ratio": 0.3}}[policy]
    masking = make_policy(policy, **params)
    mask = masking.select(GEOMETRY.latent_shape, rng.random(GEOMETRY.latent_shape))
    indices = rng.integers(0, GEOMETRY.codebook_size, GEOMETRY.latent_shape)
    if skewed:  # few codewords, as in a real image: the image's own code table wins
        indices = rng.geometric(0.08, GEOMETRY.latent_shape) % GEOMETRY.codebook_size
    return GOMessage(GEOMETRY, masking, mask, indices, "a cup of coffee on a saucer", coder, text_coder)


CASES = {
    # name: (message, link config, message id, link key)
    "prm_huffman": (_message("prm", "huffman", "huffman"), LinkConfig(max_payload=60), 7, None),
    "prm_image_huffman": (_message("prm", "image-huffman", skewed=True), LinkConfig(max_payload=60), 9, None),
    "ebm_range": (_message("ebm", "range", "range"), LinkConfig(max_payload=48, interleaver="random",
                                                       interleaver_seed=3, payload_crc=False), 513, KEY),
}


def _encoded(name: str) -> dict[str, bytes]:
    """Every byte string of one case: the packed message, its packets (each a 2-byte length and
    the packet), its service frames (as received over the link)."""
    message, config, message_id, key = CASES[name]
    packets = [packet.to_bytes(key) for packet in packetize(message, message_id, config, PRIOR)]
    reassembler = Reassembler(PRIOR, key=key)
    (received,) = [done for data in packets for done in reassembler.push(data)]
    frames = message_frames(received, PRIOR)
    return {
        "message": pack_message(message, PRIOR),
        "packets": b"".join(len(data).to_bytes(2, "big") + data for data in packets),
        "frames": b"".join(len(frame).to_bytes(4, "big") + frame for frame in frames),
    }


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("part", ["message", "packets", "frames"])
def test_bytes_match_the_golden_files(name, part):
    expected = (GOLDEN / f"{name}.{part}").read_bytes()
    assert _encoded(name)[part] == expected, f"{name}.{part} changed: a wire format drifted"


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_files_decode_to_their_message(name):
    message, _, message_id, key = CASES[name]
    assert unpack_message((GOLDEN / f"{name}.message").read_bytes(), PRIOR).caption == message.caption
    data = (GOLDEN / f"{name}.packets").read_bytes()
    reassembler, completed = Reassembler(PRIOR, key=key), []
    while data:
        length = int.from_bytes(data[:2], "big")
        completed += reassembler.push(data[2 : 2 + length])
        data = data[2 + length :]
    (received,) = completed
    np.testing.assert_array_equal(received.message.indices, message.indices)
    frames, data = [], (GOLDEN / f"{name}.frames").read_bytes()
    while data:
        length = int.from_bytes(data[:4], "big")
        frames.append(data[4 : 4 + length])
        data = data[4 + length :]
    wire = parse_frames(frames, PRIOR)
    assert wire.message_id == message_id and wire.link == received.link
    assert isinstance(wire, ReceivedMessage)


if __name__ == "__main__":
    for case in CASES:
        for part, content in _encoded(case).items():
            (GOLDEN / f"{case}.{part}").write_bytes(content)
            print(f"wrote {GOLDEN / f'{case}.{part}'} ({len(content)} bytes)")
