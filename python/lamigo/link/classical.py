"""A classical file (JPEG, JPEG 2000; `lamigo.classical`) over the same link as a GO message.

What a fair comparison needs: the same packets (header, payload size, CRCs, authentication),
and the same protection for what the codec cannot lose as for what a GO message cannot lose.
So the file's header (JPEG up to its first scan, the JPEG 2000 main header) travels inside a
header block protected exactly as a GO message's control block (`lamigo.link.fec`: Reed-Solomon
chunks, each sent `control_copies` times, spread over the stream), in CLASSICAL_HEADER packets;
the rest of the file follows in CLASSICAL_DATA packets of consecutive bytes, unprotected as GO
tokens are. The receiver fills the bytes of lost packets with zeros, marks them lost and hands
both to the codec's receiver (`Baseline.receive`), which never raises; when the header block is
lost, nothing can be decoded and the image is mid-grey, counted as a failure.

Header block (version 1; "varint" = unsigned LEB128)::

    version u8 | file tag u32 | codec wire id u8 | height u16 | width u16 | file bytes u32
    | data bytes per packet u16 | varint length + the file's header bytes

Receiving (`FileReceiver`) runs on the receive state machine every link receiver shares
(`lamigo.link.collector`: files grouped by message id, tag and packet count, expiry, eviction,
late packets, bytes per file and files in flight bounded), the header block voted on from its
copies as a GO control block is (`lamigo.link.protected_block`). What a header block claims is
checked before anything is allocated: at most `max_file_bytes` bytes and an image of at most
`max_pixels` pixels (by default `MAX_PIXELS`, the largest image a file is sent of).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from lamigo.classical import BASELINES, Encoded, Received, encode_at_budget, get_baseline
from lamigo.classical.received import failure
from lamigo.coding.wire import Reader, Writer
from lamigo.errors import ConfigError, MessageError, PacketError
from lamigo.link.auth import LinkKey
from lamigo.link.channel import Channel
from lamigo.link.collector import (
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_REMEMBER,
    DEFAULT_TIMEOUT,
    Gathered,
    PacketCollector,
)
from lamigo.link.fec import protect_control
from lamigo.link.packet import MAX_PACKETS, STAMP_SIZE, Packet, PacketKind, check_message_id, crc32
from lamigo.link.packetizer import LinkConfig, spread_control
from lamigo.link.replay import ReplayWindow
from lamigo.link.simulation import PacketTally
from lamigo.message import DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MAX_TOKENS

__all__ = ["MAX_PIXELS", "ArrivedFile", "ClassicalLinkRun", "FileReceiver", "ReceivedFile", "file_bytes_on_air",
           "packetize_file", "receive_file", "send_at_budget", "simulate_file"]

HEADER_BLOCK_VERSION = 1
MAX_SIDE = 0xFFFF
#: the largest image (height x width) a classical file is sent of, and by default received: as
#: large as the largest GO message (DEFAULT_MAX_TOKENS latent tokens, 4x4 pixels each)
MAX_PIXELS = DEFAULT_MAX_TOKENS * 16
CLASSICAL_KINDS = frozenset({PacketKind.CLASSICAL_HEADER, PacketKind.CLASSICAL_DATA})


@dataclass(frozen=True)
class _HeaderBlock:
    tag: int
    codec: str
    shape: tuple[int, int]
    file_bytes: int
    chunk: int  # data bytes per CLASSICAL_DATA packet
    header: bytes

    @property
    def data_packets(self) -> int:
        return math.ceil((self.file_bytes - len(self.header)) / self.chunk)

    def to_bytes(self) -> bytes:
        out = Writer()
        out.u8(HEADER_BLOCK_VERSION)
        out.u32(self.tag)
        out.u8(BASELINES[self.codec].wire_id)
        out.u16(self.shape[0])
        out.u16(self.shape[1])
        out.u32(self.file_bytes)
        out.u16(self.chunk)
        out.blob(self.header)
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, max_file_bytes: int, max_pixels: int = MAX_PIXELS) -> "_HeaderBlock":
        """MessageError for a malformed block or one claiming more than `max_file_bytes` or an
        image of more than `max_pixels`."""
        inp = Reader(data, "classical header block")
        version = inp.u8("version")
        if version != HEADER_BLOCK_VERSION:
            raise MessageError(f"classical header block version {version} is not supported")
        tag = inp.u32("file tag")
        wire_id = inp.u8("codec")
        baseline = BASELINES.by_wire_id(wire_id)
        if baseline is None:
            raise MessageError(f"unknown classical codec id {wire_id}")
        shape = (inp.u16("height"), inp.u16("width"))
        file_bytes, chunk = inp.u32("file bytes"), inp.u16("data bytes per packet")
        header = inp.blob("file header")
        inp.expect_end()
        if not 0 < len(header) <= file_bytes <= max_file_bytes or chunk == 0 or 0 in shape:
            raise MessageError(f"classical header block claims a {file_bytes}-byte file ({len(header)}-byte "
                               f"header, {chunk} bytes per packet, {shape[0]}x{shape[1]}), beyond "
                               f"this receiver's limit of {max_file_bytes} bytes or inconsistent")
        if shape[0] * shape[1] > max_pixels:
            raise MessageError(f"classical header block claims a {shape[0]}x{shape[1]} image, more than this "
                               f"receiver's limit of {max_pixels} pixels")
        return cls(tag, baseline.name, shape, file_bytes, chunk, header)


def packetize_file(encoded: Encoded, shape: tuple[int, int], message_id: int,
                   config: LinkConfig | None = None) -> list[Packet]:
    """The packets of a classical file of an image of `shape` (height, width), in sending order:
    its header block protected and repeated as a GO control block, then its other bytes."""
    config = config or LinkConfig()
    check_message_id(message_id)
    if (not 0 < encoded.header_bytes <= len(encoded.data) or not all(0 < side <= MAX_SIDE for side in shape)
            or shape[0] * shape[1] > MAX_PIXELS):
        raise ConfigError(f"cannot send a {len(encoded.data)}-byte {encoded.codec} file with a "
                          f"{encoded.header_bytes}-byte header of a {shape[0]}x{shape[1]} image")
    data = encoded.data
    block = _HeaderBlock(crc32(data), encoded.codec, tuple(shape), len(data), config.max_payload,
                         data[:encoded.header_bytes])
    body = data[encoded.header_bytes:]
    header = [(PacketKind.CLASSICAL_HEADER, group, payload)
              for group, payload in enumerate(protect_control(block.to_bytes(), config.max_payload))]
    chunks = [(PacketKind.CLASSICAL_DATA, group, body[start:start + config.max_payload])
              for group, start in enumerate(range(0, len(body), config.max_payload))]
    stream = spread_control(header, chunks, config.control_copies)
    if len(stream) > MAX_PACKETS:
        raise ConfigError(f"the file needs {len(stream)} packets, more than {MAX_PACKETS}")
    return [Packet(message_id=message_id, tag=block.tag, seq=seq, count=len(stream), kind=kind, group=group,
                   payload=payload, payload_crc=config.payload_crc)
            for seq, (kind, group, payload) in enumerate(stream)]


def file_bytes_on_air(encoded: Encoded, shape: tuple[int, int], config: LinkConfig | None = None,
                      key: LinkKey | None = None, stamped: bool = True) -> int:
    """Bytes on air of the file: every packet whole, link headers, CRCs, authentication tags
    and the repeated, Reed-Solomon coded header block included; with `key` and `stamped`, the
    replay stamp a live keyed sender adds too (`lamigo.link.replay`; simulations send none)."""
    stamp = STAMP_SIZE if key is not None and stamped else 0
    return sum(len(packet.to_bytes(key)) + stamp for packet in packetize_file(encoded, shape, 0, config))


def send_at_budget(codec: str, image: np.ndarray, budget: int, config: LinkConfig | None = None,
                   key: LinkKey | None = None, stamped: bool = True) -> Encoded | None:
    """`codec`'s file of `image` at its highest setting whose bytes on air (as
    `file_bytes_on_air` counts them) are at most `budget`; None when none fits."""
    baseline = get_baseline(codec)
    shape = image.shape[:2]

    def on_air(data: bytes) -> int:
        header = baseline.header_length(data)
        if header is None:  # the codec wrote a file whose header does not parse: never sent
            return sys.maxsize
        return file_bytes_on_air(Encoded(codec, 0, data, header, 0), shape, config, key, stamped)

    return encode_at_budget(codec, image, budget, on_air)


@dataclass(frozen=True)
class ArrivedFile:
    """What arrived of one classical file: its bytes (zeros where lost) and which were lost."""

    codec: str
    shape: tuple[int, int]
    data: bytes
    lost: np.ndarray
    packets_damaged: int

    def receive(self) -> Received:
        """The codec receiver's best-effort image (never raises)."""
        return get_baseline(self.codec).receive(self.data, self.lost, self.shape)


