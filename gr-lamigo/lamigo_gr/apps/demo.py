"""The end-to-end demo (`make demo`): a photo through the whole chain, over a simulated radio link.

It starts the LaMI decoder service (`lamigo serve`) as its own process, runs
flowgraphs/loopback_sim.grc headless (image source -> packetizer -> GNU Radio framing and
GFSK -> noisy channel -> demodulation -> depacketizer -> decoder client), waits for the service
to decode the message, stops everything, and writes to the output folder:

    original.png        the photo as sent (scaled and cropped)
    received.png        what the decoder service regenerated
    side_by_side.png    original | LaMI-GO received | JPEG over the same link (the same packet
                        slots lost) | that JPEG over a perfect link, each labelled with its bytes
                        and PSNR
    jpeg_sent.jpg       that JPEG: the highest quality whose bytes on air fit the GO message's
    report.json         bytes sent against PNG and JPEG, packets lost, tokens regenerated,
                        decode time, PSNR of each panel

    .venv/bin/python -m lamigo_gr.apps.demo [--noise-voltage V] [--image photo:NAME] ...
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from lamigo.cli.common import add_model_set_option
from lamigo.errors import ConfigError, LamigoError, RunError
from lamigo.lami.settings import add_decoder_options, decoder_arguments, decoder_settings
from lamigo.link.channel import snr_db
from lamigo.threads import AUTO, add_threads_option
from lamigo_gr.apps.flowgraphs import flowgraph_parameters
from lamigo_gr.apps.loopback_run import FLOWGRAPH, LoopbackResult, run_loopback

logger = logging.getLogger("lamigo_gr.apps.demo")

SERVICE_TIMEOUT = 600.0  # seconds the service may take to decode, on a slow CPU included


def build_parser() -> argparse.ArgumentParser:
    defaults = flowgraph_parameters(FLOWGRAPH)
    parser = argparse.ArgumentParser(
        prog="python -m lamigo_gr.apps.demo",
        description="Send a photo through the whole LaMI-GO chain over a simulated radio link "
        "(GNU Radio loopback flowgraph, GFSK, AWGN channel) to the decoder service, and write the "
        "original, the received image, a side-by-side PNG and a report.",
    )
    parser.add_argument("--image", default=defaults["images"],
                        help="image file or photo:NAME, a bundled photo (default: %(default)s)")
    parser.add_argument("--caption", default=None,
                        help="caption sent with the image (default: a bundled photo's own caption; "
                        "needed for any other image)")
    parser.add_argument("--size", default=defaults["size"], metavar="HxW",
                        help="size the image is scaled and cropped to, multiples of 32 (default: %(default)s)")
    parser.add_argument("--noise-voltage", type=float, default=0.55, metavar="V",
                        help="channel noise voltage; the signal amplitude is 1, so the SNR per sample is "
                        "-20 log10(V) dB: 0.2 loses nothing, 0.5 about 5%% of the packets, 0.55 about 20%%, "
                        "0.6 about half (default: %(default)s)")
    parser.add_argument("--noise-seed", type=int, default=defaults["noise_seed"], help="seed of the channel noise (default: %(default)s)")
    parser.add_argument("--modem", default=defaults["modem"],
                        help="modem by name (lamigo_gr.blocks.modems.MODEMS: gfsk, psk-cc, ofdm-qpsk-cc, ...; "
                        "the packet-loss figures of --noise-voltage are GFSK's) (default: %(default)s)")
    parser.add_argument("--channel", default=defaults["channel"],
                        help="channel by name (lamigo_gr.blocks.channels.CHANNELS: awgn, rayleigh, rician, "
                        "multipath, dynamic) (default: %(default)s)")
    add_decoder_options(parser)  # passed on to the decoder service
    add_model_set_option(parser, weights_option=False)
    parser.add_argument("--out", default="out/demo", help="output folder (default: %(default)s)")
    add_threads_option(parser)  # handed to the decoder service
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the service and blocks do")
    return parser


def start_service(arguments: list[str], log: Path, verbose: bool = False,
                  timeout: float = 300.0) -> tuple[subprocess.Popen, str, str]:
    """Start `lamigo serve ARGUMENTS` on free loopback ports and return (process, messages
    address, results address) once it listens. The service binds port 0 itself and prints what
    it bound: no port is probed and released first, so no other process can take it between."""
    command = [sys.executable, "-m", "lamigo.cli.main", *(["-v"] if verbose else []), "serve",
               "--listen", "tcp://127.0.0.1:*", "--publish", "tcp://127.0.0.1:*", *arguments]
    logger.info("starting the decoder service: %s (log: %s)", " ".join(command[1:]), log)
    with open(log, "w") as stream:  # the child keeps its own copy of the descriptor
        service = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stream, text=True)
    ready, _, _ = select.select([service.stdout], [], [], timeout)
    line = service.stdout.readline() if ready else ""
    found = re.match(r"lamigo serve: messages on (\S+), results on (\S+),", line)
    if found is None:
        _stop(service)
        status = (f"exited at start (status {service.returncode})" if ready
                  else f"did not start listening in {timeout:.0f} s")
        raise RunError(f"the decoder service {status}: see {log}")
    return service, found.group(1), found.group(2)


def _service_arguments(args: argparse.Namespace, model_set: str, folder: Path) -> list[str]:
    return ["--out", str(folder), "--max-messages", "1",
            *decoder_arguments(decoder_settings(args)), "--model-set", model_set,
            "--threads", str(args.threads) if args.threads is not None else AUTO]


def _stop(service: subprocess.Popen) -> None:
    if service.poll() is None:
        service.terminate()
        try:
            service.wait(timeout=10)
        except subprocess.TimeoutExpired:
            service.kill()


def _what_was_sent(link: LoopbackResult, model_set: str) -> dict[str, Any]:
    """The GO message and the bytes of its packets, as the flowgraph's source and packetizer
    emitted them."""
    from lamigo.message import bandwidth_report
    from lamigo.zoo.index_prior import model_set_index_prior

    data = link.sent[0]
    _, report = bandwidth_report(data, model_set_index_prior(model_set))
    return {"message_bytes": len(data), "bytes_on_air": link.bytes_on_air, "bandwidth": report.as_dict()}


def run(args: argparse.Namespace) -> dict[str, Any]:
    from lamigo.evaluation.quality import psnr
    from lamigo.images import bundled_caption, encode_png, fit_image, load_image, parse_size, save_image
    from lamigo.zoo.sets import default_model_set_name

    size = parse_size(args.size)
    original = fit_image(load_image(args.image), size)
    caption = args.caption if args.caption is not None else bundled_caption(args.image)
    if caption is None:
        raise ConfigError(f"give the caption of {args.image} with --caption TEXT")
    out = Path(args.out)
    service_folder = out / "service"
    service_folder.mkdir(parents=True, exist_ok=True)
    for stale in service_folder.glob("*"):
        stale.unlink()
    model_set = args.model_set or default_model_set_name()
    save_image(original, out / "original.png")

    service_log = out / "service.log"
    service, listen, _ = start_service(_service_arguments(args, model_set, service_folder), service_log,
                                       args.verbose)
    try:
        logger.info("running flowgraphs/loopback_sim.grc at noise voltage %.3f (%s over %s)", args.noise_voltage,
                    args.modem, args.channel)
        started = time.perf_counter()
        link = run_loopback(images=args.image, count=1, size=args.size, caption=caption,
                            model_set=model_set, service=listen, snr_db=snr_db(args.noise_voltage),
                            noise_seed=args.noise_seed, modem=args.modem, channel=args.channel)
        logger.info("link: %d of %d packets arrived", link.packets_received, link.packets_sent)
        if link.messages_received == 0:
            raise RunError(f"the message was lost on the link ({link.packets_received} of "
                              f"{link.packets_sent} packets arrived, not enough of its control block): "
                              "lower --noise-voltage")
        try:
            service.wait(timeout=SERVICE_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise RunError(f"the decoder service did not decode the message in {SERVICE_TIMEOUT:.0f} s") from None
        if service.returncode != 0:
            raise RunError(f"the decoder service failed (exit {service.returncode}): see {service_log}")
        seconds = time.perf_counter() - started
    finally:
        _stop(service)

    record = json.loads((service_folder / "0.json").read_text())
    received = load_image(service_folder / "0.png")
    save_image(received, out / "received.png")
    sent = _what_was_sent(link, model_set)
    png_size = len(encode_png(original, optimize=True))
    panels = [_label(original, ["original", f"PNG {png_size} B"]),
              _label(received, ["LaMI-GO, this link", f"{link.bytes_on_air} B on air, {psnr(original, received):.2f} dB"])]
    jpeg = _jpeg_over_the_link(original, link)
    jpeg_record = None
    if jpeg is not None:
        data, jpeg_record, over_link, perfect = jpeg
        (out / "jpeg_sent.jpg").write_bytes(data)
        panels += [_label(over_link, ["JPEG, the same link", f"{jpeg_record['bytes_on_air']} B on air, "
                                      f"{jpeg_record['psnr_db_same_link']:.2f} dB"]),
                   _label(perfect, ["JPEG, perfect link", f"{jpeg_record['file_bytes']} B file, "
                                    f"{jpeg_record['psnr_db_perfect_link']:.2f} dB"])]
    save_image(np.concatenate(panels, axis=1), out / "side_by_side.png")

    report = {
        "image": args.image,
        "caption": record["caption"],
        "model_set": model_set,
        "size": args.size,
        "noise_voltage": args.noise_voltage,
        "snr_db": round(snr_db(args.noise_voltage), 2) if args.noise_voltage > 0 else None,
        **sent,
        "png_bytes": png_size,
        # JPEG at the GO message's bytes on air, over the same link (the same packet slots lost)
        # and over a perfect one.
        "jpeg": jpeg_record,
        "link": link.as_dict(),
        "tokens": record["tokens"],
        "tokens_masked_by_policy": record["tokens_masked_by_policy"],
        "tokens_lost": record["tokens_lost"],
        "tokens_regenerated": record["tokens_masked_by_policy"] + record["tokens_lost"],
        "steps": record["steps"],
        "renoise": record["renoise"],
        "decode_seconds": record["decode_seconds"],
        "stage_seconds": record["stage_seconds"],
        "device": record["device"],
        "end_to_end_seconds": round(seconds, 2),
        "psnr_db": round(psnr(original, received), 2),
    }
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def _label(image: np.ndarray, lines: list[str]) -> np.ndarray:
    """`image` above a white strip with `lines` of text."""
    from PIL import Image, ImageDraw

    strip = Image.new("RGB", (image.shape[1], 12 * len(lines) + 6), "white")
    draw = ImageDraw.Draw(strip)
    for number, line in enumerate(lines):
        draw.text((3, 3 + 12 * number), line, fill="black")
    return np.concatenate([image, np.asarray(strip)], axis=0)


def _jpeg_over_the_link(original: np.ndarray, link: LoopbackResult):
    """JPEG at the GO message's bytes on air, packetized as the flowgraph's packetizer packetizes,
    with the packets in the slots the loopback lost dropped (`lamigo.link.classical`): the file,
    its record, its image over this link and over a perfect one; None when it cannot fit."""
    from lamigo.classical import get_baseline
    from lamigo.evaluation.quality import psnr
    from lamigo.link.channel import SlotErasureChannel
    from lamigo.link.classical import send_at_budget, simulate_file

    encoded = send_at_budget("jpeg", original, link.bytes_on_air, link.link_config)
    if encoded is None:
        return None
    shape = original.shape[:2]
    run = simulate_file(encoded, shape, SlotErasureChannel(link.lost_slots), link.link_config)
    perfect = get_baseline("jpeg").decode(encoded.data, shape)
    record = {**run.as_dict(), "psnr_db_same_link": round(psnr(original, run.received.image), 2),
              "psnr_db_perfect_link": round(psnr(original, perfect), 2)}
    return encoded.data, record, run.received.image, perfect


def summary(report: dict[str, Any], out: str) -> str:
    link, jpeg = report["link"], report["jpeg"]
    lines = [
        f"model set {report['model_set']}, {report['image']} at {report['size']}, caption {report['caption']!r}",
        f"sent      {report['message_bytes']} B GO message in {link['packets_sent']} packets "
        f"({report['bytes_on_air']} B with link headers); PNG {report['png_bytes']} B",
        f"channel   noise voltage {report['noise_voltage']} (SNR {report['snr_db']} dB/sample): "
        f"{link['packets_received']} of {link['packets_sent']} packets arrived (PER {link['packet_error_rate']:.3f})",
        f"tokens    {report['tokens_regenerated']} of {report['tokens']} regenerated: "
        f"{report['tokens_masked_by_policy']} masked by the policy, {report['tokens_lost']} lost with their packets",
        f"decoder   {report['steps']} steps (tau {report['renoise']}) in {report['decode_seconds']:.2f} s on {report['device']}",
        f"quality   PSNR {report['psnr_db']:.2f} dB"
        + (f"; JPEG q{jpeg['setting']} at the same bytes on air ({jpeg['bytes_on_air']} B, a {jpeg['file_bytes']} B "
           f"file): {jpeg['psnr_db_same_link']:.2f} dB over this link ({jpeg['packets_lost']} of "
           f"{jpeg['packets_sent']} packets lost), {jpeg['psnr_db_perfect_link']:.2f} dB over a perfect one"
           if jpeg else ""),
        f"wrote {out}/: original.png received.png side_by_side.png "
        f"(original | received{' | JPEG over this link | JPEG over a perfect link' if jpeg else ''}) "
        "report.json service.log",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    logger.setLevel(logging.INFO)
    if not args.verbose:  # Debian's GNU Radio config logs at debug level (every CRC failure)
        from gnuradio import gr

        gr.logging().set_default_level(gr.log_levels.warn)
    try:
        report = run(args)
    except LamigoError as err:
        print(f"demo: error: {err}", file=sys.stderr)
        return 2
    print(summary(report, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
