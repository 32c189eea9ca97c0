"""The decoder service on loopback with the tiny model set: real messages, garbage, overload."""

from __future__ import annotations

import contextlib
import json
import threading

import numpy as np
import pytest
import zmq

from lamigo.errors import ConfigError
from lamigo.images import to_uint8
from lamigo.lami import DecoderSettings
from lamigo.link import LinkConfig, PacketKind, Reassembler, packetize
from lamigo.masking import make_policy
from lamigo.message import Geometry, GOMessage, ReceivedMessage
from lamigo.service import (
    CurveKeys,
    DecodeRequest,
    DecoderService,
    ServiceConfig,
    connect_sender,
    make_curve_keys,
    message_frames,
    png_to_image,
    receive_reply,
    receive_result,
    send_message,
)
from lamigo.service.server import REFUSALS_PER_SECOND
from lamigo.service.wire import Refusal

from .conftest import CAPTION, HANDSHAKE_FAILED, SIZE, Monitor, subscribe_results


def lossy_frames(message: GOMessage, message_id: int) -> list[bytes]:
    """Frames of `message` after the link lost its first index packet."""
    packets = packetize(message, message_id, LinkConfig(max_payload=40))
    dropped = next(p for p in packets if p.kind == PacketKind.INDICES)
    reassembler = Reassembler()
    for packet in packets:
        if packet is not dropped:
            reassembler.push(packet.to_bytes())
    (received,) = reassembler.flush()
    assert received.link.tokens_lost > 0
    return message_frames(received)


def frames_of(message: GOMessage, message_id: int, **info) -> list[bytes]:
    return message_frames(ReceivedMessage.whole(message, message_id, **info))


def foreign_frames(geometry: Geometry, message_id: int) -> list[bytes]:
    """Well-formed frames this service's model cannot decode."""
    policy = make_policy("none")
    indices = np.zeros(geometry.latent_shape, dtype=np.int64)
    return frames_of(GOMessage(geometry, policy, policy.select(geometry.latent_shape), indices), message_id)


def test_decodes_batches_publishes_and_survives_garbage(
    start_service, make_message, context, addresses, tmp_path
):
    messages_address, results_address = addresses
    config = ServiceConfig(listen=messages_address, publish=results_address, batch_size=3, batch_wait=5.0,
                           max_tokens=16 * 16, max_messages=3, out_dir=tmp_path / "out")
    running = start_service(config)
    results = subscribe_results(context, results_address)
    sender = connect_sender(context, messages_address)
    message = make_message()
    garbage = [
        [b"not a message"],
        [b"{}", b"", b""],
        [b'{"wire": 1, "kind": "go-message", "message_id": 1}', b"", b""],
        frames_of(message, 5)[:2] + [b"\x00"],  # lost map of the wrong size
        foreign_frames(Geometry(64, 64, 16, 16, 1024), 6),  # another codebook
        foreign_frames(Geometry(24, 24, 6, 6, 512), 7),  # a latent the denoiser cannot take
    ]
    for frames in garbage:
        send_message(sender, frames, timeout=5)
    send_message(sender, frames_of(make_message(size=(128, 128)), 8), timeout=5)  # oversized
    # Three messages of one geometry arriving together make one batch; a lossy one among them.
    send_message(sender, frames_of(message, 10, source="test"), timeout=5)
    send_message(sender, lossy_frames(message, 11), timeout=5)
    send_message(sender, frames_of(make_message(seed=1), 12), timeout=5)

    records = {}
    for _ in range(3):
        record, png = receive_result(results, timeout=30)
        records[record["message_id"]] = record
        assert png_to_image(png).shape == (*SIZE, 3)
    stats = running.finish()

    assert sorted(records) == [10, 11, 12]
    assert all(record["batch_size"] == 3 for record in records.values())
    first = records[10]
    assert (first["height"], first["width"], first["steps"], first["renoise"]) == (64, 64, 2, 1)
    assert first["tokens"] == 256 and first["tokens_masked_by_policy"] == int(message.mask.sum())
    assert first["tokens_lost"] == 0 and records[11]["tokens_lost"] > 0
    assert records[11]["link"]["packets_received"] == records[11]["link"]["packets_expected"] - 1
    assert first["link"] is None and first["info"] == {"source": "test"} and first["caption"] == CAPTION
    assert first["decode_seconds"] > 0 and first["model_set"] == "tiny"
    assert (stats.received, stats.malformed, stats.oversized) == (10, 6, 1)
    assert (stats.decoded, stats.batches, stats.dropped, stats.failed) == (3, 1, 0, 0)
    written = json.loads((tmp_path / "out" / "11.json").read_text())
    assert written["tokens_lost"] == records[11]["tokens_lost"]
    assert png_to_image((tmp_path / "out" / "11.png").read_bytes()).shape == (*SIZE, 3)


