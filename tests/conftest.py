"""Shared fixtures: a real Fashion-MNIST slice written as IDX files, and a tiny training config."""

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from dcgan.data.sources import SYSTEM_DATA_ROOT, read_idx
from dcgan.settings.config import Config


REPO = Path(__file__).resolve().parents[1]


def find_fashion_mnist() -> Path | None:
    for folder in (REPO / "data" / "fashion-mnist", Path(SYSTEM_DATA_ROOT) / "fashion-mnist"):
        if (folder / "train-images-idx3-ubyte.gz").is_file():
            return folder
    return None


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


@pytest.fixture(scope="session", autouse=True)
def precision_cache(tmp_path_factory):
    """--precision auto remembers its measurements; the tests keep theirs out of the user's cache."""
    import os

    os.environ["DCGAN_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def fmnist_root(tmp_path_factory) -> Path:
    """A data root holding the first 1024 train and 256 test images of the real Fashion-MNIST."""
    source = find_fashion_mnist()
    if source is None:
        pytest.skip("Fashion-MNIST is not installed: apt-get install dataset-fashion-mnist "
                    "(.ci/run does this)")
    root = tmp_path_factory.mktemp("data")
    folder = root / "fashion-mnist"
    folder.mkdir()
    for split, n in (("train", 1024), ("t10k", 256)):
        images = read_idx(source / f"{split}-images-idx3-ubyte.gz")[:n]
        labels = read_idx(source / f"{split}-labels-idx1-ubyte.gz")[:n]
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", labels)
    return root


def file_size_limit(limit: int):
    """A preexec_fn capping every file the child writes at `limit` bytes (RLIMIT_FSIZE, SIGXFSZ ignored), so a
    write past it fails with EFBIG the way a full disk fails with ENOSPC."""
    def cap():
        import resource
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return cap


@pytest.fixture
def cpu_box(monkeypatch):
    """A machine without a GPU, whatever this one has: for the defaults that depend on the device
    (`auto` resolves to the GPU on a GPU box). The GPU box's side is tested with the opposite stand-in."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def tiny_config(data_root, out, **overrides) -> Config:
    """A model small enough that a few dozen CPU iterations take seconds; on the CPU unless `device` says
    otherwise (on a GPU box `auto` would take the GPU and its recipe settings)."""
    settings = dict(device="cpu", dataset="fashion-mnist", data_root=str(data_root), image_size=32, nz=16, ngf=8,
                    ndf=8, batch_size=32, max_steps=20, snapshot_every=10, checkpoint_every=10,
                    out=str(out), progress=False, download=False, log_every=5)
    settings.update(overrides)
    return Config.from_flat(**settings)
