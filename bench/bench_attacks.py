"""Attacks on the receiver: what each rejected input costs, and whether the receiver still works.

For every attack of issues 14 and 25 the crafted inputs (each at most 1 KB unless the attack is a
flood) go to the part that meets them off the air or the wire: the link reassembler (the GO
Depacketizer's core), the classical file receiver (the Classical Receiver's core, each file
handed to the codec's receiver as the block does), the service's frame parser, the decoder client's PDU conversion, or
`unpack_message` as `lamigo decode` calls it. Per rejected input it prints the CPU time and the
peak of memory allocated while handling it (tracemalloc: Python and numpy), and whether the
next good message, sent right after to the same receiver, still came out intact. The peer row
is that good message's own cost, measured in the same run. At the end a decoder service (tiny
model set) takes every service attack and then a good message, and is stopped with 64 crafted
messages still queued, to time the shutdown.

    .venv/bin/python bench/bench_attacks.py
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterable

import numpy as np

from lamigo.coding.wire import Writer
from lamigo.errors import LamigoError
from lamigo.link import LinkConfig, LinkKey, Packet, PacketKind, PacketSealer, Reassembler, packetize
from lamigo.link.classical import FileReceiver, _HeaderBlock
from lamigo.link.control import encode_link_control
from lamigo.link.fec import protect_control
from lamigo.masking import make_policy
from lamigo.message import Geometry, GOMessage, ReceivedMessage, ReceiverLimits, unpack_message
from lamigo.message.format import MAGIC, VERSION, crc32
from lamigo.classical import Encoded
from lamigo.link.classical import packetize_file
from lamigo.service.wire import message_frames, parse_frames, pdu_frames

GEOMETRY = Geometry(64, 64, 16, 16, 512)
HUGE = (16384, 16384, 4096, 4096, 512)
CAPTION = "a cup of coffee on a saucer"


def good_message(seed: int = 0) -> GOMessage:
    rng = np.random.default_rng(seed)
    policy = make_policy("prm", ratio=0.25, seed=seed)
    mask = policy.select(GEOMETRY.latent_shape)
    return GOMessage(GEOMETRY, policy, mask, rng.integers(0, 512, GEOMETRY.latent_shape), CAPTION)


def control_part(sizes: Iterable[int], policy: int, policy_bytes: bytes) -> bytes:
    """A GO message control part written byte by byte, as an attacker would."""
    out = Writer()
    out.raw(MAGIC)
    out.u8(VERSION)  # the current version, so the geometry check (not the version's) meets it
    out.u8(0x11)
    out.u8(policy)
    for value in sizes:
        out.varint(value)
    out.u16(0)
    out.raw(policy_bytes)
    return out.getvalue()


PRM_EMPTY = b"\x00" + bytes(4)  # masked count 0, seed 0
EBM_TINY = b"\x04" + bytes(4)  # a 4-byte context-coded mask: decodes to any size


def control_packets(control: bytes, message_id: int = 1, tag: int = 5, index_groups: int = 1,
                    chunk_chars: tuple[int, ...] = (), count: int = 2) -> list[bytes]:
    block = encode_link_control(tag, control, "block", 0, index_groups, list(chunk_chars))
    return [Packet(message_id=message_id, tag=tag, seq=group, count=count, kind=PacketKind.CONTROL,
                   group=group, payload=chunk).to_bytes()
            for group, chunk in enumerate(protect_control(block, 105))]


def go_message_bytes(sizes: Iterable[int], policy: int, policy_bytes: bytes) -> bytes:
    out = Writer()
    out.raw(control_part(sizes, policy, policy_bytes))
    out.varint(0)
    out.blob(b"")
    out.blob(b"")
    out.u32(crc32(out.getvalue()))
    return out.getvalue()


@dataclasses.dataclass
class Row:
    attack: str
    target: str
    inputs: int
    input_bytes: int  # largest single input
    cpu_ms: float  # per rejected input
    peak_mb: float  # per rejected input (the largest)
    next_good: str


def measure(inputs: list, handle: Callable[[object], None]) -> tuple[float, float]:
    """(CPU ms per input, largest peak MB of one input)."""
    cpu, peak = 0.0, 0
    for item in inputs:
        tracemalloc.start()
        started = time.process_time()
        try:
            handle(item)
        except LamigoError:
            pass
        cpu += time.process_time() - started
        peak = max(peak, tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return 1000 * cpu / max(1, len(inputs)), peak / 2**20


def size_of(item) -> int:
    if isinstance(item, (bytes, bytearray)):
        return len(item)
    if isinstance(item, list):
        return sum(size_of(part) for part in item)
    if isinstance(item, tuple):
        return size_of(item[1])
    return 0


def reassembler_attack(name: str, packets: list[bytes], check: Callable[[Reassembler, ReceivedMessage], bool]
                       | None = None, *, key: LinkKey | None = None, sent_key: LinkKey | None = None,
                       **options) -> Row:
    reassembler = Reassembler(key=key, **options)
    cpu, peak = measure(packets, lambda data: reassembler.push(data))
    reassembler.flush()
    message = good_message(seed=3)
    good = [p.to_bytes(sent_key or key) for p in packetize(message, 2, LinkConfig(max_payload=60))]
    out = [m for data in good for m in reassembler.push(data)] + reassembler.flush()
    intact = len(out) == 1 and np.array_equal(out[0].message.indices, message.indices) and not out[0].lost.any()
    if check is not None:
        intact = intact and check(reassembler, out[0])
    return Row(name, "reassembler", len(packets), max(map(len, packets)), cpu, peak, "yes" if intact else "NO")


def interleaved_attack(name: str, genuine: list[Packet], junk: Callable[[int, Packet], list[bytes]], sent: GOMessage,
                       **options) -> Row:
    """Junk packets around each genuine one; the genuine message must come out intact."""
    reassembler = Reassembler(**options)
    stream, junk_count = [], 0
    for number, packet in enumerate(genuine):
        extra = junk(number, packet)
        junk_count += len(extra)
        stream += [(True, packet.to_bytes()), *((False, data) for data in extra)]
    out, cpu = [], 0.0
    tracemalloc.start()
    for is_genuine, data in stream:
        started = time.process_time()
        out += reassembler.push(data)
        if not is_genuine:
            cpu += time.process_time() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    out += reassembler.flush()
    mine = [m for m in out if np.array_equal(m.message.indices, sent.indices)]
    intact = len(mine) == 1 and not mine[0].lost.any()
    largest = max(len(data) for is_genuine, data in stream if not is_genuine)
    return Row(name, "reassembler", junk_count, largest, 1000 * cpu / junk_count, peak / 2**20,
               "yes" if intact else "NO")


def classical_attack(name: str, files: list[list[bytes]], **options) -> Row:
    """Each input a forged file's packets, to the Classical Receiver's core as its block
    receives them (every completed file goes to the codec's receiver, or a grey 256x256 image);
    then a good JPEG file must still arrive whole."""
    from lamigo.classical import get_baseline
    from lamigo.classical.received import failure

    receiver = FileReceiver(**options)

    def handle(packets: list[bytes]) -> None:
        files = [done for data in packets for done in receiver.push(data)] + receiver.flush()
        for done in files:
            if done.arrived is None:
                failure((256, 256), np.zeros(0, dtype=bool), done.note)
            else:
                done.arrived.receive()

    cpu, peak = measure(files, handle)
    jpeg = get_baseline("jpeg").encode(np.full((64, 64, 3), 90, np.uint8), 50)
    good = Encoded("jpeg", 50, jpeg, get_baseline("jpeg").header_length(jpeg), len(jpeg))
    out = [d for p in packetize_file(good, (64, 64), 5) for d in receiver.push(p.to_bytes())] + receiver.flush()
    intact = len(out) == 1 and out[0].arrived is not None and out[0].arrived.data == jpeg
    return Row(name, "classical rx", len(files), max(size_of(f) for f in files), cpu, peak, "yes" if intact else "NO")


def forged_header(shape: tuple[int, int], file_bytes: int = 500, tag: int = 1, count: int = 2) -> list[bytes]:
    block = _HeaderBlock(tag, "jpeg", shape, file_bytes, 100, b"\xff\xd8").to_bytes()
    return [Packet(message_id=0, tag=tag, seq=group, count=count, kind=PacketKind.CLASSICAL_HEADER, group=group,
                   payload=chunk).to_bytes() for group, chunk in enumerate(protect_control(block, 105))]


def wire_attack(name: str, frames: list[list[bytes]], limits: ReceiverLimits) -> Row:
    cpu, peak = measure(frames, lambda item: parse_frames(item, None, limits))
    good = parse_frames(message_frames(ReceivedMessage.whole(good_message(), 4)), None, limits)
    return Row(name, "service parser", len(frames), max(size_of(f) for f in frames), cpu, peak,
               "yes" if good.message_id == 4 else "NO")


def coding_control(codebook: int, coders: int, masked: int = 0) -> bytes:
    """A version-2 control part naming `codebook` (16x16 tokens, PRM with `masked` masked) and
    the uniform prior's fingerprint, which a receiver that holds no prior checks against."""
    from lamigo.coding.prior import IndexPrior
    from lamigo.message import VERSION

    out = Writer()
    out.raw(b"LG")
    out.u8(VERSION)
    out.u8(coders)
    out.u8(1)
    for value in (64, 64, 16, 16, codebook):
        out.varint(value)
    out.u16(IndexPrior.uniform(codebook).fingerprint)
    out.varint(masked)
    out.u32(0)
    return out.getvalue()


def coding_packets(codebook: int, coders: int, groups: int, message_id: int) -> list[bytes]:
    """A forged message: its control block and `groups` index packets of 27 junk bytes."""
    chunks = protect_control(encode_link_control(5, coding_control(codebook, coders), "block", 0, groups, []), 105)
    count = len(chunks) + groups
    packets = [Packet(message_id=message_id, tag=5, seq=i, count=count, kind=PacketKind.CONTROL, group=i,
                      payload=chunk) for i, chunk in enumerate(chunks)]
    packets += [Packet(message_id=message_id, tag=5, seq=len(chunks) + g, count=count, kind=PacketKind.INDICES,
                       group=g, payload=bytes(range(g, g + 27))) for g in range(groups)]
    return [packet.to_bytes() for packet in packets]


def coding_rows(n: int) -> list[Row]:
    """Issue 25, the coding rows: the codebook a message names where no model set fixes it
    (the tiny set's depacketizer, `lamigo inspect`), and the coder cache."""
    from lamigo.coding import index

    rows = []
    for name, coders in (("huffman", 0x11), ("range", 0x21)):
        for codebook, label in ((1 << 20, "2^20"), (1 << 13, "2^13 (the open bound)")):
            # A new K per message, so that no cached coder helps (as an attacker would vary it).
            messages = [coding_packets(codebook - k, coders, 4, 100 + k) for k in range(n)]
            reassembler = Reassembler()
            cpu, peak = measure(messages, lambda packets: [reassembler.push(data) for data in packets])
            sent = good_message(seed=3)
            out = [m for p in packetize(sent, 2, LinkConfig(max_payload=60)) for m in reassembler.push(p.to_bytes())]
            intact = len(out) == 1 and np.array_equal(out[0].message.indices, sent.indices)
            rows.append(Row(f"K = {label}, {name}, K open, ctrl + 4 x 27-B index", "reassembler", n,
                            sum(map(len, messages[0])), cpu, peak, "yes" if intact else "NO"))
    rows.append(Row("(for the above) coder cache held after them, MB", "reassembler", 0, 0, 0.0,
                    getattr(index, "cache_bytes", lambda: float("nan"))() / 2**20, "-"))
    forged = []
    for k in range(n):
        out = Writer()
        out.raw(coding_control((1 << 20) - k, 0x11))
        out.varint(0)
        out.blob(b"")
        out.blob(bytes(20))
        out.u32(crc32(out.getvalue()))
        forged.append(out.getvalue())
    cpu, peak = measure(forged, lambda data: unpack_message(data))
    rows.append(Row(f"{len(forged[0])}-byte message, K = 2^20, huffman", "lamigo inspect", n, len(forged[0]), cpu,
                    peak, "-"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20, metavar="N", help="crafted inputs per attack")
    parser.add_argument("--no-service", action="store_true", help="skip the live decoder service part")
    parser.add_argument("--coding-repeat", type=int, default=3, metavar="N",
                        help="forged messages per codebook attack (each took 8-11 s before issue 25)")
    parser.add_argument("--shutdown-cap", type=float, default=180.0, metavar="S",
                        help="give up waiting for `lamigo serve` to exit after SIGTERM after S seconds")
    args = parser.parse_args()
    logging.getLogger().addHandler(logging.NullHandler())  # counted below, not printed
    n = args.repeat
    rows: list[Row] = []

    # The peer: a good 64x64 message's packets through the reassembler.
    message = good_message()
    packets = [p.to_bytes() for p in packetize(message, 1, LinkConfig(max_payload=60))]
    reassembler = Reassembler()
    cpu, peak = measure(packets, lambda data: reassembler.push(data))
    rows.append(Row("(peer) a good message, per packet", "reassembler", len(packets), max(map(len, packets)),
                    cpu, peak, "-"))

    huge_prm = control_packets(control_part(HUGE, 1, PRM_EMPTY))
    huge_ebm = control_packets(control_part(HUGE, 3, EBM_TINY))
    rows.append(reassembler_attack("control claims 4096x4096, PRM", huge_prm * n))
    rows.append(reassembler_attack("control claims 4096x4096, EBM", huge_ebm * n))
    at_limit = control_packets(control_part((1024, 1024, 256, 256, 512), 3, EBM_TINY))
    rows.append(reassembler_attack("control claims 256x256 (the limit), EBM", at_limit * 3))
    rows.append(reassembler_attack(
        "control claims codebook 2^20 (cache growth)",
        [data for k in range(n) for data in control_packets(control_part((64, 64, 16, 16, (1 << 20) - k), 1,
                                                                         PRM_EMPTY), message_id=k + 10)],
        lambda r, _: True, limits=ReceiverLimits(codebook_size=512)))
    rows.append(reassembler_attack(
        "caption of 70,000 characters",
        control_packets(control_part((64, 64, 16, 16, 512), 1, PRM_EMPTY), chunk_chars=(70_000,)) * n))
    counted = good_message(seed=3)
    forged_count = dataclasses.replace(packetize(counted, 2, LinkConfig(max_payload=60))[1], count=65535, seq=9)
    rows.append(reassembler_attack("one packet claims count=65535", [forged_count.to_bytes()] * n))
    key = LinkKey(bytes(range(32)))
    unsigned = [p.to_bytes() for p in packetize(good_message(seed=5), 2, LinkConfig(max_payload=60))]
    rows.append(reassembler_attack("unsigned packets, link key on", unsigned, key=key))
    rows.append(reassembler_attack("random bytes", [bytes(np.random.default_rng(i).integers(0, 256, 100, np.uint8))
                                                    for i in range(n)]))

    first, second = good_message(seed=1), good_message(seed=2)
    a, b = packetize(first, 7), packetize(second, 7)
    rows.append(interleaved_attack("another message reuses the id", a, lambda i, p: [b[i].to_bytes()] if i < len(b)
                                   else [], first))
    other = good_message(seed=9)
    other = GOMessage(other.geometry, make_policy("prm", ratio=0.5, seed=9),
                      make_policy("prm", ratio=0.5, seed=9).select(GEOMETRY.latent_shape), other.indices, "x")
    forged_control = packetize(other, 3)[0].payload
    genuine = packetize(first, 3)
    rows.append(interleaved_attack(
        "forged control copy with the genuine tag, first", genuine,
        lambda i, p: [dataclasses.replace(p, payload=forged_control).to_bytes()] if i == 0 else [], first))
    junk_index = next(p for p in genuine if p.kind == PacketKind.INDICES)
    rows.append(interleaved_attack(
        "16 foreign-id packets per real packet", genuine,
        lambda i, p: [dataclasses.replace(junk_index, message_id=100 + j, tag=i).to_bytes() for j in range(16)],
        first, max_in_flight=16))

    # Issue 25: what one forged packet (or a few) could still cost.
    rng = np.random.default_rng(25)
    junk_controls = [Packet(message_id=5, tag=9, seq=seq, count=65535, kind=PacketKind.CONTROL, group=0,
                            payload=rng.integers(0, 256, 105, dtype=np.uint8).tobytes()).to_bytes()
                     for seq in range(200)]
    rows.append(reassembler_attack("200 junk control copies of one message and group", junk_controls))
    seqs = iter(range(65535))
    rows.append(interleaved_attack(
        "40 junk control copies after each genuine packet", genuine,
        lambda i, p: [Packet(message_id=5, tag=9, seq=next(seqs), count=65535, kind=PacketKind.CONTROL, group=0,
                             payload=rng.integers(0, 256, 105, dtype=np.uint8).tobytes()).to_bytes()
                      for _ in range(40)], first))
    live = packetize(first, 3, LinkConfig(max_payload=60))
    half = len(live) // 2
    control_only = [p.to_bytes() for k in range(16) for p in packetize(good_message(seed=40 + k), 200 + k)
                    if p.kind == PacketKind.CONTROL]
    rows.append(interleaved_attack(
        "16 forged control-only messages mid-message (no key)", live,
        lambda i, p: control_only if i == half else [], first))
    sealer = PacketSealer(key)
    old = [sealer.seal(p) for p in packetize(second, 1, LinkConfig(max_payload=60))]
    replayed = [data for data in old if data[1] == PacketKind.CONTROL] * 16
    stream = [sealer.seal(p) for p in live]
    keyed = Reassembler(key=key)
    out = [m for data in old for m in keyed.push(data)]
    keyed.collector.done.clear()  # the replayed message forgotten by the late-packet memory
    started = time.process_time()
    for data in replayed:
        out += keyed.push(data)
    replay_cpu = time.process_time() - started
    out += [m for data in stream for m in keyed.push(data)] + keyed.flush()
    intact = [m.message_id for m in out] == [1, 3] and not out[1].lost.any()
    rows.append(Row(f"16 replays of a message's control packets (key; {keyed.stats.replayed} dropped)",
                    "reassembler", len(replayed), max(map(len, replayed)), 1000 * replay_cpu / len(replayed), 0.0,
                    "yes" if intact else "NO"))
    rows.append(classical_attack("classical header claims 16384x16384", [forged_header((16384, 16384))] * 3))
    rows.append(classical_attack("classical header claims 65535x65535", [forged_header((65535, 65535))] * 3))
    data_flood = forged_header((64, 64), file_bytes=1 << 20, count=65535) + [
        Packet(message_id=0, tag=1, seq=seq, count=65535, kind=PacketKind.CLASSICAL_DATA, group=seq,
               payload=bytes(1000)).to_bytes() for seq in range(3, 3000)]
    rows.append(classical_attack("3,000 data packets of one file (1 KB each)", [data_flood]))

    # A flood: how many log lines do 200,000 junk packets cost?
    lines = []
    handler = logging.Handler()
    handler.emit = lines.append
    logging.getLogger("lamigo").addHandler(handler)
    flood = Reassembler(max_in_flight=4)
    started = time.process_time()
    for i in range(20_000):
        for data in control_packets(control_part(HUGE, 1, PRM_EMPTY), message_id=i % 65536, count=1):
            flood.push(data)
    flood_cpu = time.process_time() - started
    logging.getLogger("lamigo").removeHandler(handler)
    rows.append(Row(f"flood: 20,000 refused messages ({len([r for r in lines if r.levelno >= logging.WARNING])} "
                    "warnings logged)", "reassembler", 20_000, len(huge_prm[0]), 1000 * flood_cpu / 20_000, 0.0, "-"))

    limits = ReceiverLimits(codebook_size=512, latent_multiple=8)
    good_frames = message_frames(ReceivedMessage.whole(good_message(), 1))
    nan_header = good_frames[0].replace(b'"message_id":1', b'"message_id":1,"info":{"x":NaN}')
    rows.append(wire_attack("header with NaN", [[nan_header, *good_frames[1:]]] * n, limits))
    rows.append(wire_attack("message id 2^63", [[good_frames[0].replace(b'"message_id":1', b'"message_id":'
                                                                      + str(2**63).encode()), *good_frames[1:]]] * n,
                            limits))
    huge_go = go_message_bytes(HUGE, 3, EBM_TINY)
    rows.append(wire_attack(f"{len(huge_go)}-byte EBM message claims 4096x4096",
                            [[good_frames[0], huge_go, b""]] * n, limits))
    limit_go = go_message_bytes((1024, 1024, 256, 256, 512), 3, EBM_TINY)
    rows.append(wire_attack(f"{len(limit_go)}-byte EBM message claims 256x256 (the limit)",
                            [[good_frames[0], limit_go, b""]] * 3, ReceiverLimits(codebook_size=512)))
    rows.append(wire_attack("another codebook (1024)", [[good_frames[0], go_message_bytes((64, 64, 16, 16, 1024), 1,
                                                                                        PRM_EMPTY), b""]] * n, limits))

    bad_meta = [{"message_id": 1, "x": float("nan")}, {1: "key"}, {"message_id": 2**63}]
    cpu, peak = measure([(meta, good_frames[1]) for meta in bad_meta] * n, lambda item: pdu_frames(*item))
    ok = pdu_frames({"message_id": 3}, good_frames[1])[1] == good_frames[1]
    rows.append(Row("PDU metadata: NaN, non-string key, id 2^63", "decoder client", 3 * n, len(good_frames[1]),
                    cpu, peak, "yes" if ok else "NO"))

    decode_limits = ReceiverLimits(codebook_size=512, latent_multiple=8)
    huge_prm_message = go_message_bytes(HUGE, 1, PRM_EMPTY)
    cpu, peak = measure([huge_prm_message] * n, lambda data: unpack_message(data, None, decode_limits.check))
    rows.append(Row(f"{len(huge_prm_message)}-byte PRM message claims 4096x4096", "lamigo decode", n,
                    len(huge_prm_message), cpu, peak, "-"))

    rows += coding_rows(max(1, min(n, args.coding_repeat)))

    rows += result_attacks(max(1, n // 4))
    worst = worst_service_message()
    service_limits = ReceiverLimits(codebook_size=512, latent_multiple=8)
    rows.append(wire_attack(f"{len(worst)}-byte message claims 1024x1024, all masked (accepted)",
                            [[good_frames[0], worst, b""]] * n, service_limits))
    over = worst_service_message(2048)
    rows.append(wire_attack(f"{len(over)}-byte message claims 2048x2048, all masked", [[good_frames[0], over, b""]] * n,
                            service_limits))
    print(f"{'attack':<52} {'target':<15} {'inputs':>7} {'bytes':>6} {'CPU ms':>8} {'peak MB':>8} next good")
    for row in rows:
        print(f"{row.attack:<52} {row.target:<15} {row.inputs:>7} {row.input_bytes:>6} {row.cpu_ms:>8.3f} "
              f"{row.peak_mb:>8.2f} {row.next_good}")
    print("CPU ms and peak MB: per rejected input (the peer: per packet of a good 64x64 message); "
          "next good: a good message sent next to the same receiver came out intact")
    for line in file_attacks():
        print(line)
    if not args.no_service:
        service_check(good_frames, huge_go, nan_header)
        seconds, summary = cli_shutdown(cap=args.shutdown_cap)
        print(f"lamigo serve (tiny, CPU) decoding {len(worst_service_message())}-byte messages that claim "
              f"1024x1024, 64 sent: SIGTERM -> exit {seconds:.2f} s ({summary})")


def service_check(good_frames: list[bytes], huge_go: bytes, nan_header: bytes) -> None:
    """A live service (tiny models) takes every service attack, then a good message; then 64
    crafted messages are queued and the service is stopped (as SIGTERM does)."""
    import zmq

    from lamigo.lami import DecoderSettings, LaMIDecoder
    from lamigo.zoo.sets import load_model_set
    from lamigo.service import DecoderService, ServiceConfig, connect_results, connect_sender, receive_result

    import tempfile
    from pathlib import Path

    context = zmq.Context()
    decoder = LaMIDecoder(load_model_set("tiny"), DecoderSettings(steps=2, renoise=1))
    folder = tempfile.TemporaryDirectory()
    out, target = Path(folder.name) / "out", Path(folder.name) / "precious"
    out.mkdir()
    target.write_bytes(b"precious")
    (out / "1.png").symlink_to(target)  # planted where the good message's result goes
    config = ServiceConfig(listen="tcp://127.0.0.1:*", publish="tcp://127.0.0.1:*", batch_size=1, batch_wait=0,
                           out_dir=out)
    service = DecoderService(decoder, config, model_set="tiny", context=context)
    service.bind()
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    results = connect_results(context, service.results_endpoint)
    time.sleep(0.3)
    sender = connect_sender(context, service.messages_endpoint)
    attacks = [[nan_header, *good_frames[1:]], [good_frames[0], huge_go, b""], [b"junk"],
               [good_frames[0].replace(b'"message_id":1', b'"message_id":' + str(2**63).encode()), *good_frames[1:]]]
    for frames in attacks:
        sender.send_multipart(frames)
    sender.send_multipart(good_frames)
    record, _ = receive_result(results, timeout=60)
    stats = service.stats
    print(f"service: {stats.malformed} malformed and {stats.oversized} oversized of {len(attacks)} attacks, "
          f"then the good message decoded: {record['message_id'] == 1}")
    time.sleep(0.2)  # its files are written after it is published
    print("serve --out DIR, DIR/1.png a link to a file: target overwritten: "
          f"{'no' if target.read_bytes() == b'precious' else 'yes'}")
    for _ in range(64):
        sender.send_multipart([good_frames[0], worst_service_message(), b""])
    time.sleep(2.0)  # the first is being decoded
    started = time.monotonic()
    service.stop()
    thread.join(300)
    print(f"service stopped {time.monotonic() - started:.2f} s after stop() with 64 accepted 1024x1024 messages "
          f"queued (alive: {thread.is_alive()}; {service.stats.abandoned} abandoned)")
    sender.close(0)
    results.close(0)
    context.term()
    folder.cleanup()


def worst_service_message(side: int = 1024) -> bytes:
    """The cheapest message `lamigo serve` accepts that costs it the most: 31 bytes claiming a
    1024x1024 image (the largest the service takes by default) with every token masked."""
    from lamigo.message import pack_message

    geometry = Geometry(side, side, side // 4, side // 4, 512)
    policy = make_policy("prm", ratio=1.0, seed=0)
    return pack_message(GOMessage(geometry, policy, policy.select(geometry.latent_shape),
                                  np.zeros(geometry.latent_shape, np.int64), "", index_coder="fixed"))


def cli_shutdown(queued: int = 64, cap: float = 180.0) -> tuple[float, str]:
    """Seconds from SIGTERM to the exit of `lamigo serve` (tiny models, CPU, default decoder
    settings) decoding a queue of `queued` worst messages, and what it printed on exit."""
    import json
    import signal
    import subprocess
    import sys
    import tempfile

    import zmq

    from lamigo.service import connect_sender, send_message

    data = worst_service_message()
    frames = [message_frames(ReceivedMessage.whole(good_message(), 0))[0], data, b""]
    with tempfile.TemporaryDirectory() as folder:
        messages = f"ipc://{folder}/messages"
        process = subprocess.Popen(
            [sys.executable, "-m", "lamigo.cli.main", "serve", "--listen", messages, "--publish",
             f"ipc://{folder}/results", "--model-set", "tiny", "--device", "cpu", "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        context = zmq.Context()
        try:
            process.stdout.readline()  # "lamigo serve: messages on ..."
            sender = connect_sender(context, messages)
            for _ in range(queued):
                send_message(sender, frames, timeout=10)
            time.sleep(3.0)  # the first batch is being decoded
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            try:
                stdout, _ = process.communicate(timeout=cap)
            except subprocess.TimeoutExpired:
                return float("inf"), f"still running after {cap:.0f} s"
            seconds = time.monotonic() - started
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            context.destroy(linger=0)
    try:
        stats = json.loads(stdout)
        summary = f"exit {process.returncode}, {stats['decoded']} decoded, {stats.get('abandoned', '?')} abandoned"
    except ValueError:
        summary = f"exit {process.returncode}, no statistics"
    return seconds, summary


def result_attacks(n: int) -> list[Row]:
    """Forged results on the decoder client's results socket (`parse_result` with its limit), and
    the peer: a genuine 1024x1024 result (noise, the least compressible)."""
    import io

    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    from lamigo.service.wire import DEFAULT_MAX_RESULT_PIXELS, parse_result, result_frames

    def png(size: tuple[int, int], mode: str = "RGB", **options) -> bytes:
        out = io.BytesIO()
        pixels = np.random.default_rng(0).integers(0, 256, (size[1], size[0], len(mode)), np.uint8)
        Image.fromarray(pixels.squeeze(), mode).save(out, format="PNG", **options)
        return out.getvalue()

    record = {"message_id": 1, "height": 64, "width": 64}
    text = PngInfo()
    text.add_text("c", "x" * 1_000_000, zip=True)
    forged = [
        result_frames(record, b"\x89PNG\r\n\x1a\n" + bytes(100)),
        result_frames(record, png((32, 32))),
        result_frames(record, png((64, 64))[:-100]),
        result_frames(record, png((64, 64), "L")),
        result_frames(record | {"height": 8192, "width": 8192}, png((64, 64))),
        result_frames(record, png((64, 64), pnginfo=text)),
    ]
    accepted = []

    def parse(frames):
        parse_result(frames, DEFAULT_MAX_RESULT_PIXELS)
        accepted.append(1)

    cpu, peak = measure(forged * n, parse)
    rows = [Row(f"forged results: not a PNG of the size claimed ({len(accepted)} of {len(forged) * n} accepted)",
                "decoder client", len(forged) * n, max(size_of(f) for f in forged), cpu, peak, "-")]
    genuine = result_frames(record | {"height": 1024, "width": 1024}, png((1024, 1024)))
    cpu, peak = measure([genuine] * 3, parse)
    rows.append(Row("(peer) a genuine 1024x1024 result", "decoder client", 3, size_of(genuine), cpu, peak, "-"))
    return rows


def file_attacks() -> list[str]:
    """Symlinks planted in the folders a receiver writes into: does the write reach the target?"""
    import tempfile
    from pathlib import Path

    from lamigo.errors import LamigoError
    from lamigo.images import save_numbered_png
    from lamigo.service.curve import make_curve_keys

    lines = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        keys, outside = root / "keys", root / "outside"
        keys.mkdir()
        outside.mkdir()
        (keys / "server.key_secret").symlink_to(outside / "stolen")
        try:
            make_curve_keys(keys)
            refused = "no"
        except LamigoError:
            refused = "yes"
        lines.append(f"--make-curve-keys DIR, DIR/server.key_secret a dangling link out of DIR: refused {refused}, "
                     f"secret key written outside DIR: {'yes' if (outside / 'stolen').exists() else 'no'}")
        saved, target = root / "saved", root / "precious"
        saved.mkdir()
        target.write_bytes(b"precious")
        (saved / "message_00001.png").symlink_to(target)
        save_numbered_png(b"\x89PNG", saved, "message", 1)
        lines.append("receiver PNG (save_numbered_png), FOLDER/message_00001.png a link to a file: target "
                     f"overwritten: {'no' if target.read_bytes() == b'precious' else 'yes'}")
    return lines


if __name__ == "__main__":
    main()
