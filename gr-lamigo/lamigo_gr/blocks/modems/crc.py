"""The radio CRC every modem appends to a link packet and checks before passing it on: CRC-32
(IEEE 802.3) as GNU Radio's PDU blocks `digital.crc_append` / `digital.crc_check` compute it."""

from __future__ import annotations

from gnuradio import digital

CRC_BYTES = 4
_CRC = {"num_bits": 32, "poly": 0x4C11DB7, "initial_value": 0xFFFFFFFF, "final_xor": 0xFFFFFFFF,
        "input_reflected": True, "result_reflected": True, "swap_endianness": False}


def crc_append() -> digital.crc_append:
    """PDU in `in` -> the PDU with its CRC-32 appended on `out`."""
    return digital.crc_append(**_CRC, skip_header_bytes=0)


def crc_check() -> digital.crc_check:
    """PDU in `in` -> on `ok` the PDUs whose CRC-32 holds, without it (`fail`: the others)."""
    return digital.crc_check(**_CRC, discard_crc=True, skip_header_bytes=0)


__all__ = ["CRC_BYTES", "crc_append", "crc_check"]
