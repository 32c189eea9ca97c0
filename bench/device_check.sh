#!/usr/bin/env bash
# The device machine's side of bench/device_check.py (see its docstring): the environment of
# bench/device_env.sh, then the check with the device's own python3 and torch, writing under
# $OUT. Arguments go to device_check.py (e.g. --sections tokens,speed-graphs, --deadline 300);
# $PYTHON replaces python3.
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/device_env.sh
exec "$PYTHON" bench/device_check.py --out "${OUT:-out/device-check}" "$@"
