"""PDU helpers: metadata dict and u8vector in, the same out; anything else a PacketError."""

import numpy as np
import pmt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lamigo.errors import PacketError
from lamigo_gr.support.pdu import make_pdu, pdu_payload, split_pdu


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


def _pdu_with_pmt_calls(data: bytes, meta: dict) -> pmt.pmt_base:
    """The PDU built the plain way, one pmt call per entry (what make_pdu must equal)."""
    meta_pmt = pmt.make_dict()
    for key, value in meta.items():
        value = value.item() if isinstance(value, np.generic) else value
        value_pmt = (pmt.init_u8vector(value.size, value.astype(np.uint8).ravel().tolist())
                     if isinstance(value, np.ndarray) else pmt.to_pmt(value))
        meta_pmt = pmt.dict_add(meta_pmt, pmt.intern(key), value_pmt)
    return pmt.cons(meta_pmt, pmt.init_u8vector(len(data), list(data)))


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300), meta=st.dictionaries(
    st.text(min_size=1, max_size=12),
    st.one_of(st.booleans(), st.integers(-(1 << 63), (1 << 63) - 1), st.floats(allow_nan=False), st.text(max_size=20),
              st.lists(st.integers(0, 255), max_size=20).map(lambda v: np.array(v, dtype=np.uint8)),
              st.integers(0, 65535).map(np.uint16)),
    max_size=6))
def test_pdus_are_what_the_pmt_calls_build(data, meta):
    built = make_pdu(data, meta)
    assert pmt.serialize_str(built) == pmt.serialize_str(_pdu_with_pmt_calls(data, meta))
    assert pmt.equal(built, _pdu_with_pmt_calls(data, meta))
    out_meta, out_data = split_pdu(built)
    assert out_data == data == pdu_payload(built) and list(out_meta) == list(reversed(meta))


@pytest.mark.parametrize("meta", [{3: 1}, {"big": 1 << 63}, {"small": -(1 << 63) - 1}, {"obj": object()},
                                  {"text": "x" * 70000}])
def test_metadata_a_pdu_cannot_carry_is_refused(meta):
    with pytest.raises(PacketError):
        make_pdu(b"x", meta)
