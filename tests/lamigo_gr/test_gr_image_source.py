"""image source: images in, GO message PDUs out, then done."""

import pmt
import pytest
from gnuradio import blocks, gr, gr_unittest
from PIL import Image

from lamigo.errors import ConfigError
from lamigo.images import BUNDLED_PHOTOS, load_image
from lamigo.lami.transmitter import caption_to_send
from lamigo.message import unpack_message
from lamigo_gr import image_source
from lamigo_gr.support.pdu import split_pdu


def _source(**overrides):
    params = dict(images="photo:coffee;photo:rocket", size="64x64", caption="a test image", model_set="tiny")
    return image_source(**(params | overrides))


class TestGoMessageSource(gr_unittest.TestCase):
    def test_emits_count_messages_then_ends_the_flowgraph(self):
        tb = gr.top_block()
        source = _source(count=3, first_id=65535)
        debug = blocks.message_debug()
        tb.msg_connect(source, "out", debug, "store")
        tb.start()
        tb.wait()  # returns because the source signalled done
        self.assertEqual(debug.num_messages(), 3)
        pdus = [split_pdu(debug.get_message(i)) for i in range(3)]
        self.assertEqual([meta["message_id"] for meta, _ in pdus], [65535, 0, 1])
        self.assertEqual([meta["source"] for meta, _ in pdus], ["photo:coffee", "photo:rocket", "photo:coffee"])
        message = unpack_message(pdus[0][1])
        self.assertEqual((message.geometry.height, message.geometry.width), (64, 64))
        self.assertEqual(message.caption, "a test image")
        self.assertEqual(pdus[0][0]["bytes"], len(pdus[0][1]))

    def test_repeat_runs_until_stopped(self):
        tb = gr.top_block()
        source = _source(repeat=True, interval=0.01)
        debug = blocks.message_debug()
        tb.msg_connect(source, "out", debug, "store")
        tb.start()
        self.waitFor(lambda: debug.num_messages() >= 5, timeout=10)
        tb.stop()
        tb.wait()
        self.assertGreaterEqual(source.messages_sent, 5)
        sources = [pmt.to_python(pmt.car(debug.get_message(i)))["source"] for i in range(4)]
        self.assertEqual(sources, ["photo:coffee", "photo:rocket"] * 2)

    def test_an_unreadable_image_is_skipped(self):
        tb = gr.top_block()
        source = _source()
        source.sources = ["/nonexistent/image.png", "photo:coffee"]
        debug = blocks.message_debug()
        tb.msg_connect(source, "out", debug, "store")
        tb.start()
        tb.wait()
        self.assertEqual(debug.num_messages(), 1)
        self.assertEqual(source.images_failed, 1)
        self.assertEqual(pmt.to_python(pmt.car(debug.get_message(0)))["source"], "photo:coffee")


def test_bad_parameters_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="multiples of 32"):
        _source(size="60x60")
    with pytest.raises(ConfigError, match="count"):
        _source(count=-1)
    with pytest.raises(ConfigError, match="policy"):
        _source(policy="bogus")


def test_frames_without_a_caption_travel_with_the_empty_one_after_one_warning(tmp_path, caplog):
    frames = [tmp_path / f"frame{i}.png" for i in range(2)]
    for frame in frames:
        Image.effect_noise((64, 64), 40).convert("RGB").save(frame)
    tb = gr.top_block()
    source = _source(images=str(tmp_path), caption="")
    debug = blocks.message_debug()
    tb.msg_connect(source, "out", debug, "store")
    with caplog.at_level("WARNING"):
        tb.start()
        tb.wait()
    captions = [unpack_message(split_pdu(debug.get_message(i))[1]).caption for i in range(debug.num_messages())]
    assert captions == ["", ""]
    assert sum("sending the empty caption" in record.getMessage() for record in caplog.records) == 1


def test_bundled_photos_without_a_captioner_send_their_own_captions():
    source = _source(images="photo:coffee;photo:rocket", caption="")
    captions = [unpack_message(source.transmitter.pack(source.transmitter.encode(
        load_image(name), caption_to_send(name, source.caption, source.transmitter.models)))).caption
        for name in ("photo:coffee", "photo:rocket")]
    assert captions == [BUNDLED_PHOTOS["coffee"], BUNDLED_PHOTOS["rocket"]]
