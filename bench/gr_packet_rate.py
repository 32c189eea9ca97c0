"""Packets per second through the gr-lamigo packetizer and depacketizer blocks in a running
GNU Radio flowgraph. The peer, measured in the same run on the same packets, is GNU Radio's own
C++ framing: digital.crc_append + digital.protocol_formatter_async. Target (issue 6): our blocks
are not the bottleneck of a 1 Msym/s link, about 890 packets/s of 105-byte payloads in GFSK at one
bit per symbol with the access code, length header and CRC-32.

    .venv/bin/python bench/gr_packet_rate.py            # 20 messages of 256x256 x 10 rounds, tiny models
    .venv/bin/python bench/gr_packet_rate.py --messages 5 --rounds 2
"""

from __future__ import annotations

import argparse
import time

import pmt
from gnuradio import blocks, digital, gr
from tqdm.auto import tqdm

from lamigo.images import BUNDLED_PHOTOS, load_image
from lamigo.lami.transmitter import Transmitter
from lamigo.link import LinkConfig, packetize
from lamigo.masking import make_policy
from lamigo.message import unpack_message
from lamigo.zoo.sets import load_model_set
from lamigo_gr import depacketizer, packetizer
from lamigo_gr.support.pdu import make_pdu

FRAME_OVERHEAD_BYTES = 8 + 4 + 4  # access code, length twice, radio CRC-32


def go_messages(count: int, size: int) -> list[bytes]:
    transmitter = Transmitter(load_model_set("tiny"), make_policy("prm", ratio=0.25, seed=0), size=(size, size))
    photos = [load_image(f"photo:{name}") for name in BUNDLED_PHOTOS]
    return [transmitter.pack(transmitter.encode(photos[i % len(photos)], "a photo"))
            for i in tqdm(range(count), desc="encoding", leave=False)]


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20, help="GO messages (default: %(default)s)")
    parser.add_argument("--size", type=int, default=256, help="image side, multiple of 32 (default: %(default)s)")
    parser.add_argument("--payload", type=int, default=105, help="packet payload bytes (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=10,
                        help="times each message is sent, under a new message id (default: %(default)s)")
    args = parser.parse_args()

    messages = go_messages(args.messages, args.size) * args.rounds
    config = LinkConfig(max_payload=args.payload)
    packets = [p.to_bytes() for i, data in enumerate(messages) for p in packetize(unpack_message(data), i, config)]
    message_pdus = [make_pdu(data, {"message_id": i}) for i, data in enumerate(messages)]
    packet_pdus = [make_pdu(packet) for packet in packets]

    packetizer_block = packetizer(max_payload=args.payload)
    depacketizer_block = depacketizer()
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

    link_rate = 1e6 / ((args.payload + 19 + FRAME_OVERHEAD_BYTES) * 8)
    print(f"{len(messages)} GO messages of {args.size}x{args.size} ({args.rounds} rounds), {len(packets)} "
          f"packets of up to {args.payload} payload bytes; a 1 Msym/s GFSK link carries about {link_rate:.0f} packets/s")
    print(f"{'block':56} {'seconds':>8} {'packets/s':>10} {'x link':>7}")
    for name, seconds in rows:
        per_second = len(packets) / seconds
        print(f"{name:56} {seconds:8.3f} {per_second:10.0f} {per_second / link_rate:7.1f}")


if __name__ == "__main__":
    main()
