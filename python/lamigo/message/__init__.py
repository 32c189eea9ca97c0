"""The GO message: binary format, control part and bandwidth report."""

from lamigo.message.format import (
    MAGIC,
    VERSION,
    Control,
    Geometry,
    GOMessage,
    check_prior,
    decode_control,
    encode_control,
    pack_message,
    peek_control,
    unpack_message,
)
from lamigo.message.report import BandwidthReport, bandwidth_report

__all__ = [
    "MAGIC",
    "VERSION",
    "BandwidthReport",
    "Control",
    "GOMessage",
    "Geometry",
    "bandwidth_report",
    "check_prior",
    "decode_control",
    "encode_control",
    "pack_message",
    "peek_control",
    "unpack_message",
]
