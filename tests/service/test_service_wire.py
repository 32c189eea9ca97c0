"""The service wire format: round trips, and input off the network only ever raises MessageError."""

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lamigo.coding import IndexPrior
from lamigo.errors import ConfigError, MessageError
from lamigo.lami import DecoderSettings
from lamigo.link import LinkConfig, PacketKind, Reassembler, packetize
from lamigo.masking import make_policy
from lamigo.message import Geometry, GOMessage, ReceivedMessage, ReceiverLimits
from lamigo.service.wire import (
    MAX_REASON_CHARS,
    WIRE_VERSION,
    DecodeRequest,
    OversizedError,
    Refusal,
    message_frames,
    parse_frames,
    parse_reply,
    parse_request,
    parse_result,
    pdu_frames,
    received_from_pdu,
    refusal_frames,
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
    sent = build_message()
    lost = np.zeros(GEOMETRY.latent_shape, dtype=bool)
    lost[3, :5] = True
    lost &= ~sent.mask
    return message_frames(ReceivedMessage(42, sent, lost, None, {"source": "test"}), prior)


def test_message_round_trip(frames, prior):
    sent = build_message()
    wire = parse_frames(frames, prior)
    assert wire.message_id == 42 and wire.link is None
    assert wire.info == {"source": "test"} and json.loads(frames[0])["wire"] == WIRE_VERSION == 2
    np.testing.assert_array_equal(wire.message.indices, sent.indices)
    np.testing.assert_array_equal(wire.message.mask, sent.mask)
    assert wire.message.caption == sent.caption
    expected = np.zeros((16, 16), dtype=bool)
    expected[3, :5] = True
    np.testing.assert_array_equal(wire.lost, expected & ~sent.mask)


def test_nothing_lost_sends_an_empty_bitmap(prior):
    frames = message_frames(ReceivedMessage.whole(build_message(), 3), prior)
    assert frames[2] == b""
    assert not parse_frames(frames, prior).lost.any()


def test_received_message_round_trip_marks_lost_tokens():
    sent = build_message(seed=3)
    packets = packetize(sent, 9, LinkConfig(max_payload=60))
    dropped = next(p for p in packets if p.kind == PacketKind.INDICES)
    reassembler = Reassembler()
    for packet in packets:
        if packet is not dropped:
            reassembler.push(packet.to_bytes())
    (received,) = reassembler.flush()
    wire = parse_frames(message_frames(received))
    assert wire.message_id == 9
    np.testing.assert_array_equal(wire.lost, received.lost)
    assert wire.link == received.link and wire.link.tokens_lost > 0
    assert wire.link.packets_expected == len(packets)
    assert wire.link.packets_received == len(packets) - 1
    arrived = ~received.regenerate
    np.testing.assert_array_equal(wire.message.indices[arrived], sent.indices[arrived])
    assert (wire.message.indices[received.lost] == 0).all()  # placeholders


def _depacketizer_meta(frames, received) -> dict:
    """PDU metadata as the GO Depacketizer writes it for the message of `frames`."""
    stats = {"packets_expected": 9, "packets_received": 8, "packets_damaged": 0, "index_groups_lost": 1,
             "caption_chunks_lost": 0, "tokens_sent": 190, "tokens_masked_by_policy": 66,
             "tokens_lost": int(received.lost.sum()), "packets_lost": 1}
    return {"message_id": 42, "lost_map": np.frombuffer(frames[2], dtype=np.uint8), "source": "test", **stats}


def test_pdu_frames_forward_the_message_unparsed(frames, prior):
    """The decoder client's path: PDU metadata in, the GO message bytes passed on as they are."""
    received = parse_frames(frames, prior)
    meta = _depacketizer_meta(frames, received)
    forwarded = pdu_frames(meta, frames[1])
    assert forwarded[1] == frames[1] and forwarded[2] == frames[2]
    again = parse_frames(forwarded, prior)
    assert again.link.tokens_lost == received.lost.sum() > 0 and again.info == {"source": "test"}
    np.testing.assert_array_equal(again.lost, received.lost)
    assert pdu_frames({}, b"not parsed", default_id=7)[1] == b"not parsed"


def test_a_pdu_reads_as_its_frames_do(frames, prior):
    """The SNR sweep's path: the depacketizer's PDU read where it is, as the service reads it."""
    received = parse_frames(frames, prior)
    meta = _depacketizer_meta(frames, received)
    direct, framed = received_from_pdu(meta, frames[1], prior), parse_frames(pdu_frames(meta, frames[1]), prior)
    assert direct.message_id == framed.message_id == 42 and direct.info == framed.info == {"source": "test"}
    assert direct.link == framed.link and direct.link.tokens_lost > 0 and direct.message.caption == framed.message.caption
    np.testing.assert_array_equal(direct.lost, framed.lost)
    np.testing.assert_array_equal(direct.message.indices, framed.message.indices)
    with pytest.raises(MessageError, match="u8vector"):
        received_from_pdu({"lost_map": "bits"}, frames[1], prior)
    with pytest.raises(MessageError, match="message 0"):
        received_from_pdu({}, b"not a GO message", prior)


@pytest.mark.parametrize(
    ("meta", "error"),
    [
        ({"message_id": 1 << 16}, "message id"),
        ({"message_id": 2**63}, "message id"),
        ({"message_id": True}, "message id"),
        ({"x": float("nan")}, "not a finite number"),
        ({1: "non-string key"}, "string key"),
        ({"x": [1, 2]}, "plain value"),
        ({"packets_expected": 3}, "packets_received"),
        ({"lost_map": "bits"}, "u8vector"),
    ],
)
def test_pdu_metadata_is_checked(meta, error):
    """Regression: a NaN or a non-string key in PDU metadata stopped the decoder client."""
    with pytest.raises(MessageError, match=error):
        pdu_frames(meta, b"")


def test_sender_errors():
    with pytest.raises(ConfigError, match="latent shape"):
        ReceivedMessage(0, build_message(), np.zeros((4, 4), dtype=bool))
    with pytest.raises(MessageError, match="message id"):
        message_frames(ReceivedMessage.whole(build_message(), -1))


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda f: f[:2], "3 frames"),
        (lambda f: [b"\xff\xfe", *f[1:]], "not UTF-8 JSON"),
        (lambda f: [b"[1, 2]", *f[1:]], "JSON object"),
        (lambda f: [json.dumps({**json.loads(f[0]), "wire": 1}).encode(), *f[1:]],
         "wire version 1, this end reads version 2 .*update the sender"),
        (lambda f: [json.dumps({**json.loads(f[0]), "kind": "x"}).encode(), *f[1:]], "kind 'x'"),
        (lambda f: [json.dumps({**json.loads(f[0]), "message_id": "7"}).encode(), *f[1:]], "message id"),
        (lambda f: [json.dumps({**json.loads(f[0]), "message_id": 2**64}).encode(), *f[1:]], "message id"),
        (lambda f: [json.dumps({**json.loads(f[0]), "tokens_lost": 1}).encode(), *f[1:]], "not part of"),
        (lambda f: [json.dumps({**json.loads(f[0]), "link": {"packets_expected": 1}}).encode(), *f[1:]],
         "link statistic"),
        (lambda f: [json.dumps({**json.loads(f[0]), "info": {"x": [1]}}).encode(), *f[1:]], "plain value"),
        (lambda f: [f[0], f[1][:-3], f[2]], "message 42"),
        (lambda f: [f[0], f[1], f[2][:-1]], "lost-token map"),
        (lambda f: [b" " * 70_000, *f[1:]], "over the limit"),
        (lambda f: [b"[" * 60_000, *f[1:]], "not UTF-8 JSON"),
    ],
)
def test_malformed_frames_say_what_is_wrong(frames, prior, mutate, error):
    with pytest.raises(MessageError, match=error):
        parse_frames(mutate(list(frames)), prior)


