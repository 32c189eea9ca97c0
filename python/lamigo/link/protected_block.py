"""The vote over the received copies of a protected block: a GO message's control block and a
classical file's header block alike (both sent as `lamigo.link.fec` chunks, each chunk
`control_copies` times).

Each chunk (a packet `group`) collects the copies that arrive. A copy that Reed-Solomon decodes
alone votes for what it decodes to; when no copy of a chunk decodes alone, the bitwise majority
of its copies is tried instead. The block is then read from the chunks most copies agree on, so
one forged copy that arrives first does not outvote the genuine ones.

What one copy costs is bounded whatever arrives (anything off the air is hostile):

* each distinct copy is decoded once (a repeated copy only votes again), and a new copy costs at
  most one more decode, of the majority, while nothing of its chunk decodes: linear time in the
  copies, not quadratic;
* at most `MAX_COPIES` distinct copies are held per chunk and `MAX_CHUNKS` chunks per block
  (`lamigo.link.fec` never sends more); when a chunk is full, a copy that did not decode makes
  room first, so junk cannot keep a genuine copy out; only copies that decode are refused;
* the block is parsed again only when the ranking of a chunk's candidates changes; when the
  chunks most copies agree on fail the block's CRC or are refused, the block is tried with one
  chunk swapped for one of its `ALTERNATIVES` runners-up, so forged copies that outvote a
  genuine chunk but do not fit the rest of the block cannot starve it. (Without a link key,
  forged copies of a whole consistent block can still outvote the genuine ones: only the key
  stops forgery.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from lamigo.errors import MessageError, PacketError
from lamigo.link.fec import MAX_CHUNKS, decode_chunk, join_control, majority

__all__ = ["MAX_COPIES", "ProtectedBlock"]

#: distinct copies held per chunk: twice the most copies a sender sends (`LinkConfig.control_copies`)
MAX_COPIES = 32
#: candidates per chunk tried when the chunks most copies agree on do not make a valid block
ALTERNATIVES = 4

Block = TypeVar("Block")
Chunk = tuple[int, bytes]  # chunks in the block, chunk bytes


@dataclass
class _Copies:
    """The copies of one chunk: distinct payload -> (times received, decoded chunk or None)."""

    seen: dict[bytes, list] = field(default_factory=dict)
    votes: Counter[Chunk] = field(default_factory=Counter)


class ProtectedBlock(Generic[Block]):
    """The copies of one message's protected block and what they decode to.

    Args:
        parse: reads the joined block bytes (its CRC-32 already checked) into the block;
            raises MessageError when the block is malformed or refused (beyond this receiver's
            limits, of another message).
    """

    def __init__(self, parse: Callable[[bytes], Block]) -> None:
        self.parse = parse
        self.block: Block | None = None  #: the block, once the chunks most copies agree on decode
        self.refused = ""  #: why the chosen chunks' block was refused, once known
        self.copies_refused = 0  #: decodable copies beyond `MAX_COPIES` of their chunk
        self._chunks: dict[int, _Copies] = {}
        self._ranked: dict[int, tuple[Chunk, ...]] = {}

    def add(self, group: int, payload: bytes) -> None:
        """Take one received copy of chunk `group`."""
        if group >= MAX_CHUNKS:
            self.copies_refused += 1
            return
        chunk = self._chunks.setdefault(group, _Copies())
        held = chunk.seen.get(payload)
        if held is None:
            if len(chunk.seen) >= MAX_COPIES and not self._make_room(chunk):
                self.copies_refused += 1
                return
            held = chunk.seen[payload] = [0, decode_chunk([payload])]
        held[0] += 1
        if held[1] is not None:
            chunk.votes[held[1]] += 1
        elif not chunk.votes:
            undecoded = [copy for copy, (times, _) in chunk.seen.items() for _ in range(min(times, 3))]
            if len(undecoded) < 3:
                return
            decoded = decode_chunk([majority(undecoded)])
            if decoded is None:
                return
            chunk.votes[decoded] += 1
        self._choose()

    @staticmethod
    def _make_room(chunk: _Copies) -> bool:
        junk = next((copy for copy, (_, decoded) in chunk.seen.items() if decoded is None), None)
        if junk is None:
            return False
        del chunk.seen[junk]
        return True

    def _choose(self) -> None:
        ranked = {group: tuple(candidate for candidate, _ in chunk.votes.most_common(ALTERNATIVES))
                  for group, chunk in self._chunks.items() if chunk.votes}
        if ranked == self._ranked:  # the same candidates in the same order: no work to repeat
            return
        self._ranked = ranked
        top = {group: candidates[0] for group, candidates in ranked.items()}
        # The chunks most copies agree on, else the same with one chunk swapped for a runner-up:
        # copies that outvote the genuine chunk but break the block's CRC cannot starve it.
        options = [top] + [{**top, group: other} for group, candidates in ranked.items() for other in candidates[1:]]
        refused = ""
        for chosen in options:
            try:
                self.block, self.refused = self.parse(_join(chosen)), ""
                return
            except PacketError:  # chunks still missing, or they fail the block CRC
                continue
            except MessageError as err:
                refused = refused or str(err)
        self.block, self.refused = None, refused


def _join(chosen: dict[int, Chunk]) -> bytes:
    """The block bytes from its chosen chunks; PacketError while one is missing or the block
    fails its CRC."""
    # Every chunk states the chunk count; trust the most common statement.
    n_chunks = Counter(count for count, _ in chosen.values()).most_common(1)[0][0]
    missing = [group for group in range(n_chunks) if group not in chosen]
    if missing:
        raise PacketError(f"chunks {missing} of {n_chunks} were lost")
    return join_control([chosen[group][1] for group in range(n_chunks)])
