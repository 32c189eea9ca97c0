"""lamigo.files: results and keys written into a folder where someone planted symlinks."""

from __future__ import annotations

import os

import pytest

from lamigo.errors import ConfigError
from lamigo.files import OutputFolder, write_into
from lamigo.images import save_numbered_png


@pytest.fixture
def planted(tmp_path):
    """(folder, target): `folder/result.png` and `folder/dangling` are symlinks planted by someone
    else, to an existing file `target` outside the folder and to a file that does not exist yet."""
    folder, outside = tmp_path / "out", tmp_path / "elsewhere"
    folder.mkdir()
    outside.mkdir()
    target = outside / "precious.txt"
    target.write_bytes(b"precious")
    (folder / "result.png").symlink_to(target)
    (folder / "dangling").symlink_to(outside / "stolen")
    return folder, target


def test_a_replaced_file_replaces_the_link_not_its_target(planted):
    folder, target = planted
    assert write_into(folder, "result.png", b"new result") == folder / "result.png"
    assert target.read_bytes() == b"precious"
    assert not (folder / "result.png").is_symlink() and (folder / "result.png").read_bytes() == b"new result"
    assert sorted(os.listdir(folder)) == ["dangling", "result.png"]  # no temporary file left


def test_a_new_file_is_never_created_through_a_link(planted):
    folder, target = planted
    with OutputFolder(folder) as out:
        assert out.exists("dangling") and not out.exists("missing")
        with pytest.raises(FileExistsError):
            out.write("dangling", b"secret", replace=False, mode=0o600)
        with pytest.raises(FileExistsError):
            out.write("result.png", b"secret", replace=False)
        path = out.write("key_secret", b"secret", replace=False, mode=0o600)
    assert not (target.parent / "stolen").exists() and target.read_bytes() == b"precious"
    assert path.read_bytes() == b"secret" and path.stat().st_mode & 0o777 == 0o600


def test_the_folder_as_named_is_followed_once_and_no_further(tmp_path):
    real, other = tmp_path / "real", tmp_path / "other"
    real.mkdir()
    other.mkdir()
    named = tmp_path / "named"
    named.symlink_to(real)  # the user's own link: followed
    with OutputFolder(named) as out:
        out.write("a.png", b"a")
        named.unlink()
        named.symlink_to(other)  # swapped after it was opened: not followed
        out.write("b.png", b"b")
    assert sorted(os.listdir(real)) == ["a.png", "b.png"] and os.listdir(other) == []


def test_names_that_are_not_plain_file_names_are_refused(tmp_path):
    with OutputFolder(tmp_path) as out:
        for name in ("../up.png", "", "..", "a/b"):
            with pytest.raises(ConfigError, match="not a plain file name"):
                out.write(name, b"x")
    not_a_folder = tmp_path / "a.png"
    not_a_folder.write_bytes(b"")
    with pytest.raises(ConfigError, match="cannot use output folder"):
        OutputFolder(not_a_folder)


def test_a_receiver_saving_pngs_does_not_follow_a_planted_link(planted):
    folder, target = planted
    (folder / "message_00003.png").symlink_to(target)
    assert save_numbered_png(b"\x89PNG image", folder, "message", 3) == folder / "message_00003.png"
    assert target.read_bytes() == b"precious"
    assert (folder / "message_00003.png").read_bytes() == b"\x89PNG image"