def test_limits(frames, prior):
    with pytest.raises(OversizedError, match="over the limit of 10"):
        parse_frames(frames, prior, ReceiverLimits(max_message_bytes=10))
    with pytest.raises(OversizedError, match="16x16 tokens, over the limit of 100"):
        parse_frames(frames, prior, ReceiverLimits(max_tokens=100))
    with pytest.raises(MessageError, match="codebook of 512, this receiver's model 1024"):
        parse_frames(frames, prior, ReceiverLimits(codebook_size=1024))
    with pytest.raises(MessageError, match="not a multiple of 32"):
        parse_frames(frames, prior, ReceiverLimits(latent_multiple=32))


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
    # Regression: an id of 2**63 was accepted here and then overflowed pmt in the client.
    with pytest.raises(MessageError, match="message id"):
        parse_result(result_frames({"message_id": 2**63}, PNG))


def test_a_refused_message_carries_its_id_and_the_reason_apart(frames, prior):
    with pytest.raises(MessageError) as refused:
        parse_frames(frames, prior, ReceiverLimits(codebook_size=1024))
    assert refused.value.message_id == 42
    assert refused.value.reason == ("message uses a codebook of 512, this receiver's model 1024: use the same "
                                    "model set on both ends")
    header = json.loads(frames[0])
    with pytest.raises(MessageError, match="wire version 1") as old_sender:
        parse_frames([json.dumps({**header, "wire": 1}).encode(), *frames[1:]], prior)
    assert old_sender.value.message_id == 42  # a mismatch of the two ends, answered too
    with pytest.raises(MessageError) as no_id:
        parse_frames([b"{}", *frames[1:]], prior)
    assert no_id.value.message_id is None  # nobody to answer


