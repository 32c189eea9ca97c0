"""Optional packet authentication for open radio links, where anyone can transmit.

With a pre-shared key every packet carries a truncated HMAC-SHA256 (`AUTH_TAG_BYTES`) of its
header and payload, which a receiver holding the key checks before it reads anything else: a
forged or altered packet is then dropped like a damaged one. Without a key nothing changes on
the air. The tag stops forgery, not replay of a genuine packet; it costs `AUTH_TAG_BYTES` per
packet.

A key file holds the key as hex text (at least `MIN_KEY_BYTES` bytes), readable by its owner
only: `write_link_key` makes one."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

from lamigo.errors import ConfigError

__all__ = ["AUTH_TAG_BYTES", "MIN_KEY_BYTES", "LinkKey", "write_link_key"]

logger = logging.getLogger(__name__)

AUTH_TAG_BYTES = 8  # 64 bits: a forger needs ~2^63 tries per packet
MIN_KEY_BYTES = 16


class LinkKey:
    """A pre-shared packet-authentication key (its repr never shows the secret)."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < MIN_KEY_BYTES:
            raise ConfigError(f"a link key needs at least {MIN_KEY_BYTES} bytes, got {len(secret)}")
        self._secret = bytes(secret)

    def __repr__(self) -> str:
        return "LinkKey(<secret>)"

    def tag(self, data: bytes) -> bytes:
        return hmac.new(self._secret, data, hashlib.sha256).digest()[:AUTH_TAG_BYTES]

    def verify(self, data: bytes, tag: bytes) -> bool:
        return hmac.compare_digest(self.tag(data), tag)

    @classmethod
    def load(cls, path: str | Path) -> LinkKey:
        """Read a key file (hex text); ConfigError when it is missing or not a key."""
        path = Path(path).expanduser()
        try:
            text = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"cannot read link key {path}: {err}") from None
        try:
            secret = bytes.fromhex(text)
        except ValueError:
            raise ConfigError(f"link key {path} is not hex text") from None
        if path.stat().st_mode & 0o077:
            logger.warning("link key %s is readable by others: chmod 600 it", path)
        return cls(secret)


def write_link_key(path: str | Path) -> Path:
    """Write a new random 32-byte key as hex to `path`, readable by its owner only (0600)."""
    path = Path(path).expanduser()
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as err:
        raise ConfigError(f"cannot create link key {path}: {err}") from None
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    return path
