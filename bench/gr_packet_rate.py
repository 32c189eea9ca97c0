"""Packets per second through the gr-lamigo packetizer and depacketizer blocks in a running
GNU Radio flowgraph, beside the transmitter's images per second for a camera stream and the
decoder service's messages per second. The peer, measured in the same run on the same packets,
is GNU Radio's own C++ framing: digital.crc_append + digital.protocol_formatter_async.

Target (issue 29): each block at least 10x the packet rate of the fastest link our flowgraphs
offer, GFSK at 1 Msym/s (about 890 packets/s of 105-byte payloads at one bit per symbol with the
access code, length header and CRC-32); the further target is a 64-point OFDM link with 16QAM
rate 1/2 at 20 MS/s (the HackRF's top rate: 24 Mbit/s, about 15k such packets/s with the
802.11a preamble and SIGNAL field per frame). Every message is a different one (its own mask and
code table), so no cache of one message's work helps another.

    .venv/bin/python bench/gr_packet_rate.py                     # default set, 200 messages of 256x256
    .venv/bin/python bench/gr_packet_rate.py --messages 40 --no-service --profile
"""

from __future__ import annotations

import argparse
import cProfile
import io
import math
import pstats
import tempfile
import time

import pmt
from gnuradio import blocks, digital, gr
from tqdm.auto import tqdm

from lamigo.images import BUNDLED_PHOTOS, load_image
from lamigo.lami.transmitter import Transmitter
from lamigo.link import LinkConfig, Reassembler, packetize
from lamigo.link.packetizer import control_byte_weight
from lamigo.masking import make_policy
from lamigo.message import GOMessage, pack_message, unpack_message
from lamigo.models.index_prior import model_set_index_prior
from lamigo.models.registry import load_model_set
from lamigo_gr import depacketizer, packetizer
from lamigo_gr.support.pdu import make_pdu

FRAME_OVERHEAD_BYTES = 8 + 4 + 4  # access code, length twice, radio CRC-32
GFSK_SYMBOL_RATE = 1e6
OFDM_BITS_PER_SYMBOL = 48 * 4 // 2  # 48 data subcarriers, 16QAM, rate 1/2
OFDM_SYMBOL_SECONDS = 80 / 20e6  # 64 samples and a 16-sample cyclic prefix at 20 MS/s
OFDM_PREAMBLE_SECONDS = 16e-6 + 4e-6  # short and long training, SIGNAL field
TARGET_FACTOR = 10


def gfsk_packets_per_second(payload: int) -> float:
    return GFSK_SYMBOL_RATE / ((payload + 19 + FRAME_OVERHEAD_BYTES) * 8)


def ofdm_packets_per_second(payload: int) -> float:
    bits = 16 + 8 * (payload + 19 + 4) + 6  # SERVICE field, packet and its CRC-32, tail
    return 1 / (OFDM_PREAMBLE_SECONDS + math.ceil(bits / OFDM_BITS_PER_SYMBOL) * OFDM_SYMBOL_SECONDS)


def camera_stream(transmitter: Transmitter, photos: list) -> tuple[float, float]:
    """Seconds per image to encode and to pack, the best of the photos (each encoded once
    before, so the first call's setup is not counted)."""
    transmitter.encode(photos[0], "a photo")
    encode = pack = math.inf
    for photo in photos:
        started = time.perf_counter()
        message = transmitter.encode(photo, "a photo")
        encoded = time.perf_counter()
        transmitter.pack(message)
        encode, pack = min(encode, encoded - started), min(pack, time.perf_counter() - encoded)
    return encode, pack


def go_messages(transmitter: Transmitter, photos: list, count: int) -> list[bytes]:
    """`count` different GO messages: the photos' indices, each with its own PRM mask (seed)."""
    every = make_policy("none")
    full = [Transmitter(transmitter.models, every, size=transmitter.size).encode(photo, "a photo") for photo in photos]
    messages = []
    for i in tqdm(range(count), desc="packing", leave=False):
        base = full[i % len(full)]
        policy = make_policy("prm", ratio=0.25, seed=i)
        mask = policy.select(base.geometry.latent_shape)
        message = GOMessage(base.geometry, policy, mask, base.indices, f"photo {i}")
        messages.append(transmitter.pack(message))
    return messages


def seconds_through(first, last, out_port: str, pdus: list, expected: int) -> float:
    """Seconds from starting a flowgraph whose block `first` holds `pdus` in its input queue
    until `expected` PDUs left `last`'s `out_port`. The PDUs are queued before the start: posting
    from Python costs more per PDU than GNU Radio's C++ blocks and would be what a row measured."""
    tb = gr.top_block()
    sink = blocks.message_debug()
    if first is not last:
        tb.msg_connect(first, "out", last, "in")
    tb.msg_connect(last, out_port, sink, "store")
    for pdu in pdus:
        first._post(pmt.intern("in"), pdu)
    start = time.perf_counter()
    tb.start()
    while sink.num_messages() < expected:
        time.sleep(0.0005)
    seconds = time.perf_counter() - start
    tb.stop()
    tb.wait()
    return seconds


