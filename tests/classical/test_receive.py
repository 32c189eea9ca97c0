import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import ImageFile

from lamigo.classical import BASELINES, MID_GREY, encode_at_budget, get_baseline
from lamigo.classical.jpeg import parse_header
from lamigo.classical.received import decode
from lamigo.evaluation.quality import psnr
from lamigo.images import fit_image, load_image

SHAPE = (256, 256)
PAYLOAD = 100  # bytes per packet in these tests


@pytest.fixture(scope="module")
def coffee():
    return fit_image(load_image("photo:coffee"), SHAPE)


@pytest.fixture(scope="module")
def files(coffee):
    return {codec: encode_at_budget(codec, coffee, 4000) for codec in BASELINES}


def packet_loss(encoded, packets):
    """The mask of the file's bytes carried by the lost packet numbers (the header travels apart)."""
    lost = np.zeros(len(encoded.data), dtype=bool)
    for number in packets:
        start = encoded.header_bytes + number * PAYLOAD
        lost[start:start + PAYLOAD] = True
    return lost


def garbled(data, lost, seed=0):
    """`data` with its lost bytes replaced by noise: the receiver must not read them."""
    noisy = np.frombuffer(data, dtype=np.uint8).copy()
    noisy[lost] = np.random.default_rng(seed).integers(0, 256, int(lost.sum()), dtype=np.uint8)
    return noisy.tobytes()


def test_each_baseline_at_budget_fits_and_decodes_whole(coffee, files):
    for codec, encoded in files.items():
        assert len(encoded.data) == encoded.bytes_on_air <= 4000, codec
        received = get_baseline(codec).receive(encoded.data, np.zeros(len(encoded.data), bool), SHAPE)
        assert received.decoded_ok and received.lost_ranges == () and received.lost_bytes == 0
        assert psnr(coffee, received.image) > 26, codec


def test_file_layouts(files):
    plain, restart, j2k = files["jpeg"].data, files["jpeg-rst"].data, files["jpeg2000"].data
    for data in (plain, restart):
        assert data[:2] == b"\xff\xd8" and data[2:4] != b"\xff\xe0"  # no JFIF APP0
        header = files["jpeg"].header_bytes if data is plain else files["jpeg-rst"].header_bytes
        sos = data.rfind(b"\xff\xda", 0, header)
        assert header == sos + 2 + int.from_bytes(data[sos + 2:sos + 4], "big")
    assert parse_header(plain).restart_interval == 0
    header = parse_header(restart)
    assert header.restart_interval == header.mcus_per_row and header.intervals == 16
    assert sum(restart.count(bytes((0xFF, 0xD0 + n))) for n in range(8)) == 15
    # A bare codestream (no JP2 boxes), no COM segment, the header up to the first SOT.
    assert j2k[:2] == b"\xff\x4f" and b"Created by OpenJPEG" not in j2k
    assert j2k[files["jpeg2000"].header_bytes:][:2] == b"\xff\x90"


def test_jpeg_with_lost_packets_decodes_without_raising(coffee, files):
    for codec in BASELINES:
        encoded = files[codec]
        lost = packet_loss(encoded, [3, 4, 17])
        received = get_baseline(codec).receive(garbled(encoded.data, lost), lost, SHAPE)
        assert received.decoded_ok and received.image.shape == (*SHAPE, 3)
        assert received.lost_bytes == 3 * PAYLOAD and len(received.lost_ranges) == 2
        assert json.loads(json.dumps(received.as_dict()))["lost_bytes"] == 3 * PAYLOAD
        assert psnr(coffee, received.image) > psnr(coffee, np.full_like(coffee, MID_GREY)), codec


def test_restart_markers_recover_more_than_plain_jpeg_at_the_same_loss(coffee, files):
    gains = []
    for packets in ([2], [5, 6], [9, 20], [12], [25, 30, 31]):
        plain, restart = (get_baseline(c).receive(garbled(files[c].data, packet_loss(files[c], packets)),
                                                  packet_loss(files[c], packets), SHAPE) for c in ("jpeg", "jpeg-rst"))
        gains.append(psnr(coffee, restart.image) - psnr(coffee, plain.image))
        assert restart.lost_segments >= len(packets)
    assert np.mean(gains) > 3, gains


