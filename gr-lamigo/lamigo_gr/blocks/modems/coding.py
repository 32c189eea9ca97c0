"""What the modems share to protect a link packet, from GNU Radio's own blocks: the radio CRC
every modem appends and checks (CRC-32, IEEE 802.3, as `digital.crc_append` / `crc_check`
compute it), and the payload code the coded modems use: the K=7 rate-1/2 convolutional code
(polynomials 109, 79: the only code GNU Radio's Viterbi decoder takes), terminated and padded
to whole bytes on both ends (without `padded` a frame loses its last bits)."""

from __future__ import annotations

from gnuradio import digital, fec

CRC_BYTES = 4
_CRC = {"num_bits": 32, "poly": 0x4C11DB7, "initial_value": 0xFFFFFFFF, "final_xor": 0xFFFFFFFF,
        "input_reflected": True, "result_reflected": True, "swap_endianness": False}
CC_K, CC_RATE, CC_POLYS = 7, 2, [109, 79]


def crc_append() -> digital.crc_append:
    """PDU in `in` -> the PDU with its CRC-32 appended on `out`."""
    return digital.crc_append(**_CRC, skip_header_bytes=0)


def crc_check() -> digital.crc_check:
    """PDU in `in` -> on `ok` the PDUs whose CRC-32 holds, without it (`fail`: the others)."""
    return digital.crc_check(**_CRC, discard_crc=True, skip_header_bytes=0)


def cc_encoder(frame_bits: int, mode=fec.CC_TERMINATED):
    """The convolutional encoder (a `fec.generic_encoder`) for frames of up to `frame_bits`;
    `mode` fec.CC_TAILBITING for short fixed frames (no tail: exactly twice the bits)."""
    return fec.cc_encoder_make(frame_bits, CC_K, CC_RATE, CC_POLYS, 0, mode, mode == fec.CC_TERMINATED)


def cc_decoder(frame_bits: int, mode=fec.CC_TERMINATED):
    """Its soft-input Viterbi decoder (a `fec.generic_decoder`) for frames of up to `frame_bits`."""
    return fec.cc_decoder.make(frame_bits, CC_K, CC_RATE, CC_POLYS, 0, -1, mode, mode == fec.CC_TERMINATED)


def coded_bytes(packet_bytes: int, code: str) -> int:
    """Bytes on the air for the payload of a link packet of `packet_bytes` (its CRC-32 added, then
    coded with `code`, "cc" or "none"): with the terminated, byte-padded K=7 rate-1/2 code,
    2 (n + 4) + 2."""
    frame = packet_bytes + CRC_BYTES
    return frame if code == "none" else cc_encoder(8 * frame).get_output_size() // 8


__all__ = ["CC_K", "CC_POLYS", "CC_RATE", "CRC_BYTES", "coded_bytes", "cc_decoder", "cc_encoder", "crc_append",
           "crc_check"]
