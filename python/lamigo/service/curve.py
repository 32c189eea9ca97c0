"""ZMQ CURVE encryption and authentication for service links that leave the host.

Keys are ZMQ certificate files (`zmq.auth`): `NAME.key` holds a public key, `NAME.key_secret`
a key pair. `make_curve_keys(DIR)` writes a pair for the service and one for a client. The end
that binds is the CURVE server (it needs its key pair); the end that connects is the client
(its own key pair plus the server's public key). A server given a folder of client public
certificates admits only those clients; without one, any client that knows the server's public
key may connect (the link is encrypted either way).
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from lamigo.errors import ConfigError
from lamigo.files import OutputFolder

logger = logging.getLogger(__name__)

__all__ = ["CurveKeys", "load_public_key", "load_key_pair", "make_curve_keys", "start_authenticator"]

SERVER_NAME = "server"
CLIENT_NAME = "client"


@dataclass(frozen=True)
class CurveKeys:
    """CURVE settings of one end.

    Args:
        key_pair: this end's certificate with its secret key (`*.key_secret`).
        server_key: the public certificate of the server this end connects to (needed only
            for sockets that connect).
        allowed_clients: a folder of client public certificates; when set, a binding end admits
            only those clients.
    """

    key_pair: Path
    server_key: Path | None = None
    allowed_clients: Path | None = None

    def apply_server(self, socket: zmq.Socket) -> None:
        """Make a socket that binds a CURVE server."""
        public, secret = load_key_pair(self.key_pair)
        socket.curve_publickey, socket.curve_secretkey = public, secret
        socket.curve_server = True

    def apply_client(self, socket: zmq.Socket) -> None:
        """Make a socket that connects a CURVE client of `server_key`."""
        if self.server_key is None:
            raise ConfigError("a CURVE socket that connects needs the server's public key")
        public, secret = load_key_pair(self.key_pair)
        socket.curve_publickey, socket.curve_secretkey = public, secret
        socket.curve_serverkey = load_public_key(self.server_key)


def load_key_pair(path: str | Path) -> tuple[bytes, bytes]:
    """(public, secret) from a `*.key_secret` certificate; ConfigError naming the file otherwise."""
    public, secret = _load(path)
    if secret is None:
        raise ConfigError(f"{path} holds no secret key: give the *.key_secret file")
    return public, secret


def load_public_key(path: str | Path) -> bytes:
    """The public key of a certificate (`*.key` or `*.key_secret`)."""
    return _load(path)[0]


def _load(path: str | Path) -> tuple[bytes, bytes | None]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"CURVE key file not found: {path}")
    try:
        public, secret = zmq.auth.load_certificate(path)
    except (ValueError, OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path} is not a ZMQ certificate: {err}") from None
    if not public:
        raise ConfigError(f"{path} holds no public key")
    return public, secret


def make_curve_keys(folder: str | Path) -> dict[str, Path]:
    """Write `server.key(_secret)` and `client.key(_secret)` into `folder` (created); refuses to
    overwrite existing keys, and never writes through a symlink found in the folder (ZMQ writes
    them into a private temporary folder first, `lamigo.files.OutputFolder` moves them in).
    Returns the four paths by name."""
    files = {f"{name}{suffix}": f"{name}.key{suffix}" for name in (SERVER_NAME, CLIENT_NAME) for suffix in ("", "_secret")}
    with OutputFolder(folder) as out:
        existing = [str(out.path / file) for file in files.values() if out.exists(file)]
        if existing:
            raise ConfigError(f"CURVE keys already exist, not overwriting: {', '.join(existing)}")
        # Secret keys are born owner-only (0600): no moment when another user could read them.
        umask = os.umask(0o077)
        try:
            with tempfile.TemporaryDirectory(prefix=".lamigo-keys-", dir=out.path) as private:
                for name in (SERVER_NAME, CLIENT_NAME):
                    zmq.auth.create_certificates(private, name)
                for key, file in files.items():
                    data = (Path(private) / file).read_bytes()
                    out.write(file, data, replace=False, mode=0o600 if key.endswith("_secret") else 0o644)
        except FileExistsError as err:  # planted after the check above
            raise ConfigError(f"CURVE key {out.path / err.filename} appeared while writing, not overwriting") from None
        except OSError as err:
            raise ConfigError(f"cannot write CURVE keys into {out.path}: {err}") from None
        finally:
            os.umask(umask)
        return {key: out.path / file for key, file in files.items()}


def start_authenticator(context: zmq.Context, allowed_clients: str | Path) -> ThreadAuthenticator:
    """Admit only CURVE clients whose public certificates lie in `allowed_clients`; call
    `.stop()` on the result when done."""
    folder = Path(allowed_clients)
    if not folder.is_dir():
        raise ConfigError(f"CURVE client certificate folder not found: {folder}")
    authenticator = ThreadAuthenticator(context)
    authenticator.start()
    authenticator.configure_curve(domain="*", location=str(folder))
    logger.info("CURVE: admitting the clients whose certificates are in %s", folder)
    return authenticator
