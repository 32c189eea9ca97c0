"""The demo's JPEG panels: the same packet slots lost as the GO message on the loopback."""

from __future__ import annotations

import numpy as np

from lamigo.images import fit_image, load_image
from lamigo.link import LinkConfig
from lamigo_gr.apps.demo import _jpeg_over_the_link, _label
from lamigo_gr.apps.loopback import LoopbackResult


def test_jpeg_loses_the_slots_the_loopback_lost():
    original = fit_image(load_image("photo:coffee"), (128, 128))
    sent = [bytes([slot]) * 50 for slot in range(30)]
    link = LoopbackResult(messages_sent=1, packets_sent=30, packets_received=28, packets_rejected=0,
                          messages_received=1, messages_failed=0, bytes_on_air=3000, packets=sent,
                          arrived=[packet for slot, packet in enumerate(sent) if slot not in (4, 9)],
                          link_config=LinkConfig())
    assert link.lost_slots == {4, 9}
    data, record, over_link, perfect = _jpeg_over_the_link(original, link)
    assert record["bytes_on_air"] <= 3000 and record["file_bytes"] == len(data)
    assert record["packets_lost"] == 2 and record["decoded_ok"]
    assert record["psnr_db_perfect_link"] > record["psnr_db_same_link"]
    assert over_link.shape == perfect.shape == (128, 128, 3)
    labelled = _label(perfect, ["JPEG, perfect link", "1 B"])
    assert labelled.shape[1] == 128 and labelled.shape[0] > 128 and np.array_equal(labelled[:128], perfect)
