"""Bandwidth report of a GO message: where the bytes go, and the gain over sending every
transmitted index with fixed-length codes. A sender has it as it packs (`pack_with_report`), a
receiver as it parses (`bandwidth_report`)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from lamigo.coding.prior import IndexPrior
from lamigo.message.format import GOMessage, Sections, pack_sections, unpack_sections


@dataclass(frozen=True)
class BandwidthReport:
    total_bytes: int
    header_bytes: int
    mask_bytes: int
    text_bytes: int
    index_bytes: int
    tokens: int
    transmitted_indices: int
    masked_indices: int
    bits_per_index: float
    fixed_bits_per_index: int
    fixed_index_bytes: int
    index_coder: str
    text_coder: str
    policy: str

    @property
    def index_saving(self) -> float:
        """Fraction of index bytes saved against fixed-length coding."""
        return 1.0 - self.index_bytes / self.fixed_index_bytes if self.fixed_index_bytes else 0.0

    def as_dict(self) -> dict:
        return asdict(self) | {"index_saving": self.index_saving}

    def format(self) -> str:
        rows = [
            ("header", self.header_bytes),
            ("mask", self.mask_bytes),
            ("text", self.text_bytes),
            (f"indices ({self.index_coder})", self.index_bytes),
            ("total", self.total_bytes),
        ]
        lines = [f"{name:<22}{size:>8} B" for name, size in rows]
        lines += [
            f"{'tokens sent':<22}{self.transmitted_indices:>8} of {self.tokens} "
            f"({self.masked_indices} masked, {self.policy})",
            f"{'bits per index':<22}{self.bits_per_index:>8.2f}   fixed-length: "
            f"{self.fixed_bits_per_index} bits, {self.fixed_index_bytes} B "
            f"({self.index_saving:+.1%} saved)",
        ]
        return "\n".join(lines)


def bandwidth_report(data: bytes, prior: IndexPrior | None = None) -> tuple[GOMessage, BandwidthReport]:
    """Parse `data` and account for every byte of it."""
    msg, sections = unpack_sections(data, prior)
    return msg, sections_report(msg, sections)


def pack_with_report(msg: GOMessage, prior: IndexPrior | None = None) -> tuple[bytes, BandwidthReport]:
    """Pack `msg` (`lamigo.message.pack_message`) and account for every byte written."""
    data, sections = pack_sections(msg, prior)
    return data, sections_report(msg, sections)


def sections_report(msg: GOMessage, sections: Sections) -> BandwidthReport:
    """The report of `msg` packed into `sections`."""
    sent = int((~msg.mask).sum())
    fixed_bits = math.ceil(math.log2(msg.geometry.codebook_size))
    return BandwidthReport(
        total_bytes=sections.total,
        header_bytes=sections.header,
        mask_bytes=sections.mask,
        text_bytes=sections.text,
        index_bytes=sections.indices,
        tokens=msg.mask.size,
        transmitted_indices=sent,
        masked_indices=msg.mask.size - sent,
        bits_per_index=8 * sections.indices / sent if sent else 0.0,
        fixed_bits_per_index=fixed_bits,
        fixed_index_bytes=math.ceil(sent * fixed_bits / 8),
        index_coder=msg.index_coder,
        text_coder=msg.text_coder,
        policy=msg.policy.describe(),
    )
