"""Training of the small model sets on photographs that install from package registries:
`lamigo train vqgan|denoiser|export|evaluate` on the command line."""

from lamigo.training.checkpoint import TrainingCheckpoint, load_checkpoint, save_checkpoint
from lamigo.training.configs import CONFIG_PRESETS, denoiser_preset, vqgan_preset
from lamigo.training.data import HELD_OUT_STEMS, RandomCropDataset, default_data_sources, find_images, load_photos
from lamigo.training.distributed import Distributed, init_distributed
from lamigo.training.loop import TrainResult, TrainSettings, train

__all__ = [
    "CONFIG_PRESETS",
    "Distributed",
    "HELD_OUT_STEMS",
    "RandomCropDataset",
    "TrainResult",
    "TrainSettings",
    "TrainingCheckpoint",
    "default_data_sources",
    "denoiser_preset",
    "find_images",
    "init_distributed",
    "load_checkpoint",
    "load_photos",
    "save_checkpoint",
    "train",
    "vqgan_preset",
]
