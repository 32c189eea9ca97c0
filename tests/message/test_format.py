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
    message_index_coder,
    pack_message,
    unpack_message,
)
from lamigo.coding.text import get_text_coder
from lamigo.coding.wire import Writer
from lamigo.masking import POLICIES as MASKING_POLICIES
from lamigo.message.format import MAX_CAPTION_CHARS, VERSION, ReceiverLimits, crc32

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


def _wire_ids(registry) -> list[int]:
    return sorted(registry.lookup(name).wire_id for name in registry)


LIMITS = ReceiverLimits(max_tokens=200)  # below many of the latents drawn (up to 40x40)


def _mostly_known(ids: list[int], unknown: int):
    """One of `ids`, or (one time in ten) an id this receiver does not know."""
    return st.sampled_from([*ids * 3, unknown][:9] + [unknown])


def _section(data, valid: bytes, max_size: int) -> bytes:
    """`valid` (what the sender would write; three times in four, so that whole messages parse
    too), or that cut, or with a byte changed, or random bytes."""
    choice = data.draw(st.sampled_from([0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3]))
    if choice == 0 or not valid:
        return valid if choice == 0 else data.draw(st.binary(max_size=max_size))
    if choice == 1:
        return valid[: data.draw(st.integers(0, len(valid) - 1))]
    if choice == 2:
        edited = bytearray(valid)
        edited[data.draw(st.integers(0, len(edited) - 1))] = data.draw(st.integers(0, 255))
        return bytes(edited)
    return data.draw(st.binary(max_size=max_size))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index_id=_mostly_known(_wire_ids(INDEX_CODERS), 15), text_id=_mostly_known(_wire_ids(TEXT_CODERS), 15),
       policy_id=_mostly_known(_wire_ids(MASKING_POLICIES), 200),
       sizes=st.tuples(st.integers(1, 200), st.integers(1, 200), st.integers(1, 40), st.integers(1, 40),
                       st.sampled_from([512, 2, 17, 8192, 512, 2, 17, 8192, 1])), data=st.data())
def test_random_bodies_behind_a_valid_header_and_crc_reach_every_parser(index_id, text_id, policy_id, sizes, data):
    """Messages of the current version under a valid CRC-32, built section by section: each of
    the policy parameters, the code table, the caption and the indices is what a sender writes,
    that cut or edited, or random bytes, so every parser below the checksum meets hostile bytes.
    What parses is a message within the receiver's limits that round-trips."""
    height, width, latent_height, latent_width, codebook_size = sizes
    shape = (latent_height, latent_width)
    index_cls, text_cls = INDEX_CODERS.by_wire_id(index_id), TEXT_CODERS.by_wire_id(text_id)
    policy_cls = MASKING_POLICIES.by_wire_id(policy_id)
    # What a sender of these ids would write (when the ids and the geometry are valid ones).
    valid_params = valid_table = valid_caption = valid_coded = b""
    caption = data.draw(st.text(max_size=20))
    prior = IndexPrior.uniform(max(codebook_size, 2))
    if codebook_size >= 2 and index_cls is not None and text_cls is not None and policy_cls is not None:
        policy = make_policy(policy_cls.name, **{"prm": {"ratio": 0.25, "seed": 3}, "pdm": {"pattern": "2x2"},
                                                 "ebm": {"ratio": 0.25}}.get(policy_cls.name, {}))
        indices = np.asarray(data.draw(st.lists(st.integers(0, codebook_size - 1), min_size=shape[0] * shape[1],
                                                max_size=shape[0] * shape[1]))).reshape(shape)
        msg = GOMessage(Geometry(height, width, *shape, codebook_size), policy,
                        policy.select(shape, np.random.default_rng(0).random(shape)), indices, caption,
                        index_cls.name, text_cls.name)
        sections = Writer()
        policy.write(msg.mask, sections)
        valid_params = sections.getvalue()
        coder = message_index_coder(msg, prior)
        table = Writer()
        coder.write_table(table)
        valid_table = table.getvalue()
        valid_caption = get_text_coder(text_cls.name).encode(caption)
        valid_coded = coder.encode(msg.transmitted)
    out = Writer()
    out.raw(MAGIC)
    out.u8(VERSION)
    out.u8(index_id << 4 | text_id)
    out.u8(policy_id)
    for value in sizes:
        out.varint(value)
    out.u16(prior.fingerprint if index_cls is not None and index_cls.uses_prior else 0)
    out.raw(_section(data, valid_params, 40))
    out.raw(_section(data, valid_table, 40))
    out.varint(len(caption) if data.draw(st.integers(0, 3)) else data.draw(st.integers(0, 40)))
    out.blob(_section(data, valid_caption, 40))
    out.blob(_section(data, valid_coded, 200))
    wire = out.getvalue() + crc32(out.getvalue()).to_bytes(4, "big")
    try:
        msg = unpack_message(wire, accept=LIMITS.check)
    except MessageError:
        return
    LIMITS.check(msg.geometry)
    assert msg.indices.shape == msg.geometry.latent_shape and len(msg.caption) <= MAX_CAPTION_CHARS
    sent = msg.indices[~msg.mask]
    assert ((0 <= sent) & (sent < msg.geometry.codebook_size)).all()
    assert_same(unpack_message(pack_message(msg)), msg)


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
