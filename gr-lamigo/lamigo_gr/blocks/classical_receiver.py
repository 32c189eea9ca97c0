"""Classical receiver: link packet PDUs in, one best-effort image PDU per classical file out."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pmt

from lamigo.classical.received import Received, failure
from lamigo.images import DEFAULT_SIZE, encode_png, parse_size, save_numbered_png
from lamigo.link import LinkKey
from lamigo.link.classical import MAX_PIXELS, FileReceiver, ReceivedFile
from lamigo.link.collector import DEFAULT_MAX_IN_FLIGHT, DEFAULT_TIMEOUT
from lamigo_gr.support.packet_receiver import packet_receiver_block
from lamigo_gr.support.pdu import make_pdu

logger = logging.getLogger(__name__)


class classical_receiver(packet_receiver_block):  # noqa: N801 (GNU Radio block naming)
    """Collects the classical packets (CLASSICAL_HEADER, CLASSICAL_DATA) of packet PDUs on `in`
    (`lamigo.link.classical.FileReceiver`: grouped by message id, tag and packet count, with the
    GO Depacketizer's bounds) and emits on `out` one PDU per file that completed (all packets
    arrived), timed out (no packet for `timeout` seconds, or 30 s after its first), was pushed
    out by newer files, or was open when the flowgraph signalled done.

    Output PDU: the best-effort image as PNG bytes (the codec's receiver; mid-grey of `size` when
    the protected header was lost or refused), with metadata: `message_id`, `codec` ('' when
    unknown), `decoded_ok`, `header_lost`, `packets_expected`, `packets_received`,
    `packets_lost`, `lost_bytes`, `note`. GO packets are left to the depacketizer (counted in
    `ignored`); damaged, foreign, forged or replayed packets are counted in `rejected` and
    `stats` and logged rate-limited; no input stops the block. With an `output_folder`, each
    image is also saved there as `file_NNNNN.png` (NNNNN the message id).

    Args:
        timeout: seconds without a packet after which a file completes with what it has.
        max_in_flight: files collected at once.
        size: image size ("HxW") of the grey image when a file's header block was lost.
        link_key: file of the pre-shared packet-authentication key; empty accepts packets
            without authentication.
        output_folder: folder the images are saved in; empty = do not save.
        max_pixels: largest image (height x width) a file's header may claim; larger files are
            refused from their header alone.
    """

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
                 size: str = DEFAULT_SIZE, link_key: str = "", output_folder: str = "",
                 max_pixels: int = MAX_PIXELS) -> None:
        self.size = parse_size(size)
        key = LinkKey.load(link_key) if link_key else None
        packet_receiver_block.__init__(
            self, "lamigo_classical_receiver",
            FileReceiver(key=key, max_pixels=max_pixels, timeout=timeout, max_in_flight=max_in_flight),
            timeout, logger)
        self.output_folder = Path(output_folder).expanduser() if output_folder else None
        self.files_out = 0
        self.save_failed = 0  #: images that could not be written to the output folder

    @property
    def rejected(self) -> int:
        """Inputs that were not PDUs or not valid packets."""
        return self.pdus_rejected + self.stats.packets_rejected

    @property
    def ignored(self) -> int:
        """Valid packets of GO messages."""
        return self.receiver.ignored

    @property
    def duplicates(self) -> int:
        return self.stats.duplicates

    def _publish(self, files: list[ReceivedFile]) -> None:
        for done in files:
            arrived = done.arrived
            try:
                if arrived is None:
                    received: Received = failure(self.size, np.zeros(0, dtype=bool), done.note)
                    codec = ""
                else:
                    received, codec = arrived.receive(), arrived.codec
                png = encode_png(received.image)
                meta = {"message_id": done.message_id, "codec": codec, "decoded_ok": received.decoded_ok,
                        "header_lost": arrived is None, "packets_expected": done.packets_expected,
                        "packets_received": done.packets_received,
                        "packets_lost": done.packets_expected - done.packets_received,
                        "lost_bytes": received.lost_bytes, "note": received.note}
                pdu = make_pdu(png, meta)
            except Exception:  # one file that cannot be received loses itself only
                self.publish_failed += 1
                self._log.exception("file %d could not be passed on", done.message_id)
                continue
            logger.info("file %d (%s): %d/%d packets, decoded %s", done.message_id, codec or "?",
                        done.packets_received, done.packets_expected, received.decoded_ok)
            self._save(done.message_id, png)
            self.files_out += 1
            self.message_port_pub(pmt.intern("out"), pdu)

    def _save(self, message_id: int, png: bytes) -> None:
        if self.output_folder is None:
            return
        if save_numbered_png(png, self.output_folder, "file", message_id) is None:
            self.save_failed += 1
