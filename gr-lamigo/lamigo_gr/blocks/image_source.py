"""image source: images in, one GO message PDU per image out (the transmitter, Algorithm 1),
or one classical file (JPEG, JPEG 2000) per image to compare with over the same link."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence

import pmt
from gnuradio import gr

from lamigo.classical import get_baseline
from lamigo.coding import DEFAULT_INDEX_CODER, DEFAULT_TEXT_CODER
from lamigo.errors import ConfigError, LamigoError
from lamigo.images import DEFAULT_SIZE, fit_image, load_image, parse_size, resolve_images
from lamigo.lami.transmitter import Transmitter, caption_to_send
from lamigo.link import LinkConfig, LinkKey
from lamigo.link.packetizer import control_byte_weight
from lamigo.link.classical import send_at_budget
from lamigo.masking import DEFAULT_PATTERN, DEFAULT_POLICY, DEFAULT_RATIO, policy_from_options
from lamigo.message import CODEC_NAME
from lamigo.zoo.index_prior import model_set_index_prior
from lamigo.zoo.sets import load_model_set
from lamigo_gr.support.done import SYSTEM_PORT, done_message
from lamigo_gr.support.pdu import make_pdu

logger = logging.getLogger(__name__)


class image_source(gr.basic_block):  # noqa: N801 (GNU Radio block naming)
    """Encodes images into GO messages on the CPU and emits one PDU per image on `out`.

    The PDU holds the packed GO message (`lamigo.message.pack_message`); its metadata holds
    `message_id` (counting from `first_id`, modulo 2**16), `source` and `bytes`. After `count`
    messages (every image once when 0 and not looping) the block stops and, with `finish`,
    tells the flowgraph it is done, so a flowgraph of finite sources ends by itself.

    With a classical `codec` the PDU is instead the image's file in that codec, at the highest
    setting whose bytes on air are at most `budget` (`lamigo.link.classical.send_at_budget`:
    every packet the Link Packetizer will send for it, link headers, CRCs, authentication tags,
    replay stamps and the repeated, protected header block included, as counted with the packetizer's
    `max_payload`, `control_copies` and `link_key`), with metadata `codec`, `setting`, `height`
    and `width` besides; the Link Packetizer sends it as `lamigo.link.classical` does and the
    Classical Receiver hands on its image. No models load.

    Args:
        images: a file, folder, glob pattern or photo:NAME (several separated by ';').
        count: messages to send, cycling through the images; 0 = each image once, or forever
            with `repeat`.
        repeat: start over after the last image.
        interval: seconds between messages (0 = as fast as they encode).
        size: image size sent, "HxW" in multiples of 32.
        policy, ratio, seed, pattern: masking policy (prm, pdm, ebm, none) and its parameters.
        coder, text_coder: index and caption coders.
        caption: caption sent with every image; empty = the model set's captioner, else a bundled
            photo's own caption, else the empty caption (with one warning).
        model_set, weights: the models (tiny, default, paella-v3 or a folder) and their folder.
        first_id: message id of the first message.
        finish: signal done after the last message.
        codec: "lami-go" (`lamigo.message.CODEC_NAME`), or a classical baseline: "jpeg", "jpeg-rst" (restart markers) or "jpeg2000".
        budget: the classical file's largest size in bytes on air (ignored for lami-go), e.g. a
            GO message's bytes on air to compare at the same cost.
        max_payload, control_copies, link_key: those of the Link Packetizer downstream, which
            the budget counts the packets of (classical codecs), and which a GO message's index
            code table is chosen for (the packetizer sends it with that table).
    """

    def __init__(
        self,
        images: str | Sequence[str] = "photo:coffee",
        count: int = 0,
        repeat: bool = False,
        interval: float = 0.0,
        size: str = DEFAULT_SIZE,
        policy: str = DEFAULT_POLICY,
        ratio: float = DEFAULT_RATIO,
        seed: int = 0,
        pattern: str = DEFAULT_PATTERN,
        coder: str = DEFAULT_INDEX_CODER,
        text_coder: str = DEFAULT_TEXT_CODER,
        caption: str = "",
        model_set: str = "tiny",
        weights: str = "",
        first_id: int = 0,
        finish: bool = True,
        codec: str = CODEC_NAME,
        budget: int = 3000,
        max_payload: int = LinkConfig.max_payload,
        control_copies: int = LinkConfig.control_copies,
        link_key: str = "",
    ) -> None:
        gr.basic_block.__init__(self, name="lamigo_image_source", in_sig=None, out_sig=None)
        if count < 0 or interval < 0:
            raise ConfigError(f"count and interval must be >= 0, got {count} and {interval}")
        self.sources = resolve_images(images)
        self.count = count
        self.repeat = repeat
        self.interval = interval
        self.caption = caption or None
        self.first_id = first_id
        self.finish = finish
        self.codec = codec
        self.budget = budget
        self.size = parse_size(size)
        self.transmitter = None
        if codec != CODEC_NAME:
            get_baseline(codec)  # ConfigError naming the choices
            if budget < 1:
                raise ConfigError(f"budget must be >= 1 byte, got {budget}")
            self.link = LinkConfig(max_payload, control_copies=control_copies)
            self.key = LinkKey.load(link_key) if link_key else None
        else:
            models = load_model_set(model_set, device="cpu", weights=weights or None)
            # The Link Packetizer sends the message with the code table chosen here, so it is
            # chosen with that packetizer's weight of a control byte.
            self.transmitter = Transmitter(
                models, policy_from_options(policy, ratio, seed, pattern), coder, text_coder, self.size,
                model_set_index_prior(model_set, weights or None),
                control_byte_weight(LinkConfig(max_payload, control_copies=control_copies)),
            )
        self.messages_sent = 0
        self.images_failed = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.message_port_register_out(pmt.intern("out"))

    def start(self) -> bool:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="lamigo_image_source", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> bool:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        return True

    def _schedule(self) -> Iterator[str]:
        """The image sources in sending order."""
        sent = 0
        while True:
            for source in self.sources:
                if self.count and sent >= self.count:
                    return
                yield source
                sent += 1
            if not (self.repeat or (self.count and sent < self.count)):
                return

    def _run(self) -> None:
        failures_in_a_row = 0
        for source in self._schedule():
            if self._stop.is_set():
                return
            failures_in_a_row = 0 if self._send(source) else failures_in_a_row + 1
            if failures_in_a_row >= len(self.sources):
                logger.error("no image could be encoded; the source stops")
                break
            if self.interval and self._stop.wait(self.interval):
                return
        logger.info("sent %d GO messages (%d images failed)", self.messages_sent, self.images_failed)
        if self.finish and not self._stop.is_set():
            self._post(SYSTEM_PORT, done_message())

    def _send(self, source: str) -> bool:
        """Encode and emit one image; False when it could not be read or encoded."""
        try:
            data, meta = self._encode(source)
        except LamigoError as err:  # one bad image must not end the transmission
            self.images_failed += 1
            logger.error("skipped %s: %s", source, err)
            return False
        message_id = (self.first_id + self.messages_sent) % 0x10000
        self.messages_sent += 1
        self.message_port_pub(
            pmt.intern("out"),
            make_pdu(data, {"message_id": message_id, "source": source, "bytes": len(data), **meta}),
        )
        return True

    def _encode(self, source: str) -> tuple[bytes, dict]:
        """The bytes sent for one image and their metadata beyond id, source and size."""
        if self.transmitter is not None:
            caption = caption_to_send(source, self.caption, self.transmitter.models)
            return self.transmitter.pack(self.transmitter.encode(load_image(source), caption)), {}
        encoded = send_at_budget(self.codec, fit_image(load_image(source), self.size), self.budget, self.link,
                                 self.key)
        if encoded is None:
            raise ConfigError(f"no {self.codec} file of this image fits {self.budget} bytes on air")
        return encoded.data, {"codec": self.codec, "setting": encoded.setting, "height": self.size[0],
                              "width": self.size[1]}
