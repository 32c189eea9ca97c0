"""Transmitter side: a GO message becomes link packets.

A message is sent as
* the control block (`lamigo.link.control`), Reed-Solomon coded and repeated
  (`lamigo.link.fec`), its copies spread over the packet stream so a burst cannot take them all;
* caption packets, each an independently coded run of whole words;
* index packets, each an independently coded group of tokens; the groups are interleaved over
  the image (`lamigo.link.interleave`) so a lost packet leaves scattered holes.

No packet mixes text and indices (the paper's section V-F assumption).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from lamigo.coding.index import IndexCoder
from lamigo.coding.prior import IndexPrior
from lamigo.coding.text import TextCoder, get_text_coder
from lamigo.errors import ConfigError
from lamigo.link.control import encode_link_control
from lamigo.link.fec import control_chunk_capacity, protect_control
from lamigo.link.interleave import INTERLEAVERS, token_groups
from lamigo.link.packet import MAX_PACKETS, MAX_PAYLOAD, OVERHEAD, Packet, PacketKind, check_message_id, crc32
from lamigo.message import GOMessage, encode_control, message_index_coder

logger = logging.getLogger(__name__)

DEFAULT_PAYLOAD = 105  # bytes: the paper's WiFi assumption (section V-F)


@dataclass(frozen=True)
class LinkConfig:
    """How the transmitter packetizes messages.

    Args:
        max_payload: payload bytes per packet, link header and CRC not included.
        interleaver: "block", "random" or "none" (see `lamigo.link.interleave`).
        interleaver_seed: seed of the "random" interleaver.
        payload_crc: receivers drop caption and index packets whose CRC-32 fails (erasure
            setups). False passes their bit errors through (the paper's bit-flip setups).
        control_copies: how many times each control chunk is sent.
    """

    max_payload: int = DEFAULT_PAYLOAD
    interleaver: str = "block"
    interleaver_seed: int = 0
    payload_crc: bool = True
    control_copies: int = 3

    def __post_init__(self) -> None:
        if not 24 <= self.max_payload <= MAX_PAYLOAD:
            raise ConfigError(f"max_payload must lie in [24, {MAX_PAYLOAD}] bytes, got {self.max_payload}")
        if self.interleaver not in INTERLEAVERS:
            raise ConfigError(f"unknown interleaver {self.interleaver!r}; choose one of {list(INTERLEAVERS)}")
        if not 0 <= self.interleaver_seed < 2**32:
            raise ConfigError(f"interleaver seed must be a 32-bit unsigned integer, got {self.interleaver_seed}")
        if not 1 <= self.control_copies <= 16:
            raise ConfigError(f"control_copies must lie in [1, 16], got {self.control_copies}")


def control_byte_weight(config: LinkConfig) -> float:
    """Bytes on air of one control byte against one index byte: control chunks carry
    Reed-Solomon parity and go `control_copies` times (the weight an index code table is
    chosen with; authentication tags are left out, they cost both alike)."""
    capacity = control_chunk_capacity(config.max_payload)
    control = config.control_copies * (min(config.max_payload, 255) + OVERHEAD) / capacity
    return control / ((config.max_payload + OVERHEAD) / config.max_payload)


def split_caption(caption: str, coder: TextCoder, max_payload: int) -> list[str]:
    """Split `caption` into chunks whose coded size fits `max_payload`, breaking after spaces
    (inside a word only when the word alone does not fit). The chunks concatenate to `caption`."""
    chunks: list[str] = []
    rest = caption
    while rest:
        if len(coder.encode(rest)) <= max_payload:
            chunks.append(rest)
            break
        cut = _longest_fitting_prefix(rest, coder, max_payload)
        space = rest.rfind(" ", 0, cut)
        if space >= 0:
            cut = space + 1
        chunks.append(rest[:cut])
        rest = rest[cut:]
    return chunks


def _longest_fitting_prefix(text: str, coder: TextCoder, max_payload: int) -> int:
    """Largest n >= 1 with coder.encode(text[:n]) within max_payload (binary search)."""
    low, high = 1, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if len(coder.encode(text[:middle])) <= max_payload:
            low = middle
        else:
            high = middle - 1
    if len(coder.encode(text[:low])) > max_payload:
        raise ConfigError(f"one character of the caption does not fit a {max_payload}-byte payload")
    return low


def index_groups(tokens: np.ndarray, coder: IndexCoder, config: LinkConfig) -> list[bytes]:
    """Code the sent tokens (row-major) in the fewest interleaved groups that each fit a packet
    (the groups sized with `IndexCoder.coded_sizes`, then coded once)."""
    if tokens.size == 0:
        return []
    n_groups = max(1, math.ceil(coder.coded_sizes(tokens, [np.arange(tokens.size)])[0] / config.max_payload))
    while True:
        n_groups = min(n_groups, tokens.size)
        groups = token_groups(tokens.size, n_groups, config.interleaver, config.interleaver_seed)
        largest = max(coder.coded_sizes(tokens, groups))
        if largest <= config.max_payload:
            return coder.encode_groups(tokens, groups)
        if n_groups == tokens.size:
            raise ConfigError(f"one token does not fit a {config.max_payload}-byte payload")
        # Grow in proportion to the overflow; at least one more group per round.
        n_groups = max(n_groups + 1, math.ceil(n_groups * largest / config.max_payload))


Slot = tuple[PacketKind, int, bytes]  # kind, group, payload of one packet to send


def spread_control(control: list[Slot], data: list[Slot], copies: int) -> list[Slot]:
    """The sending order: copy r of the control packets goes r/copies of the way into the data
    packets. The first copy leads, so a receiver can place everything that follows as soon as
    it arrives, and a burst cannot take every copy."""
    stream: list[Slot] = []
    for copy in range(copies):
        start, end = len(data) * copy // copies, len(data) * (copy + 1) // copies
        stream += control + data[start:end]
    return stream


def packetize(
    msg: GOMessage,
    message_id: int,
    config: LinkConfig | None = None,
    prior: IndexPrior | None = None,
) -> list[Packet]:
    """The packets of `msg`, in sending order. `message_id` (16 bits) and the message tag (a
    CRC-32 of its coded content) tell a receiver which packets belong together; `prior` is the
    pre-shared index statistics the coders use."""
    config = config or LinkConfig()
    check_message_id(message_id)
    index_coder = message_index_coder(msg, prior, control_byte_weight(config))
    message_control = encode_control(msg, prior, index_coder)
    text_coder = get_text_coder(msg.text_coder)

    chunks = split_caption(msg.caption, text_coder, config.max_payload)
    text_payloads = [text_coder.encode(chunk) for chunk in chunks]
    index_payloads = index_groups(msg.transmitted, index_coder, config)
    tag = crc32(b"".join([message_control, *text_payloads, *index_payloads]))
    block = encode_link_control(
        tag, message_control, config.interleaver, config.interleaver_seed, len(index_payloads),
        [len(chunk) for chunk in chunks],
    )
    control_payloads = protect_control(block, config.max_payload)

    data = [(PacketKind.TEXT, group, payload) for group, payload in enumerate(text_payloads)]
    data += [(PacketKind.INDICES, group, payload) for group, payload in enumerate(index_payloads)]
    control = [(PacketKind.CONTROL, group, payload) for group, payload in enumerate(control_payloads)]
    stream = spread_control(control, data, config.control_copies)
    if len(stream) > MAX_PACKETS:
        raise ConfigError(f"message needs {len(stream)} packets, more than {MAX_PACKETS}")
    logger.debug(
        "message %d: %d control x%d, %d caption, %d index packets", message_id,
        len(control_payloads), config.control_copies, len(text_payloads), len(index_payloads),
    )
    return [
        Packet(
            message_id=message_id, tag=tag, seq=seq, count=len(stream), kind=kind, group=group,
            payload=payload, payload_crc=config.payload_crc,
        )
        for seq, (kind, group, payload) in enumerate(stream)
    ]
