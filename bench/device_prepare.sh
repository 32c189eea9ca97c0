#!/usr/bin/env bash
# Before a device call (bench/device_check.py's docstring): put what the device machine lacks
# into .device/ in the repository root (ignored by git; carried with carry=[".device"]):
# - .device/wheels: CPython 3.12 x86-64 wheels of the core library's packages that the device
#   image does not hold (its own torch, numpy, transformers, safetensors, pillow, tqdm, scipy
#   and scikit-image are used as they are);
# - .device/pure/crcmod: crcmod's pure-Python package (crcmod ships as a source archive only;
#   without its C extension it falls back to Python by itself);
# - .device/pure/stlpips_pytorch: the ST-LPIPS AlexNet weights of the stlpips-pytorch wheel (the
#   perceptual loss of `lamigo train vqgan`; the wheel itself, VGG weights included, is 64 MB);
# - .device/paella-parity: the Paella parity fixtures (from $LAMIGO_PARITY_DIR, else
#   ../shared/reference/paella-parity beside the repository, as the tests look for them);
# - .device/photos: the training photographs this machine's packages hold (the default sources
#   of `lamigo train`), for bench/device_train.sh.
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
$PIP download -q --no-deps --only-binary=:all: -d .device stlpips-pytorch==0.0.2
python3 -m zipfile -e .device/stlpips_pytorch-0.0.2-py3-none-any.whl .device/stlpips
mkdir -p .device/pure/stlpips_pytorch/weights/vST0.0
touch .device/pure/stlpips_pytorch/__init__.py  # found, never imported: only its weights are read
cp .device/stlpips/stlpips_pytorch/weights/vST0.0/alex_shift_tolerant.pth .device/pure/stlpips_pytorch/weights/vST0.0/
rm -rf .device/stlpips .device/stlpips_pytorch-0.0.2-py3-none-any.whl
${PYTHON:-python3} -c "
import shutil, sys
from pathlib import Path
sys.path.insert(0, 'python')
from lamigo.training.data import default_data_sources, find_images, load_photos
target = Path('.device/photos'); target.mkdir()
for number, photo in enumerate(load_photos(find_images(default_data_sources()), 32)):
    shutil.copy(photo.path, target / f'{number:03d}-{photo.path.name}')
print(f'{number + 1} training photographs in {target}')
" || echo "device_prepare: no training photographs copied (set PYTHON to the project's interpreter)" >&2
if [ -f "$PARITY/README.md" ]; then
    cp -r "$PARITY" .device/paella-parity
else
    echo "device_prepare: no parity fixtures at $PARITY (set LAMIGO_PARITY_DIR): the parity section will fail" >&2
fi
du -sh .device
