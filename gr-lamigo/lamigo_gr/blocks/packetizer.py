"""Packetizer: GO message PDUs in, link packet PDUs out (`lamigo.link.packetize`; a classical
file, `lamigo.link.classical.packetize_file`)."""

from __future__ import annotations

import logging

import pmt
from gnuradio import gr

from lamigo.classical import Encoded, get_baseline
from lamigo.errors import MessageError
from lamigo.link import LinkConfig, LinkKey, Packet, PacketKind, PacketSealer, check_message_id, packetize
from lamigo.link.classical import packetize_file
from lamigo.message import CODEC_NAME, unpack_message
from lamigo.zoo.index_prior import model_set_index_prior
from lamigo.logs import RateLimitedLog
from lamigo_gr.support.pdu import make_pdu, read_input_pdu

logger = logging.getLogger(__name__)

_KIND_NAMES = {kind: kind.name.lower() for kind in PacketKind}  # the `kind` metadata of each packet


class packetizer(gr.basic_block):  # noqa: N801 (GNU Radio block naming)
    """Splits each GO message PDU on `in` into link packets (header CRC-16, CRC-32 trailer,
    repeated Reed-Solomon coded control block, interleaved token groups), one PDU each on `out`.

    The message id comes from the input metadata `message_id` (as the image source sets
    it), else from a counter. A PDU whose metadata names a classical `codec` (as the GO message
    source sets it, with `height` and `width`) is a classical file: its header up to the first
    scan is protected as a control block, the rest sent as is. Packet metadata: `message_id`, `seq`, `count`, `kind`. Input that
    is not a valid GO message is counted in `rejected` and logged; the block keeps running.

    Args:
        max_payload: payload bytes per packet (link header and CRC not included).
        interleaver: "block", "random" or "none".
        interleaver_seed: seed of the random interleaver.
        payload_crc: receivers drop damaged packets (True) or keep their bit errors (False).
        control_copies: how many times each control chunk is sent (1 to 16).
        model_set, weights: whose index prior the coders use (as at the source).
        link_key: file of the pre-shared packet-authentication key (`lamigo.link.auth`); each
            packet then carries an 8-byte tag and a 10-byte replay stamp (a random sender id
            and a counter, `lamigo.link.replay`). Empty: no authentication.
    """

    def __init__(
        self,
        max_payload: int = LinkConfig.max_payload,
        interleaver: str = LinkConfig.interleaver,
        interleaver_seed: int = LinkConfig.interleaver_seed,
        payload_crc: bool = LinkConfig.payload_crc,
        control_copies: int = LinkConfig.control_copies,
        model_set: str = "tiny",
        weights: str = "",
        link_key: str = "",
    ) -> None:
        gr.basic_block.__init__(self, name="lamigo_packetizer", in_sig=None, out_sig=None)
        self.config = LinkConfig(max_payload, interleaver, interleaver_seed, payload_crc, control_copies)
        self.prior = model_set_index_prior(model_set, weights or None)
        self.key = LinkKey.load(link_key) if link_key else None
        self._sealer = PacketSealer(self.key) if self.key is not None else None
        self._log = RateLimitedLog(logger)
        self.messages_in = 0
        self.packets_out = 0
        self.rejected = 0
        self._next_id = 0
        self.message_port_register_in(pmt.intern("in"))
        self._out = pmt.intern("out")
        self.message_port_register_out(self._out)
        self.set_msg_handler(pmt.intern("in"), self._handle)

    def _handle(self, msg: pmt.pmt_base) -> None:
        def parse(meta: dict, data: bytes) -> tuple[int, list[Packet]]:
            message_id = check_message_id(meta.get("message_id", self._next_id))
            return message_id, self._packetize(meta, data, message_id)

        parsed = read_input_pdu(msg, parse, self._count_rejected, self._log)
        if parsed is None:
            return
        message_id, packets = parsed
        self._next_id = (message_id + 1) % 0x10000
        self.messages_in += 1
        for packet in packets:
            meta = {"message_id": message_id, "seq": packet.seq, "count": packet.count,
                    "kind": _KIND_NAMES[packet.kind]}
            data = self._sealer.seal(packet) if self._sealer is not None else packet.to_bytes()
            self.message_port_pub(self._out, make_pdu(data, meta))
        self.packets_out += len(packets)

    def _count_rejected(self) -> None:
        self.rejected += 1

    def _packetize(self, meta: dict, data: bytes, message_id: int) -> list[Packet]:
        codec = meta.get("codec", CODEC_NAME)
        if codec == CODEC_NAME:
            return packetize(unpack_message(data, self.prior), message_id, self.config, self.prior)
        baseline = get_baseline(str(codec))
        shape = (meta.get("height"), meta.get("width"))
        if not all(isinstance(side, int) and not isinstance(side, bool) for side in shape):
            raise MessageError(f"a {codec} file needs integer height and width metadata, got {shape}")
        header = baseline.header_length(data)
        if header is None:
            raise MessageError(f"not a {codec} file whose header parses")
        return packetize_file(Encoded(baseline.name, 0, data, header, 0), shape, message_id, self.config)
