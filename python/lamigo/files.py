"""Writing files into a folder without following symlinks found in it: the results a receiver
saves (`lamigo serve --out`, the receivers' PNGs) and keys (`lamigo serve --make-curve-keys`).

Whoever can write into an output folder (a shared /tmp, a synced folder) can plant a symlink
named like the next result or key, so that writing "DIR/3.png" overwrites the link's target or
puts a secret key outside DIR. `OutputFolder` opens the folder once, as the user named it (a
symlink the user names is the user's choice and is followed), and creates every file inside it
relative to that open folder, never through a link: a new file with O_CREAT | O_EXCL |
O_NOFOLLOW, a replaced one by writing a fresh temporary file and renaming it over the old name
(which replaces a planted link itself, not its target). A folder swapped for a symlink after it
was opened is not followed either.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from lamigo.errors import ConfigError

__all__ = ["OutputFolder", "write_into"]

_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class OutputFolder:
    """A folder to write files into by name (created with its parents when missing).

    Raises ConfigError when the folder cannot be made or opened. Use as a context manager or
    call `close()`.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as err:
            raise ConfigError(f"cannot use output folder {self.path}: {err.strerror or err}") from None

    def write(self, name: str, data: bytes, *, replace: bool = True, mode: int | None = None) -> Path:
        """Write `data` as the file `name` in the folder and return its path. With `replace`
        an existing file of that name (or a symlink) is replaced, else it is refused
        (FileExistsError). The file gets exactly `mode` when given, from its creation on (a
        secret key 0o600: no moment when others could read it), else what the umask leaves of
        0o666. OSError when the write fails."""
        if not name or name in (".", "..") or "/" in name or "\0" in name:
            raise ConfigError(f"{name!r} is not a plain file name")
        if not replace:
            self._write_new(name, data, mode)
            return self.path / name
        temporary = f".{name}.{secrets.token_hex(4)}.tmp"
        self._write_new(temporary, data, mode)
        try:
            os.rename(temporary, name, src_dir_fd=self._fd, dst_dir_fd=self._fd)
        except BaseException:
            os.unlink(temporary, dir_fd=self._fd)
            raise
        return self.path / name

    def _write_new(self, name: str, data: bytes, mode: int | None) -> None:
        descriptor = os.open(name, _NEW_FILE, 0o666 if mode is None else mode & 0o600, dir_fd=self._fd)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                if mode is not None:
                    os.fchmod(handle.fileno(), mode)
                handle.write(data)
        except BaseException:
            os.unlink(name, dir_fd=self._fd)
            raise

    def exists(self, name: str) -> bool:
        """Whether anything, a dangling symlink included, has this name in the folder."""
        try:
            os.stat(name, dir_fd=self._fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return True

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> OutputFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_fd", -1) >= 0:
            os.close(self._fd)


def write_into(folder: str | Path, name: str, data: bytes) -> Path:
    """Write (or replace) the file `name` in `folder` as `OutputFolder.write` does, opening the
    folder for this one file. ConfigError or OSError when it cannot be written."""
    with OutputFolder(folder) as out:
        return out.write(name, data)
