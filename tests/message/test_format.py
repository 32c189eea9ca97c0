import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lamigo.coding import INDEX_CODERS, TEXT_CODERS, IndexPrior
from lamigo.errors import ConfigError, MessageError
from lamigo.masking import make_policy
from lamigo.message import (
    MAGIC,
    Geometry,
    GOMessage,
    bandwidth_report,
    decode_control,
    encode_control,
    pack_message,
    unpack_message,
)
from lamigo.message.format import MAX_CAPTION_CHARS, crc32

POLICIES = [
    ("none", {}),
    ("prm", {"ratio": 0.25, "seed": 7}),
    ("prm", {"ratio": 0.35, "seed": 123456}),
    ("pdm", {"pattern": "2x2"}),
    ("pdm", {"pattern": "checkerboard"}),
    ("ebm", {"ratio": 0.25}),
    ("ebm", {"ratio": None, "threshold": 0.3}),
    ("ebm", {"ratio": 0.25, "order": "highest"}),
]


def make_message(policy=("prm", {"ratio": 0.25, "seed": 7}), index_coder="huffman", text_coder="huffman",
                 shape=(16, 16), codebook_size=8192, caption="a red car parked on a street", seed=0):
    rng = np.random.default_rng(seed)
    indices = rng.zipf(1.5, shape) % codebook_size
    distances = rng.random(shape)
    policy = make_policy(policy[0], **policy[1])
    geometry = Geometry(shape[0] * 4, shape[1] * 4, shape[0], shape[1], codebook_size)
    return GOMessage(geometry, policy, policy.select(shape, distances), indices, caption, index_coder, text_coder)


def assert_same(received, sent):
    assert received.geometry == sent.geometry
    np.testing.assert_array_equal(received.mask, sent.mask)
    np.testing.assert_array_equal(received.indices, sent.indices)
    assert received.caption == sent.caption
    assert (received.index_coder, received.text_coder) == (sent.index_coder, sent.text_coder)
    assert received.policy.name == sent.policy.name


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    policy=st.sampled_from(POLICIES),
    index_coder=st.sampled_from(sorted(INDEX_CODERS)),
    text_coder=st.sampled_from(sorted(TEXT_CODERS)),
    shape=st.tuples(st.integers(1, 24), st.integers(1, 24)),
    codebook_size=st.sampled_from([2, 17, 1024, 8192]),
    caption=st.text(max_size=60),
    seed=st.integers(0, 2**16),
)
def test_round_trip_every_policy_and_coder(policy, index_coder, text_coder, shape, codebook_size, caption, seed):
    msg = make_message(policy, index_coder, text_coder, shape, codebook_size, caption, seed)
    prior = IndexPrior.from_indices(np.random.default_rng(seed).zipf(1.5, 5000) % codebook_size, codebook_size)
    assert_same(unpack_message(pack_message(msg, prior), prior), msg)


def test_masked_positions_are_not_sent():
    msg = make_message(("pdm", {"pattern": "2x2"}))
    assert (msg.indices[msg.mask] == -1).all()
    assert msg.transmitted.size == msg.mask.size * 3 // 4
    _, report = bandwidth_report(pack_message(msg))
    assert report.transmitted_indices == msg.transmitted.size


