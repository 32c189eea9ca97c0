"""Classical receiver: link packet PDUs in, one best-effort image PDU per classical file out."""

from __future__ import annotations

import io
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pmt
from gnuradio import gr
from PIL import Image

from lamigo.classical.received import Received, failure
from lamigo.errors import ConfigError, LamigoError
from lamigo.images import DEFAULT_SIZE, parse_size, save_numbered_png
from lamigo.link import LinkKey
from lamigo.link.classical import receive_file
from lamigo.link.packet import Packet, PacketKind
from lamigo.link.reassembler import DEFAULT_TIMEOUT
from lamigo_gr.support.done import SYSTEM_PORT, drain, is_done
from lamigo_gr.support.expiry_timer import ExpiryTimer
from lamigo_gr.support.pdu import RateLimitedLog, make_pdu, split_pdu

logger = logging.getLogger(__name__)

_CLASSICAL = (PacketKind.CLASSICAL_HEADER, PacketKind.CLASSICAL_DATA)


@dataclass
class _File:
    """The packets of one classical file collected so far, by sequence number."""

    count: int
    packets: dict[int, bytes] = field(default_factory=dict)
    last: float = field(default_factory=time.monotonic)


class classical_receiver(gr.basic_block):  # noqa: N801 (GNU Radio block naming)
    """Collects the classical packets (CLASSICAL_HEADER, CLASSICAL_DATA) of packet PDUs on `in`,
    grouped by message id, tag and packet count, and emits on `out` one PDU per file that
    completed (all packets arrived), timed out (no packet for `timeout` seconds), was pushed out
    by newer files, or was open when the flowgraph signalled done.

    Output PDU: the best-effort image as PNG bytes (`lamigo.link.classical.receive_file` and the
    codec's receiver; mid-grey of `size` when the protected header was lost), with metadata:
    `message_id`, `codec` ('' when unknown), `decoded_ok`, `header_lost`, `packets_expected`,
    `packets_received`, `packets_lost`, `lost_bytes`, `note`. GO packets are left to the
    depacketizer (counted in `ignored`); damaged, foreign or forged packets are counted in
    `rejected` and logged rate-limited; no input stops the block. With an `output_folder`, each
    image is also saved there as `file_NNNNN.png` (NNNNN the message id).

    Args:
        timeout: seconds without a packet after which a file completes with what it has.
        max_in_flight: files collected at once.
        size: image size ("HxW") of the grey image when a file's header block was lost.
        link_key: file of the pre-shared packet-authentication key; empty accepts packets
            without authentication.
        output_folder: folder the images are saved in; empty = do not save.
    """

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, max_in_flight: int = 4, size: str = DEFAULT_SIZE,
                 link_key: str = "", output_folder: str = "") -> None:
        gr.basic_block.__init__(self, name="lamigo_classical_receiver", in_sig=None, out_sig=None)
        if timeout <= 0 or max_in_flight < 1:
            raise ConfigError(f"timeout must be > 0 and max_in_flight >= 1, got {timeout} and {max_in_flight}")
        self.timeout = timeout
        self.max_in_flight = max_in_flight
        self.size = parse_size(size)
        self.key = LinkKey.load(link_key) if link_key else None
        self.output_folder = Path(output_folder).expanduser() if output_folder else None
        self.rejected = 0  #: inputs that were not PDUs or not valid packets
        self.ignored = 0  #: valid packets of GO messages
        self.duplicates = 0
        self.files_out = 0
        self.publish_failed = 0
        self.save_failed = 0  #: images that could not be written to the output folder
        self._files: dict[tuple[int, int, int], _File] = {}
        self._log = RateLimitedLog(logger)
        self._lock = threading.Lock()
        self._timer = ExpiryTimer("lamigo_classical_receiver", min(0.25, timeout / 4), self._expire, self._log)
        self.message_port_register_in(pmt.intern("in"))
        self.message_port_register_out(pmt.intern("out"))
        self.set_msg_handler(pmt.intern("in"), self._handle)
        self.set_msg_handler(SYSTEM_PORT, self._system)

    def start(self) -> bool:
        self._timer.start()
        return True

    def stop(self) -> bool:
        self._timer.stop()
        return True

    def _handle(self, msg: pmt.pmt_base) -> None:
        try:
            _, data = split_pdu(msg)
            packet = Packet.from_bytes(data, self.key)
        except LamigoError as err:
            self.rejected += 1
            self._log.warning("dropped input: %s", err)
            return
        except Exception:  # a bug met by one input must not stop the block
            self.rejected += 1
            self._log.exception("packet could not be handled")
            return
        if packet.kind not in _CLASSICAL:
            self.ignored += 1
            return
        done = []
        with self._lock:
            key = (packet.message_id, packet.tag, packet.count)
            if key not in self._files and len(self._files) >= self.max_in_flight:
                oldest = min(self._files, key=lambda k: self._files[k].last)
                done.append((oldest, self._files.pop(oldest)))
            entry = self._files.setdefault(key, _File(packet.count))
            if packet.seq in entry.packets:
                self.duplicates += 1
            else:
                entry.packets[packet.seq] = data
            entry.last = time.monotonic()
            if len(entry.packets) == entry.count:
                done.append((key, self._files.pop(key)))
        self._publish(done)

    def _take(self, older_than: float | None) -> list[tuple[tuple[int, int, int], _File]]:
        """Remove and return the files idle since before `older_than` (all when None)."""
        with self._lock:
            keys = [k for k, f in self._files.items() if older_than is None or f.last < older_than]
            return [(k, self._files.pop(k)) for k in keys]

    def _expire(self) -> None:
        self._publish(self._take(time.monotonic() - self.timeout))

    def _system(self, msg: pmt.pmt_base) -> None:
        if is_done(msg):
            drain(self, "in", self._handle)
            self._publish(self._take(None))
        self.to_basic_block().system_handler(msg)

    def _publish(self, files: list[tuple[tuple[int, int, int], _File]]) -> None:
        for (message_id, _, count), entry in files:
            try:
                arrived = receive_file(entry.packets.values(), self.key)
                if arrived is None:
                    received: Received = failure(self.size, np.zeros(0, dtype=bool), "the header block was lost")
                    codec = ""
                else:
                    received, codec = arrived.receive(), arrived.codec
                png = io.BytesIO()
                Image.fromarray(received.image).save(png, format="PNG")
                meta = {"message_id": message_id, "codec": codec, "decoded_ok": received.decoded_ok,
                        "header_lost": arrived is None, "packets_expected": count,
                        "packets_received": len(entry.packets), "packets_lost": count - len(entry.packets),
                        "lost_bytes": received.lost_bytes, "note": received.note}
                pdu = make_pdu(png.getvalue(), meta)
            except Exception:  # one file that cannot be received loses itself only
                self.publish_failed += 1
                self._log.exception("file %d could not be passed on", message_id)
                continue
            logger.info("file %d (%s): %d/%d packets, decoded %s", message_id, codec or "?", len(entry.packets),
                        count, received.decoded_ok)
            self._save(message_id, png.getvalue())
            self.files_out += 1
            self.message_port_pub(pmt.intern("out"), pdu)

    def _save(self, message_id: int, png: bytes) -> None:
        if self.output_folder is None:
            return
        if save_numbered_png(png, self.output_folder, "file", message_id) is None:
            self.save_failed += 1