def test_a_nan_in_a_header_is_malformed_not_fatal(start_service, make_message, context, addresses):
    """Regression: NaN passed json.loads and then failed publishing outside the decode guard,
    which ended the service."""
    messages_address, results_address = addresses
    running = start_service(ServiceConfig(listen=messages_address, publish=results_address, batch_size=1,
                                          batch_wait=0.0))
    results = subscribe_results(context, results_address)
    sender = connect_sender(context, messages_address)
    frames = frames_of(make_message(), 1, source="x")
    send_message(sender, [frames[0].replace(b'"x"', b"NaN"), *frames[1:]], timeout=5)
    send_message(sender, frames_of(make_message(), 2), timeout=5)
    record, _ = receive_result(results, timeout=30)
    stats = running.finish()
    assert record["message_id"] == 2
    assert (stats.malformed, stats.decoded, stats.failed) == (1, 1, 0)


def test_a_frame_over_zmqs_limit_is_counted(start_service, make_message, context, addresses):
    """Regression: ZMQ drops a frame far over the limit with its connection, and it went
    uncounted. The connection's end is counted now; the service goes on."""
    messages_address, results_address = addresses
    running = start_service(ServiceConfig(listen=messages_address, publish=results_address, batch_size=1,
                                          batch_wait=0.0, max_message_bytes=1000))
    results = subscribe_results(context, results_address)
    flooder = connect_sender(context, messages_address)
    flooder.send_multipart([b"{}", bytes(200_000), b""])  # over 8 x 1000 + 64 KiB: ZMQ's limit
    running.wait_for(lambda stats: stats.connections_dropped >= 1)
    flooder.close(linger=0)
    send_message(connect_sender(context, messages_address), frames_of(make_message(), 2), timeout=5)
    record, _ = receive_result(results, timeout=30)
    stats = running.finish()
    assert record["message_id"] == 2
    assert stats.received == 1 and stats.connections_dropped >= 1


def one_at_a_time(start_service, context, addresses, decoder=None):
    """A service decoding one message at a time, subscribed to: (running, results, sender)."""
    messages_address, results_address = addresses
    running = start_service(ServiceConfig(listen=messages_address, publish=results_address, batch_size=1,
                                          batch_wait=0.0), decoder)
    results = subscribe_results(context, results_address)
    return running, results, connect_sender(context, messages_address)


def test_refused_messages_are_answered_at_a_bounded_rate(start_service, make_message, context, addresses):
    """A sender of another model set learns why from a refusal; a flood of such messages is not
    echoed beyond REFUSALS_PER_SECOND, and a good message after it is decoded."""
    running, results, sender = one_at_a_time(start_service, context, addresses)
    flood = 10 * REFUSALS_PER_SECOND
    for message_id in range(flood):
        send_message(sender, foreign_frames(Geometry(64, 64, 16, 16, 1024), message_id), timeout=5)
    send_message(sender, frames_of(make_message(), 9999), timeout=5)
    replies = [receive_reply(results, timeout=30)]
    while isinstance(replies[-1], Refusal):
        replies.append(receive_reply(results, timeout=30))
    stats = running.finish()
    with contextlib.suppress(TimeoutError):  # refusals published after the result, up to the stop
        while True:
            replies.append(receive_reply(results, timeout=1))
    refusals = [reply for reply in replies if isinstance(reply, Refusal)]
    assert [reply[0]["message_id"] for reply in replies if not isinstance(reply, Refusal)] == [9999]
    reason = "message uses a codebook of 1024, this receiver's model 512: use the same model set on both ends"
    assert {(refusal.reason, refusal.counter, refusal.model_set) for refusal in refusals} == {(reason, "malformed", "tiny")}
    assert all(0 <= refusal.message_id < flood for refusal in refusals)
    assert REFUSALS_PER_SECOND <= len(refusals) == stats.refusals_sent < flood
    assert stats.refusals_sent + stats.refusals_unsent == stats.malformed == flood