def profile(messages: list[bytes], config: LinkConfig, prior) -> None:
    """cProfile of what the two blocks do per input: unpack + packetize, and push + pack."""
    packets = [p.to_bytes() for i, data in enumerate(messages) for p in packetize(unpack_message(data, prior), i,
                                                                                     config, prior)]

    def packetizer_work():
        for i, data in enumerate(messages):
            [p.to_bytes() for p in packetize(unpack_message(data, prior), i, config, prior)]

    def depacketizer_work():
        reassembler = Reassembler(prior)
        for data in packets:
            for received in reassembler.push(data):
                pack_message(received.message, prior, table_weight=None)

    for name, work in (("packetizer", packetizer_work), ("depacketizer", depacketizer_work)):
        profiler = cProfile.Profile()
        profiler.runcall(work)
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(14)
        print(f"\ncProfile of the {name}'s work ({len(messages)} messages, {len(packets)} packets):")
        print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:4000])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=200, help="different GO messages (default: %(default)s)")
    parser.add_argument("--size", type=int, default=256, help="image side, multiple of 32 (default: %(default)s)")
    parser.add_argument("--payload", type=int, default=105, help="packet payload bytes (default: %(default)s)")
    parser.add_argument("--model-set", default="default", help="model set (default: %(default)s)")
    parser.add_argument("--service-messages", type=int, default=2,
                        help="messages through the decoder service, default decoder settings (default: %(default)s)")
    parser.add_argument("--no-service", action="store_true", help="skip the decoder service row")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of each block's work")
    args = parser.parse_args()

    config = LinkConfig(max_payload=args.payload)
    models = load_model_set(args.model_set, device="cpu")
    prior = model_set_index_prior(args.model_set)
    # As the Image Source does: the code table is chosen for the packetizer's link.
    transmitter = Transmitter(models, make_policy("prm", ratio=0.25, seed=0), size=(args.size, args.size),
                              index_prior=prior, table_weight=control_byte_weight(config))
    photos = [load_image(f"photo:{name}") for name in BUNDLED_PHOTOS]
    encode_seconds, pack_seconds = camera_stream(transmitter, photos)
    messages = go_messages(transmitter, photos, args.messages)
    packets = [p.to_bytes() for i, data in enumerate(messages)
               for p in packetize(unpack_message(data, prior), i, config, prior)]
    message_pdus = [make_pdu(data, {"message_id": i}) for i, data in enumerate(messages)]
    packet_pdus = [make_pdu(packet) for packet in packets]

    packetizer_block = packetizer(max_payload=args.payload, model_set=args.model_set)
    depacketizer_block = depacketizer(model_set=args.model_set)
    crc = digital.crc_append(32, 0x4C11DB7, 0xFFFFFFFF, 0xFFFFFFFF, True, True, False, 0)
    formatter = digital.protocol_formatter_async(
        digital.header_format_default(digital.packet_utils.default_access_code, 0, 1))
    rows = [
        ("lamigo packetizer (Python)",
         seconds_through(packetizer_block, packetizer_block, "out", message_pdus, len(packets))),
        ("lamigo depacketizer (Python)",
         seconds_through(depacketizer_block, depacketizer_block, "out", packet_pdus, len(messages))),
        ("GNU Radio crc_append + protocol_formatter_async (C++)",
         seconds_through(crc, formatter, "payload", packet_pdus, len(packets))),
    ]
    assert packetizer_block.rejected == 0 and depacketizer_block.messages_out == len(messages)

    gfsk, ofdm = gfsk_packets_per_second(args.payload), ofdm_packets_per_second(args.payload)
    target = TARGET_FACTOR * gfsk
    print(f"{len(messages)} different GO messages of {args.size}x{args.size} ({args.model_set} set, PRM 0.25), "
          f"{len(packets)} packets of up to {args.payload} payload bytes ({len(packets) / len(messages):.1f} a message)")
    print(f"links: 1 Msym/s GFSK carries {gfsk:.0f} packets/s (target: {TARGET_FACTOR}x, {target:.0f}/s); "
          f"20 MS/s OFDM 16QAM r1/2 carries {ofdm:.0f}/s (the further target)")
    print(f"{'block':56} {'seconds':>8} {'packets/s':>10} {'x target':>9} {'x OFDM':>7}")
    for name, seconds in rows:
        rate = len(packets) / seconds
        print(f"{name:56} {seconds:8.3f} {rate:10.0f} {rate / target:9.2f} {rate / ofdm:7.2f}")
    print(f"\ntransmitter, camera stream ({args.model_set} set, {args.size}x{args.size}, CPU): encode "
          f"{1000 * encode_seconds:.1f} ms + pack {1000 * pack_seconds:.1f} ms per image = "
          f"{1 / (encode_seconds + pack_seconds):.2f} images/s")
    if not args.no_service:
        from bench_service import service_rate  # noqa: PLC0415 (a bench beside this one)

        from lamigo.lami import DecoderSettings, LaMIDecoder
        from lamigo.message import ReceivedMessage
        from lamigo.service import message_frames

        message = unpack_message(messages[0], prior)
        frames = message_frames(ReceivedMessage.whole(message, 1), prior)
        with tempfile.TemporaryDirectory() as folder:
            rate = service_rate(LaMIDecoder(models, DecoderSettings()), frames, args.service_messages, 1,
                                models.name, prior, folder)
        print(f"decoder service ({args.model_set} set, default decoder settings, batch 1, CPU): "
              f"{rate:.3f} messages/s")
    if args.profile:
        profile(messages[:40], config, prior)


if __name__ == "__main__":
    main()
