"""The service wire format: round trips, and input off the network only ever raises MessageError."""

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lamigo.coding import IndexPrior
from lamigo.errors import ConfigError, MessageError
from lamigo.link import LinkConfig, PacketKind, Reassembler, packetize
from lamigo.masking import make_policy
from lamigo.message import Geometry, GOMessage
from lamigo.service.wire import (
    WIRE_VERSION,
    message_frames,
    parse_frames,
    parse_result,
    received_frames,
    result_frames,
)

GEOMETRY = Geometry(64, 64, 16, 16, 512)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 20


def build_message(seed: int = 0, caption: str = "a cup of coffee on a saucer") -> GOMessage:
    rng = np.random.default_rng(seed)
    policy = make_policy("prm", ratio=0.25, seed=seed)
    mask = policy.select(GEOMETRY.latent_shape, rng.random(GEOMETRY.latent_shape))
    indices = rng.integers(0, GEOMETRY.codebook_size, GEOMETRY.latent_shape)
    return GOMessage(GEOMETRY, policy, mask, indices, caption)


@pytest.fixture(scope="module")
def prior() -> IndexPrior:
    return IndexPrior.from_indices(np.random.default_rng(1).integers(0, 512, 4000), 512)


@pytest.fixture(scope="module")
def frames(prior) -> list[bytes]:
    lost = np.zeros(GEOMETRY.latent_shape, dtype=bool)
    lost[3, :5] = True
    return message_frames(build_message(), lost, message_id=42, prior=prior, source="test")


def test_message_round_trip(frames, prior):
    sent = build_message()
    wire = parse_frames(frames, prior)
    assert wire.message_id == 42
    assert wire.header["source"] == "test" and wire.header["wire"] == WIRE_VERSION
    assert wire.header["tokens"] == 256 and wire.header["tokens_lost"] == 5
    np.testing.assert_array_equal(wire.message.indices, sent.indices)
    np.testing.assert_array_equal(wire.message.mask, sent.mask)
    assert wire.message.caption == sent.caption
    assert wire.lost.shape == (16, 16) and wire.lost[3, :5].all() and wire.lost.sum() == 5


def test_received_message_round_trip_marks_lost_tokens():
    sent = build_message(seed=3)
    packets = packetize(sent, 9, LinkConfig(max_payload=60))
    dropped = next(p for p in packets if p.kind == PacketKind.INDICES)
    reassembler = Reassembler()
    for packet in packets:
        if packet is not dropped:
            reassembler.push(packet.to_bytes())
    (received,) = reassembler.flush()
    wire = parse_frames(received_frames(received))
    assert wire.message_id == 9
    np.testing.assert_array_equal(wire.lost, received.lost)
    assert wire.header["tokens_lost"] == received.stats.tokens_lost > 0
    assert wire.header["packets_expected"] == len(packets)
    assert wire.header["packets_received"] == len(packets) - 1
    arrived = ~received.mask & ~received.lost
    np.testing.assert_array_equal(wire.message.indices[arrived], sent.indices[arrived])
    assert (wire.message.indices[received.lost & ~received.mask] == 0).all()  # placeholders


def test_sender_errors_are_config_errors():
    with pytest.raises(ConfigError, match="latent shape"):
        message_frames(build_message(), np.zeros((4, 4), dtype=bool))
    with pytest.raises(ConfigError, match="set by the wire format"):
        message_frames(build_message(), tokens=3)
    with pytest.raises(ConfigError, match="non-negative"):
        message_frames(build_message(), message_id=-1)


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda f: f[:2], "3 frames"),
        (lambda f: [b"\xff\xfe", *f[1:]], "not UTF-8 JSON"),
        (lambda f: [b"[1, 2]", *f[1:]], "JSON object"),
        (lambda f: [json.dumps({**json.loads(f[0]), "wire": 2}).encode(), *f[1:]], "wire version 2"),
        (lambda f: [json.dumps({**json.loads(f[0]), "kind": "x"}).encode(), *f[1:]], "kind 'x'"),
        (lambda f: [json.dumps({**json.loads(f[0]), "message_id": "7"}).encode(), *f[1:]], "message_id"),
        (lambda f: [json.dumps({**json.loads(f[0]), "tokens_lost": 1}).encode(), *f[1:]], "tokens_lost"),
        (lambda f: [f[0], f[1][:-3], f[2]], "message 42"),
        (lambda f: [f[0], f[1], f[2][:-1]], "lost-token map"),
        (lambda f: [b" " * 70_000, *f[1:]], "over the limit"),
        (lambda f: [b"[" * 60_000, *f[1:]], "not UTF-8 JSON"),
    ],
)
def test_malformed_frames_say_what_is_wrong(frames, prior, mutate, error):
    with pytest.raises(MessageError, match=error):
        parse_frames(mutate(list(frames)), prior)


def test_size_limits(frames, prior):
    with pytest.raises(MessageError, match="over the limit of 10"):
        parse_frames(frames, prior, max_message_bytes=10)
    with pytest.raises(MessageError, match="16x16 tokens, over the limit of 100"):
        parse_frames(frames, prior, max_tokens=100)


def test_result_round_trip_and_errors():
    record, png = parse_result(result_frames({"message_id": 5, "steps": 8}, PNG))
    assert record == {"message_id": 5, "steps": 8, "wire": WIRE_VERSION, "kind": "decoded"}
    assert png == PNG
    with pytest.raises(MessageError, match="not a PNG"):
        parse_result([result_frames({"message_id": 5}, PNG)[0], b"GIF89a"])
    with pytest.raises(MessageError, match="2 frames"):
        parse_result([PNG])
    with pytest.raises(ConfigError):
        result_frames({"steps": 8}, PNG)


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.lists(st.binary(max_size=300), max_size=5))
def test_fuzz_random_frames(random_frames):
    try:
        parse_frames(random_frames)
    except MessageError:
        pass
    try:
        parse_result(random_frames)
    except MessageError:
        pass


@FUZZ
@given(frame=st.integers(0, 2), cut=st.integers(0, 2000))
def test_fuzz_truncated_frames(frames, prior, frame, cut):
    truncated = list(frames)
    truncated[frame] = truncated[frame][: min(cut, len(truncated[frame]) - 1)]
    with pytest.raises(MessageError):
        parse_frames(truncated, prior)


@FUZZ
@given(frame=st.integers(0, 2), data=st.data())
def test_fuzz_mutated_frames(frames, prior, frame, data):
    mutated = list(frames)
    buffer = bytearray(mutated[frame])
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(buffer) - 1))
        buffer[position] = data.draw(st.integers(0, 255))
    mutated[frame] = bytes(buffer)
    try:  # a mutation may leave the frames valid (a changed caption byte inside JSON, a lost bit)
        parse_frames(mutated, prior)
    except MessageError:
        pass


@FUZZ
@given(header=st.dictionaries(st.sampled_from(["wire", "kind", "message_id", "tokens", "tokens_lost", "x"]),
                              st.one_of(st.none(), st.integers(), st.text(max_size=5), st.floats(),
                                        st.lists(st.integers(), max_size=2)),
                              max_size=6))
def test_fuzz_headers(frames, prior, header):
    try:
        parse_frames([json.dumps(header).encode(), *frames[1:]], prior)
    except MessageError:
        pass


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_header_numbers_must_be_finite(frames, prior, number):
    """json reads these, but no JSON writer may write them back (the result record would fail)."""
    header = frames[0].decode().replace('"source":"test"', f'"source":{number}')
    with pytest.raises(MessageError, match="not a (JSON|finite) number"):
        parse_frames([header.encode(), *frames[1:]], prior)