def test_a_failed_batch_is_answered(start_service, decoder, make_message, context, addresses):
    running, results, sender = one_at_a_time(start_service, context, addresses, FailingDecoder(decoder, fails=4))
    send_message(sender, frames_of(make_message(), 4), timeout=5)
    refusal = receive_reply(results, timeout=30)
    stats = running.finish()
    assert refusal == Refusal(4, "decoding its batch failed: RuntimeError: CUDA error: an illegal memory access was "
                                 "encountered", "failed", "tiny")
    assert (stats.failed, stats.refusals_sent) == (1, 1)


class GatedDecoder:
    """The real decoder, held at each batch until the test opens the gate (to build a backlog)."""

    def __init__(self, decoder):
        self.decoder = decoder
        self.gate = threading.Event()
        self.entered = threading.Event()

    def __getattr__(self, name):
        return getattr(self.decoder, name)

    def decode_messages(self, *args, **kwargs):
        self.entered.set()
        assert self.gate.wait(20)
        return self.decoder.decode_messages(*args, **kwargs)


def test_full_queue_drops_the_oldest(start_service, decoder, make_message, context, addresses):
    messages_address, results_address = addresses
    gated = GatedDecoder(decoder)
    config = ServiceConfig(listen=messages_address, publish=results_address, batch_size=2, batch_wait=0.0,
                           queue_size=2)
    running = start_service(config, gated)
    results = subscribe_results(context, results_address)
    sender = connect_sender(context, messages_address)
    frames = [frames_of(make_message(), n) for n in range(6)]
    send_message(sender, frames[0], timeout=5)
    assert gated.entered.wait(20)  # message 0 is being decoded; 1..5 meet a queue of 2
    for item in frames[1:]:
        send_message(sender, item, timeout=5)
    running.wait_for(lambda stats: stats.received == 6)
    gated.gate.set()
    received = sorted(receive_result(results, timeout=30)[0]["message_id"] for _ in range(3))
    stats = running.finish()
    assert received == [0, 4, 5]
    assert (stats.dropped, stats.decoded) == (3, 3)


def test_services_share_one_push_stream(start_service, make_message, context, tmp_path):
    """Scaling out: the sender binds PUSH, two services connect to it, results meet at one SUB."""
    sender = context.socket(zmq.PUSH)
    joined = Monitor(sender, zmq.EVENT_HANDSHAKE_SUCCEEDED)
    sender.bind(f"ipc://{tmp_path}/stream")
    collector = context.socket(zmq.SUB)
    collector.subscribe(b"")
    subscribed = Monitor(collector, zmq.EVENT_HANDSHAKE_SUCCEEDED)
    collector.bind(f"ipc://{tmp_path}/collect")
    services = [
        start_service(ServiceConfig(listen=None, connect=(f"ipc://{tmp_path}/stream",), publish=None,
                                    publish_connect=(f"ipc://{tmp_path}/collect",), batch_size=2,
                                    batch_wait=0.2))
        for _ in range(2)
    ]
    joined.wait(zmq.EVENT_HANDSHAKE_SUCCEEDED, count=2)  # both services connected, so PUSH spreads over both
    subscribed.wait(zmq.EVENT_HANDSHAKE_SUCCEEDED, count=2)
    message = make_message()
    for message_id in range(4):
        send_message(sender, frames_of(message, message_id), timeout=5)
    received = sorted(receive_result(collector, timeout=30)[0]["message_id"] for _ in range(4))
    per_service = [running.finish().decoded for running in services]
    joined.close()
    subscribed.close()
    assert received == [0, 1, 2, 3]
    assert per_service == [2, 2]


