"""The preprocessed dataset on disk: one raw uint8 `.npy`, opened memory-mapped, and a JSON sidecar.

A mapped cache is read from the page cache on demand, so a dataset larger than RAM trains, and
every process on a machine (torchrun's ranks, a notebook beside a run) shares one copy of it.
The `.npy` is written row by row as images are decoded and only named when complete; the
sidecar is written last, so a cache without a matching sidecar is never trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import warnings
from pathlib import Path

import numpy as np
import torch

from ..diskio import writing
from ..log import report
from ..settings.config import DataConfig
from .decode import decode_files, resize_arrays
from .sources import RawDataset


CACHE_VERSION = 3  # 3: .npy + JSON sidecar (memory-mapped); 2: one torch .pt loaded whole
HEADER_BYTES = 128  # a fixed-size .npy header, written last once the number of images is known


def cache_stem(cfg: DataConfig, channels: int) -> Path:
    """data_root/cache/<dataset>-<split>-<size>px-<ch>ch, without a suffix."""
    name = cfg.dataset
    if cfg.dataset == "folder":  # several folders can be cached side by side
        name += "-" + hashlib.sha1(str(Path(cfg.folder).resolve()).encode()).hexdigest()[:10]
    return Path(cfg.data_root) / "cache" / f"{name}-{cfg.split}-{cfg.image_size}px-{channels}ch"


def cache_path(cfg: DataConfig, channels: int) -> Path:
    """The images: a uint8 (N, C, S, S) .npy, readable by `np.load(path, mmap_mode="r")`."""
    return cache_stem(cfg, channels).with_suffix(".npy")


def sidecar_path(cfg: DataConfig, channels: int) -> Path:
    """What the images are: labels, classes, source, kept files and the skip report."""
    return cache_stem(cfg, channels).with_suffix(".json")


def _npy_header(shape: tuple[int, ...]) -> bytes:
    """A version 1.0 .npy header for uint8 C-order data, padded to HEADER_BYTES."""
    text = f"{{'descr': '|u1', 'fortran_order': False, 'shape': {tuple(shape)}, }}"
    room = HEADER_BYTES - 10 - 1  # magic (6) + version (2) + length (2); the header ends in "\n"
    if len(text) > room:
        raise ValueError(f"shape {shape} does not fit a {HEADER_BYTES}-byte .npy header")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", room + 1) + (text.ljust(room) + "\n").encode("latin1")


class ArrayWriter:
    """Rows of a uint8 array appended to `path` as they come; the file appears only at `close`.

    Memory stays at one row whatever the dataset's size, which is what lets a 256px folder be
    prepared on a machine that could not hold it.
    """

    def __init__(self, path: Path, row_shape: tuple[int, ...]):
        self.path, self.row_shape, self.rows = Path(path), tuple(row_shape), 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(self.path.name + f".tmp{os.getpid()}")
        self.file = open(self.tmp, "wb")
        self.file.write(b"\0" * HEADER_BYTES)

    def __call__(self, rows: np.ndarray) -> None:
        """Append rows (k, *row_shape) uint8."""
        if rows.shape[1:] != self.row_shape or rows.dtype != np.uint8:
            raise ValueError(f"rows of shape {rows.shape[1:]} {rows.dtype} do not fit a cache of "
                             f"{self.row_shape} uint8")
        self.file.write(np.ascontiguousarray(rows).tobytes())
        self.rows += len(rows)

    def close(self) -> Path:
        """Write the header for the rows written, flush to disk and give the file its name."""
        self.file.seek(0)
        self.file.write(_npy_header((self.rows, *self.row_shape)))
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        self.file.close()
        self.tmp.unlink(missing_ok=True)


def write_sidecar(path: Path, meta: dict) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(meta) + "\n")
    os.replace(tmp, path)


def open_mapped(path: Path) -> torch.Tensor:
    """The cached images as a read-only tensor over the mapped file: pages are read when touched and
    shared by every process that maps the file. Index it (which copies) before changing pixels."""
    array = np.load(path, mmap_mode="r")  # PROT_READ, MAP_SHARED: no private memory for the data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch notes the array is not writable: by design
        return torch.from_numpy(array)


def read_cache(cfg: DataConfig, channels: int, n_files: int | None = None) -> tuple[torch.Tensor, dict] | None:
    """(mapped images, sidecar) when a complete cache of the current version is there (and, for a
    folder, made from the `n_files` files it holds now); None when there is none to use.
    Raises ValueError when one is there but damaged, for the caller to report and rebuild."""
    npy, side = cache_path(cfg, channels), sidecar_path(cfg, channels)
    if not side.is_file():
        return None
    try:
        meta = json.loads(side.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"{side} is unreadable ({e})") from None
    if meta.get("version") != CACHE_VERSION or (n_files is not None and meta.get("n_files") != n_files):
        return None
    shape = tuple(meta["shape"])
    expected = HEADER_BYTES + int(np.prod(shape))
    size = npy.stat().st_size if npy.is_file() else -1
    if size != expected:
        raise ValueError(f"{npy} has {size} bytes, its sidecar {side.name} expects {expected}")
    images = open_mapped(npy)
    if tuple(images.shape) != shape:
        raise ValueError(f"{npy} holds {tuple(images.shape)}, its sidecar says {shape}")
    return images, meta


def old_cache(cfg: DataConfig, channels: int) -> Path:
    """Where version 2 kept the same cache (one .pt, loaded whole into memory)."""
    return cache_stem(cfg, channels).with_suffix(".pt")


def build_cache(cfg: DataConfig, channels: int, raw: RawDataset, progress: bool) -> tuple[torch.Tensor, dict]:
    """Decode `raw` into a new cache, row by row (memory holds one chunk, not the dataset): the .npy first,
    the sidecar last. Returns what read_cache would: (mapped images, sidecar)."""
    npy, side, old = cache_path(cfg, channels), sidecar_path(cfg, channels), old_cache(cfg, channels)
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
    return open_mapped(npy), meta


def _relative(path: Path, source: str) -> str:
    try:
        return Path(path).relative_to(source).as_posix()
    except ValueError:
        return Path(path).name
