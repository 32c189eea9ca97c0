"""`lamigo simulate`: one image over a simulated noisy link (the paper's section III-C)."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from lamigo.classical import BASELINES
from lamigo.cli.common import (
    add_model_options,
    add_transmitter_options,
    caption_label,
    load_transmitter_models,
    policy_from_args,
)
from lamigo.errors import ConfigError
from lamigo.lami.settings import add_decoder_options, decoder_settings
from lamigo.link import NOISE_SETUPS, Channel, NoiseSetup, noise_setup
from lamigo.link.packetizer import DEFAULT_PAYLOAD

logger = logging.getLogger(__name__)

DEFAULT_PER = 0.1
DEFAULT_BER = 1e-3


def register(subparsers) -> None:
    setups = "; ".join(NOISE_SETUPS[number].description for number in sorted(NOISE_SETUPS))
    parser = subparsers.add_parser(
        "simulate",
        help="send an image over a simulated noisy link and decode what arrives",
        description="Encode an image into a GO message, packetize it (CRC-protected packets, "
        "interleaved token groups, a Reed-Solomon coded and repeated control block), pass the "
        "packets through one of the paper's noise setups, reassemble, and let the LaMI decoder "
        "regenerate the tokens masked by the policy and those lost on the link. Writes "
        f"received.png, original.png and report.json to the output folder. Setups: {setups}. "
        "With --baselines, classical files at the same bytes on air cross the same link and "
        "channel realisation: received_CODEC.png beside received.png.",
    )
    parser.add_argument("image", help="image file, or photo:NAME for a bundled photo (e.g. photo:coffee)")
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--setup", type=int, choices=sorted(NOISE_SETUPS), required=True,
                        help="noise setup: 1 and 3 drop packets at --per, 2 and 4 flip bits at "
                        "--ber; 1 and 2 interleave the token groups, 3 and 4 do not")
    parser.add_argument("--per", type=float, default=None, metavar="P",
                        help=f"packet error rate of setups 1 and 3 (default: {DEFAULT_PER})")
    parser.add_argument("--ber", type=float, default=None, metavar="B",
                        help=f"bit error rate of setups 2 and 4 (default: {DEFAULT_BER})")
    add_transmitter_options(parser, seed_help="seed of the channel, the prm mask and the sampler")
    parser.add_argument("--payload", type=int, default=DEFAULT_PAYLOAD, metavar="BYTES",
                        help="payload bytes per packet, link header and CRC not included "
                        "(default: %(default)s, the paper's WiFi assumption)")
    parser.add_argument("--control-copies", type=int, default=3, metavar="N",
                        help="times each Reed-Solomon coded control chunk is sent (default: %(default)s)")
    parser.add_argument("--link-key", metavar="FILE", default=None,
                        help="authenticate every packet with this pre-shared key (hex; make one with "
                        "lamigo serve --make-link-key FILE): 8 more bytes per packet")
    parser.add_argument("--baselines", metavar="A,B", default="",
                        help=f"classical baselines among {', '.join(BASELINES)} sent over the same link "
                        "(same packet format, header protected as the control block is, same seed: the "
                        "same packets lost and bits flipped) at their highest setting whose bytes on air "
                        "fit the GO message's; each one's image is received_CODEC.png (mid-grey when its "
                        "header block was lost or it cannot fit), its metrics and lost packets in "
                        "report.json (default: none)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    add_decoder_options(parser, seed=False)  # --seed (above) seeds the sampler too
    add_model_options(parser)
    parser.set_defaults(func=run)


def channel_from_args(args: argparse.Namespace, setup: NoiseSetup) -> tuple[Channel, float]:
    """The setup's channel at the rate the options ask for; ConfigError for the other rate."""
    given, other, default = ("per", "ber", DEFAULT_PER) if setup.erasures else ("ber", "per", DEFAULT_BER)
    if getattr(args, other) is not None:
        raise ConfigError(f"--{other} does not apply to {setup.description}; use --{given}")
    rate = getattr(args, given)
    rate = default if rate is None else rate
    return setup.channel(rate, seed=args.seed), rate


def baselines_from_args(args: argparse.Namespace) -> list[str]:
    """The --baselines names; ConfigError for an unknown one."""
    names = [name.strip() for name in args.baselines.split(",") if name.strip()]
    unknown = [name for name in names if name not in BASELINES]
    if unknown:
        raise ConfigError(f"unknown baseline(s) {', '.join(unknown)} in --baselines; choose from {', '.join(BASELINES)}")
    return list(dict.fromkeys(names))


def _send_baselines(names: list[str], original, budget: int, setup: NoiseSetup, rate: float, seed: int,
                    link_config, key, out: Path) -> dict[str, dict]:
    """Each baseline over the link at `budget` bytes on air, through a channel of the GO message's
    setup, rate and seed (the same realisation); its image saved as received_CODEC.png."""
    from lamigo.classical.received import grey
    from lamigo.evaluation.quality import psnr, ssim
    from lamigo.images import save_image
    from lamigo.link.classical import send_at_budget, simulate_file

    results = {}
    for name in names:
        encoded = send_at_budget(name, original, budget, link_config, key, stamped=False)
        if encoded is None:
            image = grey(original.shape[:2])
            record = {"codec": name, "fits": False, "packets_sent": 0, "packets_lost": 0, "decoded_ok": False,
                      "note": f"not even its lowest setting fits {budget} bytes on air"}
        else:
            run = simulate_file(encoded, original.shape[:2], setup.channel(rate, seed=seed), link_config, key=key)
            image = run.received.image
            record = {"fits": True, **run.as_dict()}
        record |= {"psnr_db": round(psnr(original, image), 2), "ssim": round(ssim(original, image), 4)}
        save_image(image, out / f"received_{name}.png")
        results[name] = record
    return results


