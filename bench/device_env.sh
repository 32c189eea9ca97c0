# Sourced by bench/device_check.sh and bench/device_train.sh on the device machine: install the
# wheels and pure-Python packages bench/device_prepare.sh put into .device/ under $SITE, put the
# core library and them on PYTHONPATH, and point the parity suite at its fixtures.
export PYTHONUNBUFFERED=1
PYTHON="${PYTHON:-python3}"
SITE="${TMPDIR:-/tmp}/lamigo-site"
if compgen -G ".device/wheels/*.whl" >/dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
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
