"""What a receiving block tells whoever started the flowgraph: one line per message and a summary
when it stops (at the flowgraph's end, or Ctrl+C in a GRC-generated script), on the block's GNU
Radio logger, which such a script shows (Python's logging is not set up there).

    message 3: 40/42 packets received (2 lost), 120 of 256 tokens regenerated, decoded in 1.2 s, saved out/rx/message_00003.png
    decoder client: 3 messages sent (118/120 packets received), 2 decoded, 1 refused, 0 dropped, 0 without a result; images in out/rx
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["PacketTally", "packets_text", "place_text"]


def packets_text(received: int, expected: int) -> str:
    """"40/42 packets received (2 lost)"."""
    return f"{received}/{expected} packets received ({expected - received} lost)"


def place_text(path: Path | None, folder: Path | None) -> str:
    """Where an image went: "saved PATH", or why it was not saved."""
    if path is not None:
        return f"saved {path}"
    return f"not saved (writing to {folder} failed)" if folder is not None else "not saved (no output folder)"


@dataclass
class PacketTally:
    """Packets over all messages, for the summary."""

    expected: int = 0
    received: int = 0
    messages: int = 0  #: messages that came with link statistics

    def add(self, link: Mapping[str, Any] | None) -> None:
        """Count one message's `packets_expected` and `packets_received` (nothing without a link)."""
        if link:
            self.expected += int(link["packets_expected"])
            self.received += int(link["packets_received"])
            self.messages += 1

    def text(self) -> str:
        """"118/120 packets received" ("no link statistics" when no message had any)."""
        return f"{self.received}/{self.expected} packets received" if self.messages else "no link statistics"