def test_later_restart_intervals_land_in_their_rows(files):
    encoded = files["jpeg-rst"]
    data, header = encoded.data, parse_header(encoded.data)
    clean = decode(data, SHAPE, keep_partial=False)
    markers = [p for p in range(header.length, len(data) - 1) if data[p] == 0xFF and 0xD0 <= data[p + 1] <= 0xD7]
    rows = header.mcu_height
    # Lose from inside interval 1 to inside interval 11: more than eight markers, so the marker
    # numbers alone cannot say where the next interval goes.
    lost = np.zeros(len(data), dtype=bool)
    lost[markers[0] + 10:markers[10] + 10] = True
    received = get_baseline("jpeg-rst").receive(garbled(data, lost), lost, SHAPE)
    assert received.lost_segments == 11
    margin = 2  # libjpeg's chroma upsampling reaches one row into a neighbouring interval
    kept = np.r_[0:rows - margin, 12 * rows + margin:SHAPE[0]]
    np.testing.assert_array_equal(received.image[kept], clean[kept])


@pytest.mark.parametrize("codec", sorted(BASELINES))
def test_lost_header_gives_grey_and_a_failure(files, codec):
    encoded = files[codec]
    lost = np.zeros(len(encoded.data), dtype=bool)
    lost[encoded.header_bytes - 1] = True
    received = get_baseline(codec).receive(encoded.data, lost, SHAPE)
    assert not received.decoded_ok and (received.image == MID_GREY).all()
    assert received.image.shape == (*SHAPE, 3) and received.lost_ranges == ((encoded.header_bytes - 1, encoded.header_bytes),)


@pytest.mark.parametrize("codec", sorted(BASELINES))
def test_a_header_claiming_another_size_is_a_failure(files, codec):
    received = get_baseline(codec).receive(files[codec].data, np.zeros(len(files[codec].data), bool), (128, 256))
    assert not received.decoded_ok and received.image.shape == (128, 256, 3)


def test_pillow_global_is_restored(files):
    encoded = files["jpeg"]
    lost = packet_loss(encoded, [1])
    get_baseline("jpeg").receive(encoded.data, lost, SHAPE)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(codec=st.sampled_from(sorted(BASELINES)), data=st.data())
def test_random_loss_never_raises(files, codec, data):
    encoded = files[codec].data
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    lost = rng.random(len(encoded)) < data.draw(st.sampled_from([0.0, 0.001, 0.01, 0.1, 0.5]))
    start = data.draw(st.integers(0, len(encoded) - 1))
    lost[start:start + data.draw(st.integers(0, 2000))] = True
    received = get_baseline(codec).receive(garbled(encoded, lost, data.draw(st.integers(0, 9))), lost, SHAPE)
    assert received.image.shape == (*SHAPE, 3) and received.image.dtype == np.uint8
    assert received.lost_bytes == int(lost.sum())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(codec=st.sampled_from(sorted(BASELINES)), data=st.data())
def test_random_bytes_never_raise(files, codec, data):
    prefix = files[codec].data[:data.draw(st.integers(0, files[codec].header_bytes + 50))]
    blob = prefix + data.draw(st.binary(max_size=600))
    lost = np.array(data.draw(st.lists(st.booleans(), min_size=len(blob), max_size=len(blob))), dtype=bool)
    received = get_baseline(codec).receive(blob, lost, (64, 32))
    assert received.image.shape == (64, 32, 3) and received.image.dtype == np.uint8


def test_a_loss_mask_of_another_length_is_a_callers_mistake(files):
    with pytest.raises(ValueError, match="loss mask"):
        get_baseline("jpeg").receive(files["jpeg"].data, np.zeros(10, bool), SHAPE)
