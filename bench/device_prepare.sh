#!/usr/bin/env bash
# Before a device call (bench/device_check.py's docstring): put what the device machine lacks
# into .device/ in the repository root (ignored by git; carried with carry=[".device"]):
# - .device/wheels: CPython 3.12 x86-64 wheels of the core library's packages that the device
#   image does not hold (its own torch, numpy, transformers, safetensors, pillow, tqdm, scipy
#   and scikit-image are used as they are);
# - .device/pure/crcmod: crcmod's pure-Python package (crcmod ships as a source archive only;
#   without its C extension it falls back to Python by itself);
# - .device/paella-parity: the Paella parity fixtures (from $LAMIGO_PARITY_DIR, else
#   ../shared/reference/paella-parity beside the repository, as the tests look for them).
# Needs pip and a package registry here; nothing is fetched on the device machine.
set -euo pipefail
cd "$(dirname "$0")/.."
PIP="${PIP:-python3 -m pip}"
PACKAGES="bitarray==3.12.3 constriction==0.5.0 reedsolo==1.7.0 pyzmq==26.4.0"
PARITY="${LAMIGO_PARITY_DIR:-../shared/reference/paella-parity}"

rm -rf .device
mkdir -p .device/wheels .device/pure
for package in $PACKAGES; do
    $PIP download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .device/wheels "$package"
done
$PIP download -q --no-deps --no-binary=:all: -d .device crcmod==1.7
tar -xzf .device/crcmod-1.7.tar.gz -C .device crcmod-1.7/python3/crcmod
mv .device/crcmod-1.7/python3/crcmod .device/pure/crcmod
rm -rf .device/crcmod-1.7 .device/crcmod-1.7.tar.gz
if [ -f "$PARITY/README.md" ]; then
    cp -r "$PARITY" .device/paella-parity
else
    echo "device_prepare: no parity fixtures at $PARITY (set LAMIGO_PARITY_DIR): the parity section will fail" >&2
fi
du -sh .device
