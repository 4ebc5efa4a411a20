"""The training images, memory-mapped from their cache (decoded into it on first use), and the batch order."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import torch

from .cache import (CACHE_VERSION, ArrayWriter, cache_path, old_cache, open_mapped, read_cache, sidecar_path,
                    write_sidecar)
from .config import DataConfig
from .decode import decode_files, decode_image, resize_arrays  # noqa: F401  (decode_image: the public name)
from .diskio import writing
from .log import report
from .sources import load_raw


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
    """The dataset as one uint8 tensor memory-mapped from data_root/cache/ (see cache.py), decoded
    there on first use. The tensor is read-only: index it (a copy) before changing pixels."""
    native = {"fashion-mnist": 1, "mnist": 1, "cifar10": 3, "celeba": 3, "folder": 3}[cfg.dataset]
    channels = cfg.channels or native
    npy, side = cache_path(cfg, channels), sidecar_path(cfg, channels)
    try:
        cached = read_cache(cfg, channels, (lambda: _count_files(cfg)) if cfg.dataset == "folder" else None)
    except ValueError as e:  # a damaged cache is rebuilt, never trusted
        report(f"cache {npy} is damaged ({e}); rebuilding it")
        cached = None
    if cached is not None:
        images, meta = cached
        if cfg.strict and meta["skipped"]:
            raise ValueError(f"--strict: {len(meta['skipped'])} files could not be decoded, e.g. "
                             f"{meta['skipped'][0]}. Remove or fix them, or drop --strict")
        labels = None if meta["labels"] is None else torch.tensor(meta["labels"], dtype=torch.int64)
        return ImageDataset(images, labels, list(meta["classes"]), meta["source"], str(npy),
                            list(meta["skipped"]), list(meta["files"]))

    old = old_cache(cfg, channels)
    raw = load_raw(cfg.dataset, cfg.data_root, cfg.split, folder=cfg.folder, download=cfg.download)
    if old.is_file():
        report(f"cache {old} is in the old format (loaded whole into memory): rebuilding it as {npy}, "
               "which is memory-mapped")
    side.unlink(missing_ok=True)  # from here until the new sidecar, no cache is trusted
    skipped: list[str] = []
    files: list[str] = []
    labels = None if raw.labels is None else torch.from_numpy(raw.labels)
    needed = len(raw.arrays if raw.arrays is not None else raw.files) * channels * cfg.image_size ** 2
    with writing("the dataset cache", npy, needed=needed):
        writer = ArrayWriter(npy, (channels, cfg.image_size, cfg.image_size))
        try:  # rows stream to disk as they are ready: memory holds one chunk, not the dataset
            if raw.arrays is not None:
                resize_arrays(raw.arrays, cfg.image_size, channels, sink=writer)
            else:
                _, keep, skipped = decode_files(raw, cfg.image_size, channels, progress, cfg.strict, sink=writer)
                files = [_relative(raw.files[i], raw.source) for i in keep]
                if labels is not None:
                    labels = labels[keep]
                if skipped:
                    report(f"skipped {len(skipped)} of {len(raw.files)} files that could not be "
                           f"decoded, e.g. {skipped[0]} (--strict stops at the first instead)")
            writer.close()
        except BaseException:
            writer.abort()  # the half-written file goes; no sidecar names it, so it is never taken as complete
            raise
    meta = {"version": CACHE_VERSION, "shape": [writer.rows, channels, cfg.image_size, cfg.image_size],
            "labels": None if labels is None else labels.tolist(), "classes": raw.classes,
            "source": raw.source, "skipped": skipped, "n_files": len(raw.files), "files": files}
    with writing("the dataset cache's sidecar", side):
        write_sidecar(side, meta)  # last: the cache counts only once this names it
    old.unlink(missing_ok=True)
    return ImageDataset(open_mapped(npy), labels, raw.classes, raw.source, str(npy), skipped, files)


def _relative(path: Path, source: str) -> str:
    try:
        return Path(path).relative_to(source).as_posix()
    except ValueError:
        return Path(path).name


def _count_files(cfg: DataConfig) -> int:
    from .sources import load_folder

    return len(load_folder(Path(cfg.folder)).files)


# ---------------------------------------------------------------------------------------------
# batches


def epoch_permutation(n: int, *, seed: int, epoch: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """The shuffled order of one epoch, a pure function of (seed, epoch) so resume can redo it.
    Always drawn by the CPU's generator, then moved to `device` (where the data lives) once an
    epoch: a GPU's generator would give another order, and where the data sits (on the GPU when it
    fits in free memory, else on the host) differs between ranks and between runs."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g).to(device)


def iterate_batches(images: torch.Tensor, batch_size: int, *, seed: int, epoch: int,
                    start: int = 0) -> Iterator[torch.Tensor]:
    """uint8 batches of one epoch, dropping the ragged last one; `start` skips batches already done."""
    order = epoch_permutation(images.shape[0], seed=seed, epoch=epoch).to(images.device)
    for b in range(start, images.shape[0] // batch_size):
        yield images[order[b * batch_size:(b + 1) * batch_size]]


def batch_stream(n: int, batch_size: int, *, seed: int, start: int = 0,
                 device: torch.device | str = "cpu") -> Iterator[torch.Tensor]:
    """Endless index batches into a dataset of n items, epoch after epoch (the same order as
    iterate_batches); `start` counts batches already consumed, so a resumed run continues the
    same sequence (an iteration may take several: --d-steps)."""
    per_epoch = n // batch_size
    epoch, offset = divmod(start, per_epoch)
    while True:
        order = epoch_permutation(n, seed=seed, epoch=epoch, device=device)
        for b in range(offset, per_epoch):
            yield order[b * batch_size:(b + 1) * batch_size]
        epoch, offset = epoch + 1, 0
