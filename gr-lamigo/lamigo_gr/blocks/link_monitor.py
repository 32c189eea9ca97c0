"""A QT GUI block: live counters of a LaMI-GO link and the last image the decoder service returned.

Its message inputs count what passes a flowgraph's ports: `sent` (link packets from the GO
Packetizer), `received` (packets that passed the radio CRC, from the GFSK Demodulator),
`messages` (GO messages from the GO Depacketizer; their `packets_lost` metadata is summed) and
`decoded` (PNG PDUs from the GO Decoder Client's decoded port; the last one is shown). GNU
Radio's threads only count and keep bytes; a Qt timer in the GUI thread redraws.
"""

from __future__ import annotations

import threading

import pmt
from gnuradio import gr
from PyQt5 import QtCore, QtGui, QtWidgets

_PACKETS_LOST = pmt.intern("packets_lost")
REFRESH_MS = 200


class link_monitor(gr.basic_block):  # noqa: N801 (GNU Radio block naming)
    """Counters and the last decoded image; `widget()` is the QWidget to place in a QT GUI."""

    def __init__(self, image_size: int = 256) -> None:
        gr.basic_block.__init__(self, name="link_monitor", in_sig=None, out_sig=None)
        self.packets_sent = 0
        self.packets_received = 0
        self.packets_lost = 0  #: reported by the depacketizer for the messages it completed
        self.messages_received = 0
        self.images_decoded = 0
        self.last_image: bytes | None = None
        self._lock = threading.Lock()
        for port, handler in (("sent", self._sent), ("received", self._received),
                              ("messages", self._message), ("decoded", self._decoded)):
            self.message_port_register_in(pmt.intern(port))
            self.set_msg_handler(pmt.intern(port), handler)
        self._widget = _MonitorWidget(self, image_size)

    def widget(self) -> QtWidgets.QWidget:
        return self._widget

    def counters(self) -> dict[str, int]:
        with self._lock:
            return {"packets sent": self.packets_sent, "packets received": self.packets_received,
                    "packets lost": self.packets_lost, "messages received": self.messages_received,
                    "images decoded": self.images_decoded}

    def _sent(self, msg: pmt.pmt_base) -> None:
        with self._lock:
            self.packets_sent += 1

    def _received(self, msg: pmt.pmt_base) -> None:
        with self._lock:
            self.packets_received += 1

    def _message(self, msg: pmt.pmt_base) -> None:
        meta = pmt.car(msg) if pmt.is_pair(msg) else pmt.PMT_NIL
        lost = pmt.dict_ref(meta, _PACKETS_LOST, pmt.PMT_NIL) if pmt.is_dict(meta) else pmt.PMT_NIL
        with self._lock:
            self.messages_received += 1
            if pmt.is_integer(lost):
                self.packets_lost += max(0, pmt.to_long(lost))

    def _decoded(self, msg: pmt.pmt_base) -> None:
        if not (pmt.is_pair(msg) and pmt.is_u8vector(pmt.cdr(msg))):
            return
        data = bytes(pmt.u8vector_elements(pmt.cdr(msg)))
        with self._lock:
            self.images_decoded += 1
            self.last_image = data


class _MonitorWidget(QtWidgets.QWidget):
    def __init__(self, block: link_monitor, image_size: int) -> None:
        super().__init__()
        self._block = block
        self._shown = None
        self._counters = QtWidgets.QLabel()
        self._counters.setFont(QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.FixedFont))
        self._image = QtWidgets.QLabel("no image decoded yet")
        self._image.setAlignment(QtCore.Qt.AlignCenter)
        self._image.setMinimumSize(image_size, image_size)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self._counters)
        layout.addWidget(self._image, 1)
        self._timer = QtCore.QTimer(self)
        self._timer.timeout.connect(self.refresh)
        self._timer.start(REFRESH_MS)
        self.refresh()

    def refresh(self) -> None:
        counters = self._block.counters()
        self._counters.setText("\n".join(f"{name:<18}{value:>7}" for name, value in counters.items()))
        image = self._block.last_image
        if image is not None and image is not self._shown:
            pixmap = QtGui.QPixmap()
            if pixmap.loadFromData(image):
                self._image.setPixmap(pixmap.scaled(self._image.size(), QtCore.Qt.KeepAspectRatio))
            self._shown = image