def test_report_accounts_for_every_byte():
    prior = IndexPrior.from_indices(np.random.default_rng(0).zipf(1.5, 50_000) % 8192, 8192)
    msg = make_message(("ebm", {"ratio": 0.25}), shape=(64, 64))
    data = pack_message(msg, prior)
    _, report = bandwidth_report(data, prior)
    assert report.header_bytes + report.mask_bytes + report.text_bytes + report.index_bytes == len(data)
    assert report.mask_bytes > 0 and report.header_bytes < 32
    assert report.fixed_index_bytes == -(-3072 * 13 // 8)
    assert report.bits_per_index < 13 and report.index_saving > 0
    assert "bits per index" in report.format()


def test_prm_and_pdm_send_no_mask_bytes():
    for policy in [("prm", {"ratio": 0.25, "seed": 1}), ("pdm", {"pattern": "2x2"})]:
        _, report = bandwidth_report(pack_message(make_message(policy)))
        assert report.mask_bytes == 0


def test_control_part_stands_alone():
    msg = make_message(("ebm", {"ratio": 0.3}))
    control = decode_control(encode_control(msg))
    assert control.geometry == msg.geometry
    np.testing.assert_array_equal(control.mask, msg.mask)
    with pytest.raises(MessageError, match="trailing"):
        decode_control(encode_control(msg) + b"\x00")


def test_truncated_message_names_the_problem():
    data = pack_message(make_message())
    for cut in (1, 3, 10, len(data) - 1):
        with pytest.raises(MessageError, match="truncated|CRC"):
            unpack_message(data[:cut])


def test_wrong_version_and_magic():
    data = bytearray(pack_message(make_message()))
    data[2] = 9
    with pytest.raises(MessageError, match="unsupported GO message version 9"):
        unpack_message(bytes(data))
    with pytest.raises(MessageError, match="not a GO message"):
        unpack_message(b"PK\x03\x04" + bytes(20))


def test_receiver_with_another_prior_refuses():
    msg = make_message(index_coder="range")
    data = pack_message(msg, IndexPrior.from_indices(np.arange(100), 8192))
    with pytest.raises(MessageError, match="index prior"):
        unpack_message(data, IndexPrior.uniform(8192))
    # fixed-length coding needs no prior, so any receiver reads it
    assert_same(unpack_message(pack_message(make_message(index_coder="fixed"), IndexPrior.uniform(8192))),
                make_message(index_coder="fixed"))


def test_inconsistent_messages_are_refused_at_construction():
    geometry = Geometry(64, 64, 16, 16, 8192)
    policy = make_policy("none")
    with pytest.raises(ConfigError, match="latent shape"):
        GOMessage(geometry, policy, np.zeros((8, 8), bool), np.zeros((16, 16)))
    with pytest.raises(ConfigError, match=r"\[0, 8192\)"):
        GOMessage(geometry, policy, np.zeros((16, 16), bool), np.full((16, 16), 9000))
    with pytest.raises(ConfigError, match="bad geometry"):
        Geometry(0, 64, 16, 16, 8192)


@pytest.mark.parametrize("text_coder", sorted(TEXT_CODERS))
def test_caption_that_cannot_travel_is_refused_before_packing(text_coder):
    # e.g. an undecodable command-line byte, which Python's argv turns into a lone surrogate
    with pytest.raises(ConfigError, match="caption is not valid Unicode"):
        make_message(text_coder=text_coder, caption="caf\udcff")
    with pytest.raises(ConfigError, match="caption longer than"):
        make_message(text_coder=text_coder, caption="a" * (MAX_CAPTION_CHARS + 1))


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300))
def test_random_bytes_raise_only_message_error(data):
    with pytest.raises(MessageError):
        unpack_message(MAGIC + b"\x01" + data)


VALID = [pack_message(make_message(p, c)) for p in POLICIES for c in sorted(INDEX_CODERS)]


@settings(max_examples=300, deadline=None)
@given(base=st.sampled_from(VALID), data=st.data())
def test_mutated_messages_raise_only_message_error(base, data):
    mutated = bytearray(base)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(mutated) - 1))
        mutated[position] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        mutated = mutated[: data.draw(st.integers(0, len(mutated)))]
    try:
        unpack_message(bytes(mutated))
    except MessageError:
        return
    assert bytes(mutated) == base  # the CRC-32 catches every real change


@settings(max_examples=150, deadline=None)
@given(base=st.sampled_from(VALID), data=st.data())
def test_mutations_behind_a_valid_crc_raise_only_message_error(base, data):
    # A corrupted body with a recomputed CRC reaches every parser below the checksum.
    body = bytearray(base[:-4])
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(3, len(body) - 1))
        body[position] = data.draw(st.integers(0, 255))
    try:
        msg = unpack_message(bytes(body) + crc32(bytes(body)).to_bytes(4, "big"))
    except MessageError:
        return
    assert_same(unpack_message(pack_message(msg)), msg)  # what parses is a consistent message


@settings(max_examples=150, deadline=None)
@given(base=st.sampled_from(VALID), data=st.data())
def test_mutated_control_parts_raise_only_message_error(base, data):
    # The link layer reads the control part on its own, with no CRC of the message around it.
    control = bytearray(encode_control(unpack_message(base)))
    for _ in range(data.draw(st.integers(1, 3))):
        control[data.draw(st.integers(0, len(control) - 1))] = data.draw(st.integers(0, 255))
    control = control[: data.draw(st.integers(0, len(control)))]
    try:
        parsed = decode_control(bytes(control))
    except MessageError:
        return
    # what parses rebuilds the same control part when sent again
    msg = GOMessage(parsed.geometry, parsed.policy, parsed.mask, np.zeros(parsed.geometry.latent_shape),
                    "", parsed.index_coder, parsed.text_coder)
    again = decode_control(encode_control(msg))
    assert (again.geometry, again.policy.name) == (parsed.geometry, parsed.policy.name)
    np.testing.assert_array_equal(again.mask, parsed.mask)