def test_refusal_round_trip_and_bounds():
    refusal = Refusal(7, "message uses a codebook of 512, this receiver's model 1024: use the same model set "
                         "on both ends", "malformed", "default")
    frames = refusal_frames(refusal)
    assert frames[1] == b"" and json.loads(frames[0])["kind"] == "refused"
    assert parse_reply(frames) == refusal
    assert parse_reply(result_frames({"message_id": 5}, PNG))[1] == PNG  # results read as before
    with pytest.raises(MessageError, match="expected a 'decoded' frame set, got kind 'refused'"):
        parse_result(frames)  # a reader of results alone drops it as another kind
    assert len(parse_reply(refusal_frames(Refusal(1, "x" * 5000, "failed"))).reason) == MAX_REASON_CHARS
    record = json.loads(frames[0])
    forged = [
        ({**record, "reason": "x" * (MAX_REASON_CHARS + 1)}, b"", "at most 1000 characters"),
        ({**record, "reason": 5}, b"", "must be text"),
        ({**record, "counter": "decoded"}, b"", "counter 'decoded' is none of"),
        ({**record, "message_id": -1}, b"", "message id"),
        ({**record, "extra": 1}, b"", r"refusal fields \['extra'\]"),
        ({**record, "wire": 3}, b"", "wire version 3"),
        (record, PNG, "second frame must be empty"),
    ]
    for value, second, error in forged:
        with pytest.raises(MessageError, match=error):
            parse_reply([json.dumps(value).encode(), second])
    with pytest.raises(ConfigError):
        refusal_frames(Refusal(1, "x", "bored"))


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
    try:
        parse_reply(random_frames)
    except MessageError:
        pass


