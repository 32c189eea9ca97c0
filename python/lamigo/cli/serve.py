"""`lamigo serve`: the decoder service (GO messages in over ZMQ, regenerated images out)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from lamigo.cli.common import add_model_options, load_models, print_json
from lamigo.lami.settings import add_decoder_options, decoder_settings
from lamigo.service.wire import (
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_MAX_STEPS,
    DEFAULT_MAX_TOKENS,
    DEFAULT_MESSAGES_ADDRESS,
    DEFAULT_RESULTS_ADDRESS,
)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the decoder service: GO messages in over ZMQ, images out",
        description="Receive GO messages (with their lost-token maps) on a ZMQ PULL socket, "
        "regenerate them in batches with the LaMI decoder (on the GPU when there is one) and "
        "publish each image (PNG) with a JSON record on a ZMQ PUB socket. Malformed and oversized "
        "messages are logged and counted; under overload the oldest queued message is dropped. "
        "SIGINT or SIGTERM stops it cleanly within a layer of the models, abandoning the batch being decoded "
        "and the queue. To share one stream among several services, let "
        "the sender bind PUSH and start each service with --connect.",
    )
    net = parser.add_argument_group("addresses")
    net.add_argument("--listen", metavar="ADDR", default=None,
                     help=f"bind the PULL socket for messages here (default: {DEFAULT_MESSAGES_ADDRESS}, "
                     "or nothing when --connect is given); tcp://HOST:* picks a free port")
    net.add_argument("--connect", metavar="ADDR", action="append", default=[],
                     help="connect the PULL socket to an upstream PUSH that binds ADDR (repeatable): "
                     "services on several hosts then share its stream")
    net.add_argument("--publish", metavar="ADDR", default=None,
                     help=f"bind the PUB socket for results here (default: {DEFAULT_RESULTS_ADDRESS}, "
                     "or nothing when --publish-connect is given)")
    net.add_argument("--publish-connect", metavar="ADDR", action="append", default=[],
                     help="connect the PUB socket to a collector whose SUB binds ADDR (repeatable)")

    work = parser.add_argument_group("batching and limits")
    work.add_argument("--batch-size", type=int, default=8, metavar="N",
                      help="most messages of one geometry decoded together (default: %(default)s)")
    work.add_argument("--batch-wait-ms", type=float, default=20.0, metavar="MS",
                      help="how long a message waits for others to fill its batch (default: %(default)s)")
    work.add_argument("--queue-size", type=int, default=64, metavar="N",
                      help="messages held waiting; beyond it the oldest is dropped (default: %(default)s)")
    work.add_argument("--max-message-bytes", type=int, default=DEFAULT_MAX_MESSAGE_BYTES, metavar="N",
                      help="larger GO messages are rejected as oversized (default: %(default)s)")
    work.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS, metavar="N",
                      help="messages with more latent tokens are rejected as oversized (default: %(default)s)")
    work.add_argument("--max-batch-tokens", type=int, default=DEFAULT_MAX_TOKENS, metavar="N",
                      help="most latent tokens decoded in one batch (a larger message goes alone): bounds how "
                      "long a batch, and a stop, takes (default: %(default)s, one 1024x1024 image)")
    work.add_argument("--max-steps", type=int, default=DEFAULT_MAX_STEPS, metavar="N",
                      help="most denoising steps a message may ask for with its own decoder settings (as "
                      "lamigo eval --decoders sends them); the LaMI decoder options below are for messages "
                      "that ask for none (default: %(default)s)")
    work.add_argument("--max-messages", type=int, default=None, metavar="N",
                      help="stop after decoding N messages (default: run until SIGINT/SIGTERM)")
    work.add_argument("--stats-interval", type=float, default=30.0, metavar="S",
                      help="seconds between statistics lines in the log (default: %(default)s)")

    add_decoder_options(parser)
    decode = parser.add_argument_group("computation")
    decode.add_argument("--bf16", action="store_true", help="bfloat16 autocast (CUDA only)")
    decode.add_argument("--compile", action="store_true",
                        help="torch.compile the denoiser and VQGAN decoder (CUDA only; each batch size compiles once)")

    output = parser.add_argument_group("output")
    output.add_argument("--out", metavar="DIR", default=None,
                        help="also write <message_id>.png and <message_id>.json into DIR")
    output.add_argument("--json", action="store_true", help="print the final statistics as JSON on exit")

    curve = parser.add_argument_group("encryption (ZMQ CURVE, for links that leave the host)")
    curve.add_argument("--curve-secret-key", metavar="FILE", default=None,
                       help="this service's key pair (a *.key_secret certificate); turns CURVE on")
    curve.add_argument("--curve-public-key", metavar="FILE", default=None,
                       help="public certificate of the upstream the service connects to "
                       "(needed with --connect/--publish-connect)")
    curve.add_argument("--curve-clients", metavar="DIR", default=None,
                       help="admit only clients whose public certificates lie in DIR "
                       "(default: any client that knows the service's public key)")
    curve.add_argument("--make-curve-keys", metavar="DIR", default=None,
                       help="write a service and a client key pair into DIR (secret keys 0600) and exit")
    curve.add_argument("--make-link-key", metavar="FILE", default=None,
                       help="write a new packet-authentication key for the Link Packetizer and "
                       "Depacketizer blocks and lamigo simulate --link-key (hex, 0600) to FILE and exit")
    add_model_options(parser)
    parser.set_defaults(func=run, exit_at_once=True)


def run(args: argparse.Namespace) -> int:
    from lamigo.service.curve import CurveKeys, make_curve_keys

    if args.make_link_key:
        from lamigo.link.auth import write_link_key

        print(f"link key written to {write_link_key(args.make_link_key)}: give it to both ends of the link")
        return 0
    if args.make_curve_keys:
        paths = make_curve_keys(args.make_curve_keys)
        for name, path in paths.items():
            print(f"{name:18} {path}")
        print("start the service with --curve-secret-key "
              f"{paths['server_secret']}; give clients {paths['client_secret']} and {paths['server']}")
        return 0

    from lamigo.errors import ConfigError
    from lamigo.lami import LaMIDecoder
    from lamigo.service.server import DecoderService, ServiceConfig

    if (args.curve_public_key or args.curve_clients) and not args.curve_secret_key:
        raise ConfigError("--curve-public-key and --curve-clients need --curve-secret-key")
    curve = None
    if args.curve_secret_key:
        curve = CurveKeys(
            Path(args.curve_secret_key),
            Path(args.curve_public_key) if args.curve_public_key else None,
            Path(args.curve_clients) if args.curve_clients else None,
        )
    settings = decoder_settings(args)
    config = ServiceConfig(
        listen=args.listen or (None if args.connect else DEFAULT_MESSAGES_ADDRESS),
        connect=tuple(args.connect),
        publish=args.publish or (None if args.publish_connect else DEFAULT_RESULTS_ADDRESS),
        publish_connect=tuple(args.publish_connect),
        batch_size=args.batch_size,
        batch_wait=args.batch_wait_ms / 1000,
        queue_size=args.queue_size,
        out_dir=Path(args.out) if args.out else None,
        max_messages=args.max_messages,
        max_message_bytes=args.max_message_bytes,
        max_tokens=args.max_tokens,
        max_batch_tokens=args.max_batch_tokens,
        max_steps=args.max_steps,
        stats_interval=args.stats_interval,
        seed=settings.seed,
        curve=curve,
    )
    if not args.verbose:  # a long-running service shows its start, statistics and rejections
        logging.getLogger("lamigo.service").setLevel(logging.INFO)
    models, prior = load_models(args, captioner=False)  # receivers never caption
    decoder = LaMIDecoder(models, settings, bf16=args.bf16, compile=args.compile)
    service = DecoderService(decoder, config, prior=prior, model_set=models.name)
    service.bind()
    print(f"lamigo serve: messages on {service.messages_endpoint or ', '.join(config.connect)}, results on "
          f"{service.results_endpoint or ', '.join(config.publish_connect) or 'nowhere'}, model set "
          f"{models.name} on {decoder.device} (SIGINT/SIGTERM stops)", flush=True)

    def stop(signum: int, frame: object) -> None:
        service.stop()

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        stats = service.run()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if args.json:
        print_json(stats.as_dict())
    else:
        print(f"lamigo serve: stopped after {stats.decoded} decoded, {stats.malformed} malformed, "
              f"{stats.oversized} oversized, {stats.dropped} dropped, {stats.failed} failed, "
              f"{stats.abandoned} abandoned", file=sys.stdout)
    return 0