def test_curve_admits_only_known_clients(start_service, make_message, context, tmp_path):
    keys = make_curve_keys(tmp_path / "keys")
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "client.key").write_bytes(keys["client"].read_bytes())
    service_keys = CurveKeys(keys["server_secret"], allowed_clients=allowed)
    running = start_service(ServiceConfig(listen="tcp://127.0.0.1:*", publish="tcp://127.0.0.1:*",
                                          batch_wait=0.0, curve=service_keys))
    service = running.service
    client_keys = CurveKeys(keys["client_secret"], server_key=keys["server"])
    results = subscribe_results(context, service.results_endpoint, curve=client_keys)
    frames = frames_of(make_message(), 1)
    stranger = make_curve_keys(tmp_path / "stranger")
    refused = []
    for curve in (CurveKeys(stranger["client_secret"], server_key=keys["server"]), None):  # intruder, plain
        socket = context.socket(zmq.PUSH)
        if curve is not None:
            curve.apply_client(socket)
        refused.append((socket, Monitor(socket, HANDSHAKE_FAILED | zmq.EVENT_HANDSHAKE_SUCCEEDED)))
        socket.connect(service.messages_endpoint)
        socket.send_multipart(frames)  # queued on its side, never admitted
    send_message(connect_sender(context, service.messages_endpoint, curve=client_keys),
                 frames_of(make_message(), 2), timeout=5)
    record, _ = receive_result(results, timeout=30)
    for socket, monitor in refused:  # each refused: ZMQ does not try again after a refusal
        monitor.wait(HANDSHAKE_FAILED)
    stats = running.finish()
    for socket, monitor in refused:  # and never admitted, however late (a handshake would show)
        assert monitor.drain()[zmq.EVENT_HANDSHAKE_SUCCEEDED] == 0
        monitor.close()
        socket.close(linger=0)
    assert record["message_id"] == 2
    assert (stats.received, stats.decoded) == (1, 1)


class FailingDecoder(GatedDecoder):
    """The real decoder, except that the batch holding message `fails` raises."""

    def __init__(self, decoder, fails: int):
        super().__init__(decoder)
        self.fails = fails

    def decode_messages(self, messages, *args, **kwargs):
        if any(item.message_id == self.fails for item in messages):
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return self.decoder.decode_messages(messages, *args, **kwargs)


def test_a_decoder_that_raises_is_counted_and_the_service_goes_on(start_service, decoder, make_message, context,
                                                                   addresses):
    messages_address, results_address = addresses
    running = start_service(ServiceConfig(listen=messages_address, publish=results_address, batch_size=1,
                                          batch_wait=0.0), FailingDecoder(decoder, fails=1))
    results = subscribe_results(context, results_address)
    sender = connect_sender(context, messages_address)
    for message_id in (1, 2):
        send_message(sender, frames_of(make_message(), message_id), timeout=5)
    record, _ = receive_result(results, timeout=30)
    stats = running.finish()
    assert record["message_id"] == 2
    assert (stats.received, stats.failed, stats.decoded, stats.batches) == (2, 1, 1, 1)


def test_the_receive_threads_own_errors_are_counted_and_it_goes_on(start_service, make_message, context, addresses,
                                                                   monkeypatch):
    """A bug met by one message (not a MessageError) inside the receiving thread."""
    import lamigo.service.server as server

    parse = server.parse_request

    def buggy(frames, *args, **kwargs):
        if frames[0] == b"trigger":
            raise IndexError("a bug in a parser")
        return parse(frames, *args, **kwargs)

    monkeypatch.setattr(server, "parse_request", buggy)
    messages_address, results_address = addresses
    running = start_service(ServiceConfig(listen=messages_address, publish=results_address, batch_size=1,
                                          batch_wait=0.0))
    results = subscribe_results(context, results_address)
    sender = connect_sender(context, messages_address)
    send_message(sender, [b"trigger"], timeout=5)
    send_message(sender, frames_of(make_message(), 4), timeout=5)
    record, _ = receive_result(results, timeout=30)
    stats = running.finish()
    assert record["message_id"] == 4
    assert (stats.received, stats.malformed, stats.decoded) == (2, 1, 1)


