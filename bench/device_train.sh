#!/usr/bin/env bash
# Train the large model set with `--preset h200` on a lent GPU, from the photographs
# bench/device_prepare.sh copied into .device/photos, and bring it back under $OUT:
#   $OUT/set/       model_set.json, vqgan.safetensors, denoiser.safetensors (float16, each under
#                   16 MiB), index_prior.safetensors, MODEL_CARD.md with the held-out figures
#   $OUT/default-evaluation.json   the shipped default set on the same figures, to compare
#   $OUT/train.log
# One call: run(command="bash bench/device_train.sh", carry=[".device"], timeout_s=600). Each
# training step stops itself (--time-limit, minutes: VQGAN_MINUTES, DENOISER_MINUTES), so the
# whole run ends inside the 10 minutes a device command may take.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/device_env.sh
OUT="${OUT:-out/device-train}"
CHECKPOINTS="${TMPDIR:-/tmp}/lamigo-train"
mkdir -p "$OUT"
lamigo() { "$PYTHON" -m lamigo.cli.main "$@"; }
{
    lamigo train vqgan --preset h200 --data .device/photos --out "$CHECKPOINTS/vqgan" --resume \
        --time-limit "${VQGAN_MINUTES:-3.5}"
    lamigo train denoiser --preset h200 --vqgan "$CHECKPOINTS/vqgan" --data .device/photos \
        --out "$CHECKPOINTS/denoiser" --resume --time-limit "${DENOISER_MINUTES:-3.5}"
    lamigo train export --vqgan "$CHECKPOINTS/vqgan" --denoiser "$CHECKPOINTS/denoiser" --data .device/photos \
        --out "$OUT/set" --half
    lamigo train evaluate "$OUT/set" --card
    lamigo train evaluate default > "$OUT/default-evaluation.json"
} 2>&1 | tee "$OUT/train.log"