@dataclass(frozen=True)
class ReceivedFile:
    """One classical file as it completed: its packets counted, and what arrived of it (None
    when its header block was lost or refused: nothing can be decoded)."""

    message_id: int
    packets_expected: int
    packets_received: int
    arrived: ArrivedFile | None
    header_packets: int  #: header block copies that arrived
    note: str = ""  #: why the header block is missing, when it is


class FileReceiver:
    """Classical files from their packets in any order (GO packets are counted in `ignored`).

    Args:
        key: the link key packets must be authenticated with (None: no authentication); with
            a key, replayed packets are dropped (`lamigo.link.replay`).
        max_file_bytes: largest file accepted, and payload bytes held per file.
        max_pixels: largest image (height x width) a header block may claim.
        timeout, max_age, max_in_flight, remember, clock: as for `lamigo.link.collector`.
    """

    def __init__(self, *, key: LinkKey | None = None, max_file_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                 max_pixels: int = MAX_PIXELS, timeout: float = DEFAULT_TIMEOUT, max_age: float | None = None,
                 max_in_flight: int = DEFAULT_MAX_IN_FLIGHT, remember: int = DEFAULT_REMEMBER,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_pixels < 1:
            raise ConfigError(f"max_pixels must be >= 1, got {max_pixels}")
        self.key = key
        self.max_file_bytes = max_file_bytes
        self.max_pixels = max_pixels
        self.collector: PacketCollector[_HeaderBlock] = PacketCollector(
            PacketKind.CLASSICAL_HEADER, self._header_block, max_bytes=max_file_bytes, timeout=timeout,
            max_age=max_age, max_in_flight=max_in_flight, remember=remember,
            replay=ReplayWindow() if key is not None else None, clock=clock)
        self.stats = self.collector.stats
        self.ignored = 0  #: valid packets of GO messages

    def push(self, data: bytes) -> list[ReceivedFile]:
        """Take one received packet; return the files it (or the clock) completed."""
        completed = self.expire()
        try:
            packet = Packet.from_bytes(data, self.key)
        except PacketError:
            self.stats.packets_rejected += 1
            return completed
        return completed + self.push_packet(packet)

    def push_packet(self, packet: Packet) -> list[ReceivedFile]:
        """Like `push`, for a packet already parsed (and authenticated)."""
        if packet.kind not in CLASSICAL_KINDS:
            self.ignored += 1
            return []
        return self._received(self.collector.add(packet))

    def expire(self) -> list[ReceivedFile]:
        """The files that waited `timeout` seconds for their next packet or `max_age` since
        their first."""
        return self._received(self.collector.expire())

    def flush(self) -> list[ReceivedFile]:
        """Every file in flight, completed now (end of a transmission)."""
        return self._received(self.collector.flush())

    def _header_block(self, data: bytes, tag: int) -> _HeaderBlock:
        block = _HeaderBlock.from_bytes(data, self.max_file_bytes, self.max_pixels)
        if block.tag != tag:
            raise MessageError(f"header block of file tag {block.tag:08x} came in packets tagged {tag:08x}")
        return block

    def _received(self, entries: list[Gathered[_HeaderBlock]]) -> list[ReceivedFile]:
        files = []
        for entry in entries:
            packets = list(entry.packets.values())
            arrived = None if entry.block is None else _arrived(entry.block, packets)
            self.stats.messages_completed += arrived is not None
            self.stats.messages_failed += arrived is None
            headers = sum(packet.kind == PacketKind.CLASSICAL_HEADER for packet in packets)
            note = "" if arrived is not None else entry.vote.refused or "the header block was lost"
            files.append(ReceivedFile(entry.message_id, entry.count, len(packets), arrived, headers, note))
        return files


def receive_file(packets: Iterable[bytes], key: LinkKey | None = None,
                 max_file_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> ArrivedFile | None:
    """The file carried by the received `packets` (of one file; others, and any that fail to
    parse, are ignored); None when its header block did not arrive or does not decode."""
    receiver = FileReceiver(key=key, max_file_bytes=max_file_bytes, clock=lambda: 0.0)
    files = [done for data in packets for done in receiver.push(data)] + receiver.flush()
    # The file whose header copies arrived most often first: a forged header block under
    # another tag neither joins the vote nor keeps the genuine file from arriving.
    decoded = sorted((file for file in files if file.arrived is not None), key=lambda file: -file.header_packets)
    return decoded[0].arrived if decoded else None


def _arrived(block: _HeaderBlock, tagged: list[Packet]) -> ArrivedFile:
    """The file of `block` from its data packets that arrived."""
    data = np.zeros(block.file_bytes, dtype=np.uint8)
    lost = np.ones(block.file_bytes, dtype=bool)
    data[:len(block.header)] = np.frombuffer(block.header, dtype=np.uint8)
    lost[:len(block.header)] = False
    damaged = 0
    for packet in tagged:
        if packet.kind != PacketKind.CLASSICAL_DATA or packet.group >= block.data_packets:
            continue
        start = len(block.header) + packet.group * block.chunk
        end = min(start + block.chunk, block.file_bytes)
        if len(packet.payload) != end - start:
            continue  # not the chunk the header block announces
        data[start:end] = np.frombuffer(packet.payload, dtype=np.uint8)
        lost[start:end] = False
        damaged += packet.damaged
    return ArrivedFile(block.codec, block.shape, data.tobytes(), lost, damaged)


@dataclass(frozen=True)
class ClassicalLinkRun(PacketTally):
    """What became of one classical file on the link (the counterpart of `LinkRun`).

    Attributes:
        encoded: the file as sent.
        received: the receiver's image and what it lost (mid-grey, `decoded_ok` False, when the
            header block was lost).
        header_lost: no copy of some header chunk arrived decodable: nothing could be decoded.
    """

    encoded: Encoded
    received: Received
    header_lost: bool

    def as_dict(self) -> dict:
        """JSON-ready, for a report: what was sent, what the link did, what the receiver made."""
        return {"codec": self.encoded.codec, "setting": self.encoded.setting, "file_bytes": len(self.encoded.data),
                "header_bytes": self.encoded.header_bytes, "bytes_on_air": self.bytes_on_air,
                "packets_sent": len(self.packets), "packets_lost": self.packets_lost,
                "bits_flipped": self.bits_flipped, "header_lost": self.header_lost, **self.received.as_dict()}


def simulate_file(encoded: Encoded, shape: tuple[int, int], channel: Channel, config: LinkConfig,
                  message_id: int = 0, key: LinkKey | None = None) -> ClassicalLinkRun:
    """Send a classical file through `channel` (a fresh one, seeded as the GO message's channel
    for the same realisation) and receive it (keyed packets without replay stamps, as
    `lamigo.link.simulation` sends them: count its budget with `stamped=False`)."""
    packets = tuple(packet.to_bytes(key) for packet in packetize_file(encoded, shape, message_id, config))
    arrived_packets = channel(packets)
    rejected = 0
    for data in arrived_packets:
        try:
            Packet.from_bytes(data, key)
        except PacketError:
            rejected += 1
    arrived = receive_file(arrived_packets, key)
    if arrived is None:
        everything = np.ones(len(encoded.data), dtype=bool)
        received = failure(tuple(shape), everything, "the header block was lost")
    else:
        received = arrived.receive()
    return ClassicalLinkRun(packets=packets, packets_dropped=channel.stats.packets_dropped,
                            packets_rejected=rejected, bits_flipped=channel.stats.bits_flipped,
                            encoded=encoded, received=received, header_lost=arrived is None)
