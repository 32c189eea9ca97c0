"""Baseline JPEG as a classical sender and robust receiver (Pillow/libjpeg).

The sender writes baseline JPEG with optimised Huffman tables and no APPn/COM segments (a JFIF
APP0 only adds 18 bytes: a three-component baseline file is read as YCbCr without it), with or
without a restart marker after every MCU row. The header a link must protect is everything up to
and including the first SOS segment.

The receiver never raises. With restart markers it finds the RSTn markers in the bytes that
arrived, keeps each restart interval that arrived whole, and rebuilds the scan with an empty
interval (and correctly numbered markers) for every lost one: libjpeg then decodes each kept
interval in its own MCU rows, where on its own it resynchronises only across two missing
intervals (jpeg_resync_to_restart) and otherwise shifts the rest of the image. The lost rows are
concealed by interpolating between the rows above and below them. Without restart markers
nothing after a loss can be placed: the receiver fills the lost bytes with zeros and lets libjpeg
go on (on one lost stretch of 50-400 bytes, 96 cases over the six bundled photos at 3,000 and
6,000 bytes: mean PSNR 15.35 dB, against 15.29 dB keeping the scan only up to the loss, the rest
mid-grey, and 15.52 dB zeroing everything after it; none is clearly better).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from lamigo.classical.received import Received, decode, failure, grey, loss_mask, lost_ranges

SOI, EOI, SOS, DRI = 0xD8, 0xD9, 0xDA, 0xDD
RST0 = 0xD0
# Start-of-frame markers: C0-CF except DHT (C4), JPG (C8) and DAC (CC).
SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
METADATA_MARKERS = frozenset(range(0xE0, 0xF0)) | {0xFE}  # APPn, COM


@dataclass(frozen=True)
class JpegHeader:
    """What the receiver reads from the protected header."""

    length: int  # bytes up to and including the first SOS segment
    height: int
    width: int
    mcu_height: int
    mcu_width: int
    restart_interval: int  # MCUs per restart interval; 0 without restart markers

    @property
    def mcus_per_row(self) -> int:
        return math.ceil(self.width / self.mcu_width)

    @property
    def intervals(self) -> int:
        mcus = self.mcus_per_row * math.ceil(self.height / self.mcu_height)
        return math.ceil(mcus / self.restart_interval) if self.restart_interval else 1


def _segments(data: bytes):
    """(marker, start, end) of each header segment from SOI up to and including the first SOS;
    stops early (without SOS) at anything that is not a well-formed segment."""
    if data[:2] != bytes((0xFF, SOI)):
        return
    yield SOI, 0, 2
    position = 2
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        length = int.from_bytes(data[position + 2:position + 4], "big")
        end = position + 2 + length
        if marker in (0xFF, 0x00, SOI, EOI) or RST0 <= marker <= RST0 + 7 or length < 2 or end > len(data):
            return
        yield marker, position, end
        if marker == SOS:
            return
        position = end


def parse_header(data: bytes) -> JpegHeader | None:
    """The header of a JPEG file; None when it is malformed or has no frame or scan."""
    frame, restart_interval = None, 0
    for marker, start, end in _segments(data):
        body = data[start + 4:end]
        if marker in SOF_MARKERS:
            if len(body) < 6 or len(body) < 6 + 3 * body[5] or body[5] == 0:
                return None
            factors = [body[7 + 3 * i] for i in range(body[5])]
            horizontal = max(f >> 4 for f in factors) if body[5] > 1 else 1
            vertical = max(f & 15 for f in factors) if body[5] > 1 else 1
            if not 1 <= horizontal <= 4 or not 1 <= vertical <= 4:
                return None
            frame = (int.from_bytes(body[1:3], "big"), int.from_bytes(body[3:5], "big"), 8 * vertical, 8 * horizontal)
        elif marker == DRI and len(body) >= 2:
            restart_interval = int.from_bytes(body[:2], "big")
        elif marker == SOS:
            if frame is None or 0 in frame[:2]:
                return None
            return JpegHeader(end, *frame, restart_interval)
    return None


def header_length(data: bytes) -> int | None:
    """Bytes up to and including the first SOS segment; None for a malformed header."""
    header = parse_header(data)
    return None if header is None else header.length


def encode(image: np.ndarray, quality: int, restart_rows: bool) -> bytes:
    """Baseline JPEG at `quality` (1-100), optimised Huffman tables, APPn/COM segments removed,
    with a restart marker after every MCU row when `restart_rows`."""
    buffer = io.BytesIO()
    options = {"restart_marker_rows": 1} if restart_rows else {}
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality, optimize=True, **options)
    data = buffer.getvalue()
    kept = [data[start:end] for marker, start, end in _segments(data) if marker not in METADATA_MARKERS]
    return b"".join(kept) + data[header_length(data):]


def receive(data: bytes, lost: np.ndarray, shape: tuple[int, int]) -> Received:
    """The best-effort image of a JPEG file whose bytes under `lost` (a boolean mask as long as
    `data`) never arrived; mid-grey and `decoded_ok=False` when the header did not arrive whole,
    claims another size than `shape` (height, width), or no decoder can make anything of it."""
    lost = loss_mask(data, lost)
    header = parse_header(data)
    if header is None or lost[:header.length].any():
        return failure(shape, lost, "the header up to the first scan was lost")
    if (header.height, header.width) != tuple(shape):
        return failure(shape, lost, f"the header claims {header.height}x{header.width}, not {shape[0]}x{shape[1]}")
    if not lost.any():
        image = decode(data, shape, keep_partial=True)
        return Received(image, True, ()) if image is not None else failure(shape, lost, "no decoder could read it")
    if header.restart_interval:
        return _receive_with_restarts(data, lost, header, shape)
    filled = np.frombuffer(data, dtype=np.uint8).copy()
    filled[lost] = 0
    filled[-2:] = (0xFF, EOI)
    image = decode(filled.tobytes(), shape, keep_partial=True)
    if image is None:
        return failure(shape, lost, "no decoder could read it")
    return Received(image, True, lost_ranges(lost), 0, "lost bytes filled with zeros")


def _intact_intervals(data: bytes, lost: np.ndarray, header: JpegHeader) -> dict[int, bytes]:
    """The entropy-coded bytes of each restart interval that arrived whole, by interval index.

    A received RSTn marker names its interval only modulo 8; across a lost stretch the index is
    the one of that residue whose position best matches the stretch's length at the file's mean
    bytes per interval."""
    count, start, index = header.intervals, header.length, 0
    end = len(data) - 2 if data[-2:] == bytes((0xFF, EOI)) and not lost[-2:].any() else len(data)
    mean_length = max(1.0, (end - start) / count)
    intact: dict[int, bytes] = {}
    body = np.frombuffer(data, dtype=np.uint8)
    candidates = np.flatnonzero((body[:-1] == 0xFF) & (body[1:] >= RST0) & (body[1:] <= RST0 + 7)
                                & ~lost[:-1] & ~lost[1:])
    for position in candidates[(candidates >= start) & (candidates + 2 <= end)]:
        residue = (int(body[position + 1]) - RST0 - index) % 8
        gap_lost = lost[start:position].any()
        steps = range(residue, count - 1 - index, 8) if gap_lost else range(residue, residue + 1)
        options = [step for step in steps if index + step <= count - 2]
        if not options:
            continue  # no interval this marker could end: ignore it
        step = min(options, key=lambda s: abs(position - start - (s + 1) * mean_length))
        if step == 0 and not gap_lost:
            intact[index] = data[start:position]
        index, start = index + step + 1, position + 2
    if index == count - 1 and not lost[start:end].any():
        intact[index] = data[start:end]
    return intact


def _receive_with_restarts(data: bytes, lost: np.ndarray, header: JpegHeader, shape: tuple[int, int]) -> Received:
    intact = _intact_intervals(data, lost, header)
    count = header.intervals
    scan = b"".join(intact.get(k, b"") + (bytes((0xFF, RST0 + k % 8)) if k < count - 1 else b"") for k in range(count))
    image = decode(data[:header.length] + scan + bytes((0xFF, EOI)), shape, keep_partial=True)
    if image is None:
        return failure(shape, lost, "no decoder could read it")
    missing = [k for k in range(count) if k not in intact]
    note = f"{len(missing)} of {count} restart intervals lost"
    if header.restart_interval % header.mcus_per_row == 0:
        rows = header.restart_interval // header.mcus_per_row * header.mcu_height
        bad = np.zeros(shape[0], dtype=bool)
        for k in missing:
            bad[k * rows:(k + 1) * rows] = True
        image = _conceal_rows(image, bad)
        note += ", concealed by interpolating the rows around them"
    return Received(image, True, lost_ranges(lost), len(missing), note)


def _conceal_rows(image: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """`image` with each run of `bad` rows replaced by a linear blend of the good rows around it
    (a copy of the one good neighbour at an edge; mid-grey when no row is good)."""
    if bad.all():
        return grey(image.shape[:2])
    result = image.astype(np.float64)
    for start, end in lost_ranges(bad):
        above = result[start - 1] if start > 0 else None
        below = result[end] if end < len(bad) else None
        above = below if above is None else above
        below = above if below is None else below
        weights = (np.arange(1, end - start + 1) / (end - start + 1))[:, None, None]
        result[start:end] = (1 - weights) * above + weights * below
    return np.round(result).astype(np.uint8)
