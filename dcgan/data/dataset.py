"""The training images: memory-mapped from their cache, decoded into it on first use; pixels to the model's range."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..log import report
from ..settings.config import DataConfig
from .cache import build_cache, cache_path, read_cache
from .sources import RawDataset, load_raw

NATIVE_CHANNELS = {"fashion-mnist": 1, "mnist": 1, "cifar10": 3, "celeba": 3, "folder": 3}


@dataclass
class ImageDataset:
    """Images resized and cropped once: uint8 (N, C, S, S), with labels where the data has them.
    `images` is mapped read-only from the cache file: index it (a copy) before changing pixels."""

    images: torch.Tensor
    labels: torch.Tensor | None
    classes: list[str] = field(default_factory=list)
    source: str = ""  # where the raw files were found
    cache_path: str = ""
    skipped: list[str] = field(default_factory=list)  # files that could not be decoded
    files: list[str] = field(default_factory=list)  # each image's file, relative to `source` (folders)

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def channels(self) -> int:
        return self.images.shape[1]


def to_model_range(batch: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1], done per batch so the stored data stays 4x smaller."""
    return batch.float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8 [0, 255], for saving images."""
    return images.detach().float().add(1).mul(127.5).round_().clamp_(0, 255).to(torch.uint8)


def load_dataset(cfg: DataConfig, *, progress: bool = True) -> ImageDataset:
    """The dataset as one uint8 tensor memory-mapped from data_root/cache/, in one pass through this
    subpackage: the cache when a complete one is there (cache.py), else the raw files (sources.py) decoded
    (decode.py) into a new cache (cache.py). The tensor is read-only: index it (a copy) before changing pixels."""
    channels = cfg.channels or NATIVE_CHANNELS[cfg.dataset]
    # 1. the cache; a folder's counts only when made from as many files as the folder has now (listing is cheap)
    listed = _raw(cfg) if cfg.dataset == "folder" else None
    npy = cache_path(cfg, channels)
    try:
        cached = read_cache(cfg, channels, n_files=len(listed.files) if listed else None)
    except ValueError as e:  # a damaged cache is rebuilt, never trusted
        report(f"cache {npy} is damaged ({e}); rebuilding it")
        cached = None
    if cached is not None:
        images, meta = cached
        if cfg.strict and meta["skipped"]:
            raise ValueError(f"--strict: {len(meta['skipped'])} files could not be decoded, e.g. "
                             f"{meta['skipped'][0]}. Remove or fix them, or drop --strict")
    else:
        # 2. the raw files, found in data_root, the system's datasets, or downloaded
        raw = listed or _raw(cfg)
        # 3. decoded row by row into a new cache
        images, meta = build_cache(cfg, channels, raw, progress)
    labels = None if meta["labels"] is None else torch.tensor(meta["labels"], dtype=torch.int64)
    return ImageDataset(images, labels, list(meta["classes"]), meta["source"], str(npy), list(meta["skipped"]),
                        list(meta["files"]))


def _raw(cfg: DataConfig) -> RawDataset:
    return load_raw(cfg.dataset, cfg.data_root, cfg.split, folder=cfg.folder, download=cfg.download)
