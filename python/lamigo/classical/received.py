"""What a classical receiver hands on: the best-effort image, whether a decoder made it, and what
was lost; and the decoding helpers both codecs share."""

from __future__ import annotations

import io
import threading
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFile

MID_GREY = 128


@dataclass(frozen=True)
class Received:
    """`image` is uint8 [H, W, 3] of the size sent. `decoded_ok` is False when no decoder could
    make anything of the file; the image is then mid-grey. `lost_ranges` are the [start, end)
    byte ranges lost on the link; `lost_segments` the restart intervals of a JPEG with restart
    markers that were lost and concealed (0 for the other codecs); `note` says why decoding failed
    or what the receiver did about the losses ('' for a file that arrived whole)."""

    image: np.ndarray
    decoded_ok: bool
    lost_ranges: tuple[tuple[int, int], ...]
    lost_segments: int = 0
    note: str = ""

    @property
    def lost_bytes(self) -> int:
        return sum(end - start for start, end in self.lost_ranges)

    def as_dict(self) -> dict:
        """Everything but the image, JSON-ready (for a report)."""
        return {"decoded_ok": self.decoded_ok, "lost_bytes": self.lost_bytes,
                "lost_ranges": [list(r) for r in self.lost_ranges], "lost_segments": self.lost_segments,
                "note": self.note}


def loss_mask(data: bytes, lost) -> np.ndarray:
    """`lost` as a boolean array, one entry per byte of `data` (a caller's mistake raises)."""
    mask = np.asarray(lost, dtype=bool)
    if mask.shape != (len(data),):
        raise ValueError(f"the loss mask has shape {mask.shape}, the file {len(data)} bytes")
    return mask


def lost_ranges(lost: np.ndarray) -> tuple[tuple[int, int], ...]:
    """[start, end) ranges of the True runs of a boolean mask."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], lost.astype(np.int8), [0]))))
    return tuple((int(start), int(end)) for start, end in zip(edges[::2], edges[1::2]))


def grey(shape: tuple[int, int]) -> np.ndarray:
    return np.full((*shape, 3), MID_GREY, dtype=np.uint8)


def failure(shape: tuple[int, int], lost: np.ndarray, note: str) -> Received:
    return Received(grey(shape), False, lost_ranges(lost), 0, note)


_TRUNCATED_LOCK = threading.Lock()


@contextmanager
def _tolerant_pillow():
    """Pillow hands on what a decoder made before an error only under its module-wide
    LOAD_TRUNCATED_IMAGES; set it for this decode alone (under a lock) and restore it."""
    with _TRUNCATED_LOCK:
        saved = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = True
        try:
            yield
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = saved


def decode(data: bytes, shape: tuple[int, int], keep_partial: bool) -> np.ndarray | None:
    """The RGB image a Pillow decoder makes of `data`; with `keep_partial`, what it decoded before
    an error (libjpeg decodes row by row; OpenJPEG hands on nothing after an error, so there it
    would be a black image). None when the decoder fails, or the header does not parse or claims
    another size than `shape` (checked before the image is allocated)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.size != (shape[1], shape[0]):
                return None
            if keep_partial:
                with _tolerant_pillow():
                    image.load()
            return np.asarray(image.convert("RGB"))
    except Exception:  # a hostile file may break a decoder in any way; the caller reports a failure
        return None
