"""The GO message: binary format, control part, bandwidth report, and the message as received."""

from lamigo.message.format import (
    DEFAULT_MAX_CODEBOOK,
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_MAX_TOKENS,
    MAGIC,
    VERSION,
    Control,
    Geometry,
    GeometryCheck,
    GOMessage,
    ReceiverLimits,
    check_prior,
    control_index_coder,
    decode_control,
    encode_control,
    message_index_coder,
    pack_message,
    peek_control,
    unpack_message,
)
from lamigo.message.received import LinkStats, ReceivedMessage
from lamigo.message.report import BandwidthReport, bandwidth_report

__all__ = [
    "DEFAULT_MAX_CODEBOOK",
    "DEFAULT_MAX_MESSAGE_BYTES",
    "DEFAULT_MAX_TOKENS",
    "MAGIC",
    "VERSION",
    "BandwidthReport",
    "Control",
    "GOMessage",
    "Geometry",
    "GeometryCheck",
    "LinkStats",
    "ReceivedMessage",
    "ReceiverLimits",
    "bandwidth_report",
    "check_prior",
    "control_index_coder",
    "decode_control",
    "encode_control",
    "message_index_coder",
    "pack_message",
    "peek_control",
    "unpack_message",
]
