"""Images in and out: reading a file or a bundled `photo:NAME`, finding the images a user names,
fitting an image to the size sent, tensor conversions, PNG bytes in and out and saving what a
receiver received. One place for what an image file is."""

from __future__ import annotations

import glob
import io
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, UnidentifiedImageError

from lamigo.errors import ConfigError

logger = logging.getLogger(__name__)

if TYPE_CHECKING:  # torch is imported where a tensor is made, so option parsers stay light
    import torch

PHOTO_SCHEME = "photo:"
# Real photographs that ship inside scikit-image's wheel (public domain or CC0, see its README),
# with captions written by hand. coffee and chelsea come first: the default model set never
# trained on them.
BUNDLED_PHOTOS = {
    "coffee": "a cup of coffee on a saucer on a wooden table",
    "chelsea": "a tabby cat lying down and looking at the camera",
    "astronaut": "an astronaut in a white spacesuit in front of an american flag",
    "rocket": "a white rocket on a launch pad under a blue sky",
    "motorcycle_left": "a red and black motorcycle parked in a room, seen from the side",
    "hubble_deep_field": "many small galaxies of many colours on the black background of space",
}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_SIZE = "256x256"  # HxW, what a transmitter sends unless told otherwise
SIZE_MULTIPLE = 32  # the VQGAN (f=4) and the denoiser's two 2x levels plus unshuffle: 4 * 8


_WARNED: set[str] = set()  # causes already reported: a fixed handful of keys


def _warn_once(cause: str, message: str, *args) -> None:
    """Log a warning the first time `cause` happens in this process, not again."""
    if cause not in _WARNED:
        _WARNED.add(cause)
        logger.warning(message, *args)


def bundled_photo_path(name: str) -> Path:
    import skimage

    if name not in BUNDLED_PHOTOS:
        raise ConfigError(f"unknown bundled photo {name!r}; choose one of {', '.join(BUNDLED_PHOTOS)}")
    folder = Path(skimage.__file__).parent / "data"
    return next(folder / f"{name}{ext}" for ext in (".png", ".jpg") if (folder / f"{name}{ext}").exists())


def bundled_caption(source: str | Path) -> str | None:
    """The hand-written caption of a bundled `photo:NAME`; None for any other image."""
    source = str(source)
    return BUNDLED_PHOTOS.get(source[len(PHOTO_SCHEME):]) if source.startswith(PHOTO_SCHEME) else None


def image_files(folder: Path, recursive: bool = False) -> list[Path]:
    """The image files (by `IMAGE_SUFFIXES`) in `folder`, or below it with `recursive`, sorted."""
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(path for path in candidates if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file())


def resolve_images(spec: str | Path | Sequence[str | Path], recursive: bool = False) -> list[str]:
    """Image sources from a file, a folder (its images, sorted; with `recursive` those below it
    too), a glob pattern or `photo:NAME`; several separated by ';' or given as a list.
    ConfigError when one matches nothing."""
    parts = [spec] if isinstance(spec, (str, Path)) else list(spec)
    items = [item.strip() for part in parts for item in str(part).split(";") if item.strip()]
    if not items:
        raise ConfigError("no images given: name a file, a folder, a glob pattern or photo:NAME")
    sources: list[str] = []
    for item in items:
        path = Path(item).expanduser()
        if item.startswith(PHOTO_SCHEME) or path.is_file():
            sources.append(item if item.startswith(PHOTO_SCHEME) else str(path))
        elif path.is_dir():
            found = [str(p) for p in image_files(path, recursive)]
            if not found:
                raise ConfigError(f"folder {path} holds no images ({', '.join(IMAGE_SUFFIXES)})")
            sources += found
        else:
            found = sorted(glob.glob(str(path), recursive=recursive))
            if not found:
                raise ConfigError(f"no image matches {item!r} (a file, folder, glob or photo:NAME)")
            sources += found
    return sources