def run(args: argparse.Namespace) -> int:
    from lamigo.evaluation.quality import psnr
    from lamigo.images import fit_image, load_image, parse_size, save_image, to_uint8
    from lamigo.lami import LaMIDecoder
    from lamigo.lami.transmitter import Transmitter
    from lamigo.link.auth import LinkKey
    from lamigo.link.simulation import simulate_link

    setup = noise_setup(args.setup)
    channel, rate = channel_from_args(args, setup)
    link_config = setup.link_config(max_payload=args.payload, control_copies=args.control_copies)
    policy = policy_from_args(args)
    baselines = baselines_from_args(args)
    key = LinkKey.load(args.link_key) if args.link_key else None
    size = parse_size(args.size)
    settings = decoder_settings(args)  # checked before the models load and the image is encoded
    original = fit_image(load_image(args.image), size)
    models, prior, caption = load_transmitter_models(args, args.image)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)

    transmitter = Transmitter(models, policy, setup.index_coder, setup.text_coder, size, prior)
    sent = transmitter.encode(original, caption)
    go_message_bytes = len(transmitter.pack(sent))
    link = simulate_link(sent, channel, link_config, prior, key=key)
    logger.info("%s: %d packets sent, %d dropped, %d bits flipped", setup.description, len(link.packets),
                link.packets_dropped, link.bits_flipped)

    record = {
        "image": args.image,
        "setup": setup.number,
        "setup_description": setup.description,
        "per" if setup.erasures else "ber": rate,
        "seed": args.seed,
        "model_set": models.name,
        "size": f"{size[0]}x{size[1]}",
        "policy": policy.describe(),
        "caption_sent": sent.caption,
        "go_message_bytes": go_message_bytes,
        "bytes_sent": link.bytes_on_air,
        "packets_sent": len(link.packets),
        "authenticated": key is not None,
        "packets_lost": link.packets_lost,
        "bits_flipped": link.bits_flipped,
        "tokens": int(sent.mask.size),
        "tokens_masked_by_policy": int(sent.mask.sum()),
    }
    save_image(original, out / "original.png")
    if baselines:
        record["baselines"] = _send_baselines(baselines, original, link.bytes_on_air, setup, rate, args.seed,
                                              link_config, key, out)
    message = link.received
    if message is None:
        record["decoded"] = False
        _write_report(out, record)
        print(f"{setup.description}: the control block was lost, nothing to decode "
              f"({record['packets_lost']} of {record['packets_sent']} packets lost); wrote {out}/report.json")
        return 1
    decoder = LaMIDecoder(models, settings)
    result = decoder.decode_messages([message], progress=True)
    image = to_uint8(result.images)[0]
    save_image(image, out / "received.png")
    arrived_tokens = ~message.regenerate
    record |= {
        "decoded": True,
        "caption_received": message.message.caption,
        "caption_chunks_lost": message.link.caption_chunks_lost,
        "index_packets_lost": message.link.index_groups_lost,
        "packets_damaged": message.link.packets_damaged,
        "tokens_lost": message.link.tokens_lost,
        "tokens_regenerated": int(message.regenerate.sum()),
        "tokens_corrupted": int((message.message.indices[arrived_tokens] != sent.indices[arrived_tokens]).sum()),
        "steps": settings.steps,
        "renoise": settings.renoise,
        "renoise_scope": settings.renoise_scope,
        "cfg": settings.cfg,
        "cfg_steps": settings.cfg_steps,
        "decode_seconds": round(result.timings.total, 4),
        "psnr_db": round(psnr(original, image), 2),
    }
    _write_report(out, record)
    if args.json:
        print(json.dumps(record, indent=2))
    else:
        rate_name = "PER" if setup.erasures else "BER"
        print(f"{setup.description}, {rate_name} {rate:g}: sent {record['packets_sent']} packets "
              f"({record['bytes_sent']} bytes for a {go_message_bytes}-byte GO message), "
              f"lost {record['packets_lost']}")
        print(f"tokens: {record['tokens']}, masked by policy {record['tokens_masked_by_policy']}, "
              f"lost {record['tokens_lost']}, corrupted {record['tokens_corrupted']}, "
              f"regenerated {record['tokens_regenerated']}; caption: {caption_label(message.message.caption)}")
        print(f"decoded in {record['decode_seconds']} s ({settings.steps} steps, model set {models.name}): "
              f"PSNR {record['psnr_db']} dB; wrote {out}/: original.png received.png report.json")
        for name, result in record.get("baselines", {}).items():
            sent_as = (f"{result['file_bytes']}-byte file, {result['bytes_on_air']} bytes on air, "
                       f"{result['packets_lost']} of {result['packets_sent']} packets lost"
                       if result["fits"] else result["note"])
            print(f"{name}: {sent_as}: PSNR {result['psnr_db']} dB"
                  f"{'' if result['decoded_ok'] else ' (nothing decoded: mid-grey)'}; received_{name}.png")
    return 0


def _write_report(out: Path, record: dict) -> None:
    (out / "report.json").write_text(json.dumps(record, indent=2) + "\n")
