"""The link control block: what a receiver needs before it can read any text or index packet.

Layout (version 2; "varint" = unsigned LEB128)::

    version u8 | message tag u32 | varint length + the GO message's control part (geometry,
    policy and mask, coder names, index-prior fingerprint; `lamigo.message.format.encode_control`)
    | interleaver u8 | interleaver seed u32 | varint index groups
    | varint caption chunks | varint characters of each chunk

The message tag is the one every packet of the message carries in its header: a control block
is taken only for packets with its own tag. The receiver checks what it can decode (`accept`)
from the geometry alone, before any mask is built, and that the caption chunks add up to no
more than a GO message may hold.

The token-to-group assignment follows from the mask, the interleaver and the group count, so
no index packet needs to say which positions it carries.
"""

from __future__ import annotations

from dataclasses import dataclass

from lamigo.coding.wire import Reader, Writer
from lamigo.errors import MessageError
from lamigo.link.interleave import INTERLEAVERS
from lamigo.message import Control, GeometryCheck, decode_control
from lamigo.message.format import MAX_CAPTION_CHARS

CONTROL_VERSION = 2
MAX_GROUPS = 0xFFFF


@dataclass(frozen=True)
class LinkControl:
    """The decoded control block of one message."""

    tag: int
    message: Control
    interleaver: str
    interleaver_seed: int
    index_groups: int
    chunk_chars: tuple[int, ...]  #: characters of each caption chunk


def encode_link_control(
    tag: int, message_control: bytes, interleaver: str, seed: int, index_groups: int, chunk_chars: list[int]
) -> bytes:
    """Serialise a control block around the GO message's encoded control part."""
    out = Writer()
    out.u8(CONTROL_VERSION)
    out.u32(tag)
    out.blob(message_control)
    out.u8(INTERLEAVERS.index(interleaver))
    out.u32(seed)
    out.varint(index_groups)
    out.varint(len(chunk_chars))
    for chars in chunk_chars:
        out.varint(chars)
    return out.getvalue()


def decode_link_control(data: bytes, accept: GeometryCheck | None = None) -> LinkControl:
    """Parse a control block; raises MessageError when it is malformed or `accept` refuses its
    geometry."""
    inp = Reader(data, "link control block")
    version = inp.u8("version")
    if version != CONTROL_VERSION:
        raise MessageError(f"link control version {version} is not supported (expected {CONTROL_VERSION})")
    tag = inp.u32("message tag")
    message = decode_control(inp.blob("message control"), accept)
    interleaver_id = inp.u8("interleaver")
    if interleaver_id >= len(INTERLEAVERS):
        raise MessageError(f"unknown interleaver id {interleaver_id}")
    seed = inp.u32("interleaver seed")
    index_groups = inp.varint("index groups")
    n_chunks = inp.varint("caption chunks")
    if index_groups > MAX_GROUPS or n_chunks > MAX_GROUPS:
        raise MessageError(f"{index_groups} index groups and {n_chunks} caption chunks exceed {MAX_GROUPS}")
    chunk_chars = tuple(inp.varint("chunk characters") for _ in range(n_chunks))
    inp.expect_end()
    if sum(chunk_chars) > MAX_CAPTION_CHARS:
        raise MessageError(f"caption chunks of {sum(chunk_chars)} characters exceed {MAX_CAPTION_CHARS}")
    return LinkControl(tag, message, INTERLEAVERS[interleaver_id], seed, index_groups, chunk_chars)
