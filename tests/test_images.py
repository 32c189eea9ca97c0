"""lamigo.images: the images a user names (files, folders, globs, bundled photos) and the numbered
PNGs a receiver saves."""

from __future__ import annotations

import io
import logging

import pytest
from PIL import Image

from lamigo.errors import ConfigError
from lamigo.images import resolve_images, save_numbered_png


def test_resolve_images_from_folder_glob_and_photo(tmp_path):
    for name in ("b.png", "a.jpg", "deeper/c.webp"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        Image.new("RGB", (8, 8)).save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    assert resolve_images(str(tmp_path)) == [str(tmp_path / "a.jpg"), str(tmp_path / "b.png")]
    assert resolve_images(tmp_path, recursive=True) == [
        str(tmp_path / "a.jpg"), str(tmp_path / "b.png"), str(tmp_path / "deeper/c.webp")]
    assert resolve_images(f"{tmp_path}/*.png; photo:coffee") == [str(tmp_path / "b.png"), "photo:coffee"]
    assert resolve_images([str(tmp_path / "a.jpg")]) == [str(tmp_path / "a.jpg")]


@pytest.mark.parametrize("spec", ["", "/nonexistent/*.png", "/nonexistent/folder/image.png"])
def test_resolve_images_rejects_what_matches_nothing(spec):
    with pytest.raises(ConfigError):
        resolve_images(spec)


def test_save_numbered_png_writes_into_a_new_folder_and_survives_one_it_cannot_make(tmp_path, caplog):
    png = io.BytesIO()
    Image.new("RGB", (8, 6), "red").save(png, format="PNG")
    path = save_numbered_png(png.getvalue(), tmp_path / "new" / "folder", "message", 12)
    assert path == tmp_path / "new" / "folder" / "message_00012.png"
    assert path.read_bytes() == png.getvalue() and Image.open(path).size == (8, 6)
    (tmp_path / "a_file").write_text("in the way")
    with caplog.at_level(logging.ERROR, logger="lamigo.images"):
        assert save_numbered_png(png.getvalue(), tmp_path / "a_file", "file", 3) is None
    assert "file_00003.png not saved" in caplog.text


def test_an_alpha_channel_and_an_upscale_are_each_reported_once(tmp_path, caplog, monkeypatch):
    import lamigo.images as images

    monkeypatch.setattr(images, "_WARNED", set())
    for name in ("a.png", "b.png"):
        Image.new("RGBA", (17, 23), (10, 20, 30, 0)).save(tmp_path / name)
    with caplog.at_level(logging.WARNING, logger="lamigo.images"):
        first = images.load_image(tmp_path / "a.png")
        images.load_image(tmp_path / "b.png")
        fitted = images.fit_image(first, (64, 64))
        images.fit_image(first, (64, 64))
        images.fit_image(fitted, (32, 32))  # a downscale says nothing
    assert first.shape == (23, 17, 3) and (first == (10, 20, 30)).all()  # RGB kept, alpha dropped
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 2, warnings
    assert "alpha channel" in warnings[0] and "a.png" in warnings[0]
    assert "23x17 image is smaller than the 64x64" in warnings[1]