def test_an_unwritable_result_file_loses_the_file_not_the_result(start_service, make_message, context, addresses,
                                                                  tmp_path, caplog):
    out = tmp_path / "out"
    (out / "5.png").mkdir(parents=True)  # a folder where message 5's file goes: writing it fails
    messages_address, results_address = addresses
    running = start_service(ServiceConfig(listen=messages_address, publish=results_address, batch_size=1,
                                          batch_wait=0.0, out_dir=out))
    results = subscribe_results(context, results_address)
    sender = connect_sender(context, messages_address)
    for message_id in (5, 6):
        send_message(sender, frames_of(make_message(), message_id), timeout=5)
    received = sorted(receive_result(results, timeout=30)[0]["message_id"] for _ in range(2))
    stats = running.finish()
    assert received == [5, 6] and (stats.decoded, stats.failed) == (2, 0)
    assert not (out / "5.json").exists() and (out / "6.png").is_file() and (out / "6.json").is_file()
    assert "cannot write the result of message 5" in caplog.text


def test_an_output_folder_that_cannot_be_made_is_a_config_error(decoder, tmp_path):
    (tmp_path / "a-file").write_bytes(b"")
    with pytest.raises(ConfigError, match="cannot (create|use) output folder"):
        DecoderService(decoder, ServiceConfig(out_dir=tmp_path / "a-file" / "out"))


class RefusingPublisher:
    """The service's PUB socket, refusing its first `refusals` sends as a full queue does."""

    def __init__(self, socket, refusals: int):
        self.socket, self.refusals, self.refused = socket, refusals, 0

    def __getattr__(self, name):
        return getattr(self.socket, name)

    def send_multipart(self, frames, flags=0):
        if self.refused < self.refusals:
            self.refused += 1
            raise zmq.Again()
        return self.socket.send_multipart(frames, flags)


def test_a_failed_publish_is_logged_and_the_next_result_goes_out(start_service, make_message, context, addresses,
                                                                 caplog):
    messages_address, results_address = addresses
    running = start_service(ServiceConfig(listen=messages_address, publish=results_address, batch_size=1,
                                          batch_wait=0.0))
    results = subscribe_results(context, results_address)
    publisher = running.service._pub = RefusingPublisher(running.service._pub, refusals=1)  # nothing sent yet
    sender = connect_sender(context, messages_address)
    for message_id in (7, 8):
        send_message(sender, frames_of(make_message(), message_id), timeout=5)
    record, _ = receive_result(results, timeout=30)
    stats = running.finish()
    assert record["message_id"] == 8 and publisher.refused == 1
    assert stats.decoded == 2  # decoded both; the first result found no room
    assert "result of message 7 not published" in caplog.text


def test_bad_configuration_is_a_config_error(decoder, tmp_path):
    with pytest.raises(ConfigError, match="batch size 8 exceeds the queue size 4"):
        ServiceConfig(queue_size=4)
    with pytest.raises(ConfigError, match="listen on or to connect to"):
        ServiceConfig(listen=None)
    with pytest.raises(ConfigError, match="size limits must be positive"):
        ServiceConfig(max_batch_tokens=0)
    with pytest.raises(ConfigError, match="CURVE key file not found"):
        CurveKeys(tmp_path / "missing.key_secret").apply_server(zmq.Context.instance().socket(zmq.PULL))


def test_results_are_written_into_out_dir_not_through_planted_links(start_service, make_message, context,
                                                                    addresses, tmp_path):
    """Regression: a symlink planted as OUT/7.png made the service overwrite the link's target."""
    messages_address, results_address = addresses
    out, target = tmp_path / "out", tmp_path / "precious"
    out.mkdir()
    target.write_bytes(b"precious")
    for name in ("7.png", "7.json"):
        (out / name).symlink_to(target)
    running = start_service(ServiceConfig(listen=messages_address, publish=results_address, batch_size=1,
                                          batch_wait=0.0, max_messages=1, out_dir=out))
    send_message(connect_sender(context, messages_address), frames_of(make_message(), 7), timeout=5)
    running.wait_for(lambda stats: stats.decoded == 1, timeout=60)
    running.finish()
    assert target.read_bytes() == b"precious"
    assert not (out / "7.png").is_symlink() and png_to_image((out / "7.png").read_bytes()).shape == (*SIZE, 3)
    assert json.loads((out / "7.json").read_text())["message_id"] == 7


