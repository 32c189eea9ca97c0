#!/usr/bin/env bash
# Installs everything the project needs on a Debian machine: GNU Radio from apt, a venv at .venv
# that sees Debian's gnuradio/pmt/numpy, CPU torch from the local wheel, and the project itself.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*"; }

# gnuradio brings GRC, the QT GUI blocks and PyQt5; GRC's window also needs GTK 3's
# introspection data, which Debian's gnuradio does not depend on (make grc).
DEBIAN_PACKAGES="gnuradio gir1.2-gtk-3.0"
missing=""
for package in $DEBIAN_PACKAGES; do
    dpkg -s "$package" >/dev/null 2>&1 || missing="$missing $package"
done
if [ -n "$missing" ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    log "installing Debian's$missing (apt-get)"
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086 (one word per package)
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    log "creating .venv (Debian python3, system site-packages for GNU Radio)"
    /usr/bin/python3 -m venv --system-site-packages .venv
fi

# This machine's pip config lists optional local indexes that may be absent: hide those warnings.
pip_install() {
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt "$@" \
        2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
    log "installing torch==2.13.0 (CPU wheel)"
    pip_install torch==2.13.0
fi
log "installing gr-lamigo (editable) with test extras"
pip_install -e '.[test]'

.venv/bin/python - <<'PY'
import numpy
from gnuradio import gr
import pmt  # noqa: F401
import lamigo
assert numpy.__version__.startswith("1."), f"numpy {numpy.__version__} would break GNU Radio"
print(f"[setup] ready: GNU Radio {gr.version()}, numpy {numpy.__version__}, lamigo {lamigo.__version__}")
PY
