"""Training photographs that install from package registries, and random crops of them.

The default sources are scikit-image's and scikit-learn's sample photos and the folders of
Debian packages that hold real photographs (`PHOTO_FOLDERS`). Debian 12's `gnome-backgrounds`,
`ukui-wallpapers`, `lomiri-wallpapers` and `sway-backgrounds` were inspected too: they hold
only illustrations, renders and logos, so none of their folders is a source, and neither are
`mate-backgrounds`' abstract and desktop folders. The two photos the demo and the evaluation
use (scikit-image's `coffee` and `chelsea`) are always held out.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from lamigo.errors import ConfigError
from lamigo.images import image_files

__all__ = [
    "HELD_OUT_STEMS",
    "default_data_sources",
    "find_images",
    "load_photos",
    "Photo",
    "RandomCropDataset",
]

logger = logging.getLogger(__name__)

# The demo's and the evaluation's photos: never trained on, whatever folder they sit in.
HELD_OUT_STEMS = frozenset({"coffee", "chelsea"})
# Debian packages' folders of real photographs -> the package that installs each.
PHOTO_FOLDERS = {
    "/usr/share/backgrounds/mate/nature": "mate-backgrounds",
    "/usr/share/doc/opencv-doc/examples/data": "opencv-doc",
}
# Photos are stored with at most this shorter side: enough for crops at the scale of a
# 256x256 evaluation image, small enough to keep every photo in memory.
MAX_SHORT_SIDE = 512
# Logos, stripes, charts and chessboards have few distinct colours; photos have thousands.
MIN_DISTINCT_COLOURS = 4096


def default_data_sources() -> list[Path]:
    """The installed folders of sample photos: scikit-image, scikit-learn (when installed) and
    the Debian packages' folders that exist on this machine."""
    import skimage

    sources = [Path(skimage.__file__).parent / "data"]
    try:
        import sklearn

        sources.append(Path(sklearn.__file__).parent / "datasets" / "images")
    except ImportError:
        logger.info("scikit-learn is not installed: its china.jpg and flower.jpg are not used")
    sources += [Path(folder) for folder in PHOTO_FOLDERS]
    return [source for source in sources if source.is_dir()]


def find_images(sources: Iterable[str | Path]) -> list[Path]:
    """Image files in `sources` (files, or folders searched recursively), held-out photos removed."""
    found: list[Path] = []
    for source in sources:
        path = Path(source).expanduser()
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            found += image_files(path, recursive=True)
        else:
            raise ConfigError(f"no such image or folder: {source}")
    return [path for path in found if path.stem.lower() not in HELD_OUT_STEMS]


@dataclass(frozen=True)
class Photo:
    """One training photo in memory: uint8 [H, W, 3] with the shorter side <= MAX_SHORT_SIDE."""

    path: Path
    pixels: np.ndarray


def _read_photo(path: Path, min_side: int) -> np.ndarray | None:
    """The photo's pixels, or None (with the reason logged) for anything that is not a colour
    photograph at least `min_side` on its shorter side."""
    try:
        with Image.open(path) as image:
            if image.mode not in ("RGB", "RGBA", "P", "CMYK", "YCbCr"):
                logger.debug("skipping %s: not a colour image (%s)", path, image.mode)
                return None
            image = image.convert("RGB")
            image.load()
    except (UnidentifiedImageError, OSError) as err:
        logger.debug("skipping %s: %s", path, err)
        return None
    short_side = min(image.size)
    if short_side < min_side:
        logger.debug("skipping %s: %s is smaller than %d", path, image.size, min_side)
        return None
    if short_side > MAX_SHORT_SIDE:
        scale = MAX_SHORT_SIDE / short_side
        size = (round(image.width * scale), round(image.height * scale))
        image = image.resize(size, Image.Resampling.LANCZOS)
    pixels = np.asarray(image)
    colours = np.unique(pixels[::2, ::2].reshape(-1, 3), axis=0).shape[0]
    if colours < MIN_DISTINCT_COLOURS:
        logger.debug("skipping %s: %d colours, not a photograph", path, colours)
        return None
    return pixels


def load_photos(paths: Iterable[Path], min_side: int) -> list[Photo]:
    """Read the colour photographs among `paths` into memory (others are skipped and logged)."""
    photos = []
    for path in paths:
        pixels = _read_photo(path, min_side)
        if pixels is not None:
            photos.append(Photo(path, pixels))
    if not photos:
        raise ConfigError(f"no colour photographs of at least {min_side}x{min_side} pixels found")
    logger.info("loaded %d photos", len(photos))
    return photos


class RandomCropDataset(Dataset):
    """`length` random square crops of the photos, each `crop` pixels, as float [3, crop, crop].

    Sample i comes from photo i mod N. Its crop covers a random square of side between `crop`
    and the photo's shorter side (so the model sees both fine detail and whole-scene scale),
    scaled to `crop`, flipped left-right with probability 1/2. The crop of sample i depends on
    (seed, i) only, so a resumed or data-parallel run sees the same crops as an unbroken one.
    """

    def __init__(self, photos: list[Photo], crop: int, length: int, seed: int = 0) -> None:
        if not photos:
            raise ConfigError("the training set is empty")
        self.photos = photos
        self.crop = crop
        self.length = length
        self.seed = seed

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> torch.Tensor:
        rng = np.random.default_rng((self.seed, index))
        pixels = self.photos[index % len(self.photos)].pixels
        height, width = pixels.shape[:2]
        # Log-uniform window sizes: small windows (fine detail) are as common as large ones.
        side = int(round(np.exp(rng.uniform(np.log(self.crop), np.log(min(height, width))))))
        top = int(rng.integers(0, height - side + 1))
        left = int(rng.integers(0, width - side + 1))
        window = pixels[top : top + side, left : left + side]
        if side != self.crop:
            window = np.asarray(
                Image.fromarray(window).resize((self.crop, self.crop), Image.Resampling.BICUBIC)
            )
        if rng.random() < 0.5:
            window = window[:, ::-1]
        return torch.from_numpy(np.array(window)).permute(2, 0, 1).float() / 255.0