def load_image(source: str | Path) -> np.ndarray:
    """An RGB image as uint8 [H, W, 3] from a file, or `photo:NAME` for a bundled photo."""
    source = str(source)
    path = bundled_photo_path(source[len(PHOTO_SCHEME):]) if source.startswith(PHOTO_SCHEME) else Path(source)
    try:
        with Image.open(path) as image:
            if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
                _warn_once("alpha", "%s has an alpha channel: it is dropped, only RGB is sent "
                           "(further images with one are not reported)", path)
            return np.asarray(image.convert("RGB"))
    except FileNotFoundError:
        raise ConfigError(f"image not found: {path}") from None
    except (UnidentifiedImageError, OSError) as err:
        raise ConfigError(f"cannot read image {path}: {err}") from None


def parse_size(text: str) -> tuple[int, int]:
    """'256x512' -> (height 256, width 512); both multiples of 32."""
    try:
        height, width = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise ConfigError(f"image size must look like HEIGHTxWIDTH, e.g. 256x256, got {text!r}") from None
    if height <= 0 or width <= 0 or height % SIZE_MULTIPLE or width % SIZE_MULTIPLE:
        raise ConfigError(f"image size {height}x{width}: both sides must be positive multiples of {SIZE_MULTIPLE}")
    return height, width


def fit_geometry(shape: tuple[int, int], size: tuple[int, int]) -> tuple[tuple[int, int], int, int]:
    """How `fit_image` fits an image of `shape` (height, width) to `size`: the scaled (width,
    height) and the left and top of the centre crop (also what moves annotations with it)."""
    height, width = size
    scale = max(height / shape[0], width / shape[1])
    scaled_size = (max(width, round(shape[1] * scale)), max(height, round(shape[0] * scale)))
    return scaled_size, (scaled_size[0] - width) // 2, (scaled_size[1] - height) // 2


def fit_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale to cover `size` (height, width), then crop the centre."""
    height, width = size
    if image.shape[0] < height or image.shape[1] < width:
        _warn_once("upscale", "a %dx%d image is smaller than the %dx%d sent: it is upscaled, which "
                   "invents no detail (further upscaled images are not reported)", *image.shape[:2], height, width)
    scaled_size, left, top = fit_geometry(image.shape[:2], size)
    scaled = Image.fromarray(image).resize(scaled_size, Image.Resampling.BICUBIC)
    return np.asarray(scaled.crop((left, top, left + width, top + height)))


def to_tensor(images: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    """uint8 [H, W, 3] or [B, H, W, 3] -> float [B, 3, H, W] in [0, 1]."""
    import torch

    batch = images[None] if images.ndim == 3 else images
    return torch.from_numpy(np.array(batch)).to(device).permute(0, 3, 1, 2).float() / 255.0


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """float [B, 3, H, W] in [0, 1] -> uint8 [B, H, W, 3]."""
    return (images.detach().float().clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def save_image(image: np.ndarray, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)


def encode_png(image: np.ndarray, optimize: bool = False) -> bytes:
    """uint8 [H, W, 3] -> PNG bytes (what a receiver hands on; `optimize`: Pillow's smallest, for
    comparing sizes)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", optimize=optimize)
    return buffer.getvalue()


def decode_image_bytes(data: bytes) -> np.ndarray:
    """Any Pillow-readable image file in memory (PNG, JPEG, JPEG 2000) -> uint8 [H, W, 3] RGB.
    OSError (Pillow's UnidentifiedImageError among them) when it is none."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def save_numbered_png(png: bytes, folder: Path, prefix: str, number: int) -> Path | None:
    """Write the PNG bytes `png` as `folder/PREFIX_NNNNN.png` (NNNNN: `number`, e.g. a message
    id), making the folder, never through a symlink planted in it (`lamigo.files`). A write that
    fails (a full disk, a folder that cannot be made) is logged and gives None: a receiver saving
    what it receives loses that image, not itself."""
    from lamigo.files import write_into

    path = folder / f"{prefix}_{number:05d}.png"
    try:
        write_into(folder, path.name, png)
    except (OSError, ConfigError) as err:
        logger.error("%s not saved: %s", path, err)
        return None
    return path