@FUZZ
@given(frame=st.integers(0, 2), cut=st.integers(0, 2000))
def test_fuzz_truncated_frames(frames, prior, frame, cut):
    truncated = list(frames)
    shortest = 1 if frame == 2 else 0  # an empty lost-token map means nothing was lost
    truncated[frame] = truncated[frame][: max(shortest, min(cut, len(truncated[frame]) - 1))]
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
@given(header=st.dictionaries(st.sampled_from(["wire", "kind", "message_id", "link", "info", "x"]),
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


REQUEST = DecodeRequest(DecoderSettings(steps=32, renoise=28, cfg=4.0, cfg_steps=20, temperature=(0.9, 0.3),
                                        renoise_scope="all", seed=7), plain=True)


def test_a_decode_request_round_trips_and_only_the_service_reads_it(prior):
    frames = message_frames(ReceivedMessage.whole(build_message(), 3), prior, REQUEST)
    received, request = parse_request(frames, prior)
    assert request == REQUEST and received.message_id == 3
    assert parse_request(message_frames(ReceivedMessage.whole(build_message(), 3), prior), prior)[1] is None
    with pytest.raises(MessageError, match="asks for decoder settings"):
        parse_frames(frames, prior)  # a receiver of its own settings does not silently ignore a request
    with pytest.raises(ConfigError, match="32-bit"):
        message_frames(ReceivedMessage.whole(build_message()), prior,
                       DecodeRequest(DecoderSettings(seed=2**32)))


def _asking(frames: list[bytes], **changes) -> list[bytes]:
    header = json.loads(frames[0])
    header["decoder"] = {**header["decoder"], **changes}
    return [json.dumps(header).encode(), *frames[1:]]


@pytest.mark.parametrize(("changes", "error"), [
    ({"steps": 201}, "201 denoising steps, this service takes 1 to 200"),
    ({"steps": 10**30}, "denoising steps, this service takes"),
    ({"steps": 0}, "takes 1 to 200"),
    ({"steps": 8.0}, "steps not of the right type"),
    ({"steps": True}, "steps not of the right type"),
    ({"renoise": 40}, "--renoise"),
    ({"cfg": "8"}, "cfg not of the right type"),
    ({"cfg": 10**400}, "not UTF-8 JSON|cfg not of the right type"),
    ({"cfg": 2**60}, "cfg not of the right type"),
    ({"cfg_steps": 33}, "--cfg-steps"),
    ({"temperature": [1.0]}, "temperature not"),
    ({"temperature": [1.0, 0.0]}, "--temperature"),
    ({"temperature": [1.0, 1e308 * 10]}, "not UTF-8 JSON"),  # inf: no JSON number
    ({"renoise_scope": "everything"}, "--renoise-scope"),
    ({"seed": -1}, "seed not"),
    ({"seed": 2**32}, "seed not"),
    ({"plain": 1}, "plain not"),
    ({"extra": 1}, "exactly"),
])
def test_a_hostile_decode_request_is_malformed(prior, changes, error):
    frames = message_frames(ReceivedMessage.whole(build_message(), 3), prior, REQUEST)
    with pytest.raises(MessageError, match=error):
        parse_request(_asking(frames, **changes), prior)


def test_a_decode_request_must_give_every_field(prior):
    frames = message_frames(ReceivedMessage.whole(build_message(), 3), prior, REQUEST)
    header = json.loads(frames[0])
    del header["decoder"]["seed"]
    with pytest.raises(MessageError, match="exactly"):
        parse_request([json.dumps(header).encode(), *frames[1:]], prior)
    with pytest.raises(MessageError, match="takes 1 to 31"):
        parse_request(frames, prior, max_steps=31)


@FUZZ
@given(request=st.one_of(
    st.none(), st.integers(), st.lists(st.integers(), max_size=2),
    st.fixed_dictionaries({name: st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                                           st.text(max_size=6), st.lists(st.floats(allow_nan=False), max_size=3))
                           for name in REQUEST.as_dict()})))
def test_fuzz_decode_requests(prior, request):
    frames = message_frames(ReceivedMessage.whole(build_message(), 3), prior)
    header = {**json.loads(frames[0]), "decoder": request}
    try:
        parse_request([json.dumps(header).encode(), *frames[1:]], prior)
    except MessageError:
        pass
