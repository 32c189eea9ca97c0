"""Golden bytes: GO messages (PRM, PDM, EBM; every index and text coder), their link packets
and their service frames, a published result, and a classical file's packets and header block,
pinned byte for byte (as CompressAI keeps expected bitstreams), so no wire format drifts
without a test saying so. golden/VERSIONS.json records the format versions they were written
with. To see what a change does to them (nothing is written):

    .venv/bin/python tests/message/test_golden_bytes.py

After a deliberate format change, with its version bumped, rewrite them (the diff is printed;
files of a new case may be added with no version change):

    .venv/bin/python tests/message/test_golden_bytes.py --rewrite
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from lamigo.classical.baselines import Encoded
from lamigo.coding import IndexPrior
from lamigo.link import LinkConfig, LinkKey, Reassembler, packetize
from lamigo.link import classical as classical_link
from lamigo.link import control as link_control
from lamigo.link import packet as link_packet
from lamigo.masking import make_policy
from lamigo.message import Geometry, GOMessage, ReceivedMessage, pack_message, unpack_message
from lamigo.message import format as message_format
from lamigo.message.format import crc32
from lamigo.service import wire as service_wire
from lamigo.service.wire import message_frames, parse_frames, parse_result, result_frames

GOLDEN = Path(__file__).with_name("golden")
GEOMETRY = Geometry(64, 64, 16, 16, 512)
KEY = LinkKey(bytes(range(32)))
PRIOR = IndexPrior.from_indices(np.arange(4096) % 509, 512)


def _message(policy: str, coder: str, text_coder: str = "huffman", skewed: bool = False) -> GOMessage:
    rng = np.random.default_rng(2026)
    params = {"prm": {"ratio": 0.25, "seed": 11}, "ebm": {"ratio": 0.3}, "pdm": {"pattern": "2x2"}}[policy]
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
    "pdm_fixed_utf8": (_message("pdm", "fixed", "utf8"), LinkConfig(max_payload=60), 2, None),
}


def _versions() -> dict[str, int]:
    """The version of each format the golden files pin."""
    return {"message": message_format.VERSION, "packet": link_packet.PACKET_VERSION,
            "link_control": link_control.CONTROL_VERSION, "service_wire": service_wire.WIRE_VERSION,
            "classical_header_block": classical_link.HEADER_BLOCK_VERSION}


VERSIONS = GOLDEN / "VERSIONS.json"
# A published result: a record as the service writes one, and a PNG's bytes (only its
# signature is read on the wire, so no encoder's output is pinned here).
RESULT = ({"message_id": 12, "tokens": 256, "tokens_lost": 3, "steps": 8, "caption": "a cup of coffee",
           "link": {"packets_expected": 7, "packets_received": 6}, "info": {"source": "golden"}},
          b"\x89PNG\r\n\x1a\n" + bytes(range(40)))
# A classical file: 300 bytes, the first 40 its header (any codec's bytes do; none is decoded).
CLASSICAL_FILE = Encoded("jpeg", 50, bytes((7 * i + 3) % 256 for i in range(300)), 40, 0)
CLASSICAL_SHAPE, CLASSICAL_CONFIG, CLASSICAL_ID = (64, 48), LinkConfig(max_payload=60), 21


def _framed(items, width: int) -> bytes:
    """Byte strings joined, each behind its `width`-byte big-endian length."""
    return b"".join(len(item).to_bytes(width, "big") + item for item in items)


def _unframed(data: bytes, width: int) -> list[bytes]:
    items = []
    while data:
        length = int.from_bytes(data[:width], "big")
        items.append(data[width : width + length])
        data = data[width + length :]
    return items


def _classical_header_block() -> bytes:
    data = CLASSICAL_FILE.data
    return classical_link._HeaderBlock(crc32(data), CLASSICAL_FILE.codec, CLASSICAL_SHAPE, len(data),
                                       CLASSICAL_CONFIG.max_payload, data[: CLASSICAL_FILE.header_bytes]).to_bytes()


def _golden_files() -> dict[str, bytes]:
    """Every golden file's name and the bytes this code makes for it."""
    files = {f"{name}.{part}": content for name in CASES for part, content in _encoded(name).items()}
    files["result.frames"] = _framed(result_frames(*RESULT), 4)
    packets = classical_link.packetize_file(CLASSICAL_FILE, CLASSICAL_SHAPE, CLASSICAL_ID, CLASSICAL_CONFIG)
    files["classical_jpeg.packets"] = _framed([packet.to_bytes() for packet in packets], 2)
    files["classical_jpeg.header_block"] = _classical_header_block()
    return files


