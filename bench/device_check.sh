#!/usr/bin/env bash
# The device machine's side of bench/device_check.py (see its docstring): install the wheels
# bench/device_prepare.sh put into .device/, point the parity suite at its fixtures, and run
# the check with the device's own python3 and torch, writing under $OUT. Arguments go to
# device_check.py (e.g. --sections tokens,speed-graphs, --deadline 300); $PYTHON replaces python3.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
SITE="${TMPDIR:-/tmp}/lamigo-site"
if compgen -G ".device/wheels/*.whl" >/dev/null; then
    "${PYTHON:-python3}" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
        .device/wheels/*.whl || exit 3
fi
if [ -d .device/pure ]; then
    mkdir -p "$SITE" && cp -r .device/pure/. "$SITE/"
fi
export PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}:$SITE"
if [ -f .device/paella-parity/README.md ]; then
    export LAMIGO_PARITY_DIR="$PWD/.device/paella-parity"
fi
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem --format=csv 2>/dev/null || true
exec "${PYTHON:-python3}" bench/device_check.py --out "${OUT:-out/device-check}" "$@"
