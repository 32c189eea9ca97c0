"""The evaluation images: a folder of images with their captions, or the bundled photos, fitted
to the evaluation size."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lamigo.errors import ConfigError
from lamigo.images import IMAGE_SUFFIXES, image_files
from lamigo.zoo.sets import ModelSet

logger = logging.getLogger(__name__)

__all__ = ["PHOTOS_DATA", "EvalImage", "load_eval_images"]

PHOTOS_DATA = "photos:"


@dataclass(frozen=True)
class EvalImage:
    """One evaluation image, already fitted to the evaluation size, with its caption."""

    name: str
    image: np.ndarray
    caption: str


def _image_paths(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise ConfigError(f"data folder {folder} not found (give a folder of images, or {PHOTOS_DATA})")
    paths = image_files(folder)
    if not paths:
        raise ConfigError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return paths


def load_eval_images(
    data: str, size: tuple[int, int], limit: int | None = None, models: ModelSet | None = None
) -> list[EvalImage]:
    """The evaluation images, fitted to `size`, with captions: for a folder, from `NAME.txt`
    beside each image, else from the model set's captioner, else empty (one warning for all);
    for "photos:", written by hand."""
    from lamigo.images import BUNDLED_PHOTOS, fit_image, load_image, to_tensor

    if data == PHOTOS_DATA:
        names = list(BUNDLED_PHOTOS)[:limit]
        return [EvalImage(name, fit_image(load_image(f"photo:{name}"), size), BUNDLED_PHOTOS[name])
                for name in names]
    items = []
    for path in _image_paths(Path(data).expanduser())[:limit]:
        image = fit_image(load_image(path), size)
        caption_file = path.with_suffix(".txt")
        if caption_file.is_file():
            caption = " ".join(caption_file.read_text(encoding="utf-8").split())
        elif models is not None and models.captioner is not None:
            (caption,) = models.captioner.caption(to_tensor(image))
        else:
            caption = ""
        items.append(EvalImage(path.stem, image, caption))
    uncaptioned = [item.name for item in items if not item.caption]
    if uncaptioned:
        logger.warning("%d of %d images have no NAME.txt and no captioner to caption them: they travel "
                       "with the empty caption (%s)", len(uncaptioned), len(items), ", ".join(uncaptioned))
    names = [item.name for item in items]
    if len(set(names)) != len(names):
        raise ConfigError(f"two images in {data} share a name (stem); rename one")
    return items