def test_a_stop_abandons_the_batch_being_decoded(start_service, decoder, make_message, context, addresses):
    """A stop during a decode ends it within one layer; the batch and the queue are abandoned and
    counted, nothing is published or counted as failed."""
    messages_address, results_address = addresses
    config = ServiceConfig(listen=messages_address, publish=results_address, batch_size=1, batch_wait=0.0)
    running = start_service(config)
    entered, gate = threading.Event(), threading.Event()

    def hold(module, args):  # the decode waits inside its first forward pass until the stop is asked
        entered.set()
        assert gate.wait(20)

    held = decoder.models.denoiser.register_forward_pre_hook(hold)
    try:
        sender = connect_sender(context, messages_address)
        for n in range(3):
            send_message(sender, frames_of(make_message(), n), timeout=5)
        assert entered.wait(20)
        running.wait_for(lambda stats: stats.received == 3)
        running.service.stop()
        gate.set()
        stats = running.finish()
    finally:
        held.remove()
    assert (stats.received, stats.abandoned, stats.decoded, stats.failed, stats.batches) == (3, 3, 0, 0, 0)


def test_the_token_budget_bounds_a_batch(start_service, make_message, context, addresses):
    messages_address, results_address = addresses
    tokens = (SIZE[0] // 4) * (SIZE[1] // 4)
    config = ServiceConfig(listen=messages_address, publish=results_address, batch_size=4, batch_wait=5.0,
                           max_batch_tokens=2 * tokens + 1)
    running = start_service(config)
    results = subscribe_results(context, results_address)
    sender = connect_sender(context, messages_address)
    for n in range(4):
        send_message(sender, frames_of(make_message(), n), timeout=5)
    records = [receive_result(results, timeout=60)[0] for _ in range(4)]
    stats = running.finish()
    assert [record["batch_size"] for record in records] == [2, 2, 2, 2]  # full at 2, not after 5 s
    assert (stats.batches, stats.decoded) == (2, 4)


def test_each_message_is_decoded_with_the_settings_it_asks_for(start_service, decoder, make_message, context,
                                                                 addresses):
    """Messages asking for other settings than the service's are batched apart and each decoded
    as the in-process decoder decodes it with those settings; one asking for too many steps is
    malformed, and the others go on."""
    messages_address, results_address = addresses
    running = start_service(ServiceConfig(listen=messages_address, publish=results_address, batch_size=4,
                                          batch_wait=1.0, max_steps=6, seed=5))
    results = subscribe_results(context, results_address)
    sender = connect_sender(context, messages_address)
    message = make_message()
    guided = DecodeRequest(DecoderSettings(steps=3, renoise=2, cfg=2.0, cfg_steps=1, seed=11))
    plain = DecodeRequest(DecoderSettings(steps=2, renoise=0, cfg=1.0, renoise_scope="all", seed=3), plain=True)
    asks = {1: guided, 2: plain, 3: None, 4: guided, 5: DecodeRequest(DecoderSettings(steps=7, renoise=1))}
    for message_id, request in asks.items():
        send_message(sender, message_frames(ReceivedMessage.whole(message, message_id), None, request), timeout=5)
    records = {}
    for _ in range(4):
        record, png = receive_result(results, timeout=30)
        records[record["message_id"]] = record, png_to_image(png)
    stats = running.finish()
    assert sorted(records) == [1, 2, 3, 4] and (stats.malformed, stats.decoded) == (1, 4)
    assert [records[message_id][0]["batch_size"] for message_id in (1, 2, 3, 4)] == [2, 1, 1, 2]
    for message_id, request in asks.items():
        if message_id == 5:
            continue
        record, image = records[message_id]
        if request is None:  # the service's own settings and seed
            alone = decoder.decode_messages([message], seed=5)
            assert (record["steps"], record["seed"], record["plain"]) == (2, 5, False)
        else:
            alone = decoder.decode_messages([message], settings=request.settings, plain=request.plain)
            assert {name: record[name] for name in request.as_dict()} == request.as_dict()
        np.testing.assert_array_equal(image, to_uint8(alone.images)[0])
