"""PDU helpers: metadata dict and u8vector in, the same out; anything else a PacketError."""

import numpy as np
import pmt
import pytest

from lamigo.errors import PacketError
from lamigo_gr.support.pdu import make_pdu, split_pdu


def test_round_trip():
    meta = {"message_id": np.uint16(7), "kind": "control", "ratio": 0.25, "ok": True,
            "lost_map": np.array([1, 255], dtype=np.uint8)}
    out_meta, data = split_pdu(make_pdu(b"\x00\x01\xff", meta))
    assert data == b"\x00\x01\xff"
    assert (out_meta["message_id"], out_meta["kind"], out_meta["ratio"], out_meta["ok"]) == (7, "control", 0.25, True)
    assert out_meta["lost_map"].tolist() == [1, 255]


def test_empty_metadata():
    assert split_pdu(pmt.cons(pmt.PMT_NIL, pmt.init_u8vector(1, [5]))) == ({}, b"\x05")


@pytest.mark.parametrize("msg", [
    pmt.intern("text"),
    pmt.cons(pmt.make_dict(), pmt.init_f32vector(1, [1.0])),
    pmt.cons(pmt.from_long(3), pmt.init_u8vector(1, [5])),
])
def test_what_is_not_a_pdu(msg):
    with pytest.raises(PacketError):
        split_pdu(msg)