def _encoded(name: str) -> dict[str, bytes]:
    """Every byte string of one case: the packed message, its packets (each a 2-byte length and
    the packet), its service frames (as received over the link)."""
    message, config, message_id, key = CASES[name]
    packets = [packet.to_bytes(key) for packet in packetize(message, message_id, config, PRIOR)]
    reassembler = Reassembler(PRIOR, key=key)
    (received,) = [done for data in packets for done in reassembler.push(data)]
    frames = message_frames(received, PRIOR)
    return {"message": pack_message(message, PRIOR), "packets": _framed(packets, 2), "frames": _framed(frames, 4)}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("part", ["message", "packets", "frames"])
def test_bytes_match_the_golden_files(name, part):
    expected = (GOLDEN / f"{name}.{part}").read_bytes()
    assert _encoded(name)[part] == expected, f"{name}.{part} changed: a wire format drifted"


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_files_decode_to_their_message(name):
    message, _, message_id, key = CASES[name]
    assert unpack_message((GOLDEN / f"{name}.message").read_bytes(), PRIOR).caption == message.caption
    reassembler = Reassembler(PRIOR, key=key)
    (received,) = [done for data in _unframed((GOLDEN / f"{name}.packets").read_bytes(), 2)
                   for done in reassembler.push(data)]
    np.testing.assert_array_equal(received.message.indices, message.indices)
    wire = parse_frames(_unframed((GOLDEN / f"{name}.frames").read_bytes(), 4), PRIOR)
    assert wire.message_id == message_id and wire.link == received.link
    assert isinstance(wire, ReceivedMessage)


@pytest.mark.parametrize("name", ["result.frames", "classical_jpeg.packets", "classical_jpeg.header_block"])
def test_other_golden_files_match(name):
    assert _golden_files()[name] == (GOLDEN / name).read_bytes(), f"{name} changed: a wire format drifted"


def test_golden_result_and_classical_file_decode():
    record, png = parse_result(_unframed((GOLDEN / "result.frames").read_bytes(), 4))
    assert {key: record[key] for key in RESULT[0]} == RESULT[0] and png == RESULT[1]
    arrived = classical_link.receive_file(_unframed((GOLDEN / "classical_jpeg.packets").read_bytes(), 2))
    assert arrived.codec == "jpeg" and arrived.shape == CLASSICAL_SHAPE and arrived.data == CLASSICAL_FILE.data
    assert not arrived.lost.any()


def test_the_golden_files_are_of_the_current_versions():
    """A format's version bumped without its golden files rewritten (or the reverse) fails here."""
    assert json.loads(VERSIONS.read_text()) == _versions()
    assert sorted(path.name for path in GOLDEN.iterdir() if path != VERSIONS) == sorted(_golden_files())


def _diff(name: str, old: bytes | None, new: bytes) -> str:
    if old is None:
        return f"{name}: new, {len(new)} bytes"
    first = next((i for i, (a, b) in enumerate(zip(old, new)) if a != b), min(len(old), len(new)))
    window = slice(max(0, first - 8), first + 16)
    return (f"{name}: {len(old)} -> {len(new)} bytes, first difference at byte {first}\n"
            f"    golden  {old[window].hex(' ')}\n    now     {new[window].hex(' ')}")


def rewrite(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Show (and with --rewrite, write) what changed in the golden files.")
    parser.add_argument("--rewrite", action="store_true",
                        help="write the changed files; refused unless a format version changed "
                        "(files of a new case may always be added)")
    args = parser.parse_args(argv)
    recorded = json.loads(VERSIONS.read_text()) if VERSIONS.exists() else {}
    versions = _versions()
    bumped = {name: (recorded.get(name), version) for name, version in versions.items() if recorded.get(name) != version}
    changed = {}
    for name, content in _golden_files().items():
        path = GOLDEN / name
        old = path.read_bytes() if path.exists() else None
        if old != content:
            changed[name] = content
            print(_diff(name, old, content))
    for name, (old, new) in bumped.items():
        print(f"version of {name}: {old} -> {new}")
    if not changed and not bumped:
        print("the golden files match")
        return 0
    if not args.rewrite:
        return 1
    rewritten = [name for name in changed if (GOLDEN / name).exists()]
    if rewritten and not bumped:
        print(f"error: {len(rewritten)} golden file(s) would change with no format version changed; "
              "bump the version of the format that changed", file=sys.stderr)
        return 2
    for name, content in changed.items():
        (GOLDEN / name).write_bytes(content)
    VERSIONS.write_text(json.dumps(versions, indent=2) + "\n")
    print(f"wrote {len(changed)} golden file(s) and {VERSIONS.name}")
    return 0


if __name__ == "__main__":
    sys.exit(rewrite())
