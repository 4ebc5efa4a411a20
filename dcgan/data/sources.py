"""Finding and reading raw datasets: IDX (Fashion-MNIST, MNIST), CIFAR-10 batches, CelebA, folders."""

from __future__ import annotations

import gzip
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


# Debian's dataset-fashion-mnist installs the original IDX files under here; tests patch it.
SYSTEM_DATA_ROOT = "/usr/share/datasets"

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
MNIST_CLASSES = [str(i) for i in range(10)]
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
                 "dog", "frog", "horse", "ship", "truck"]


class DatasetNotFound(FileNotFoundError):
    """No copy of a dataset was found anywhere we looked; the message says how to get one."""


@dataclass
class RawDataset:
    """Either decoded pixel arrays (`arrays`, uint8 N x H x W [x C]) or image `files` to decode."""

    name: str
    source: str  # the folder the files were found in, for the user to see
    arrays: np.ndarray | None = None
    files: list[Path] = field(default_factory=list)
    labels: np.ndarray | None = None
    classes: list[str] = field(default_factory=list)
    channels: int = 1  # the dataset's own channel count


# ---------------------------------------------------------------------------------------------
# IDX: Fashion-MNIST and MNIST


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (optionally gzipped) into a numpy array."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise ValueError(f"{path}: cannot read IDX file ({e}); delete it and fetch it again") from e
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file (bad magic number)")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    expected = int(np.prod(dims))
    if len(data) - offset != expected:
        raise ValueError(f"{path}: IDX file is truncated or padded "
                         f"({len(data) - offset} bytes of data for shape {dims})")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(dims)


_IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
              "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def _idx_dirs(name: str, data_root: Path) -> list[Path]:
    tv = {"fashion-mnist": "FashionMNIST", "mnist": "MNIST"}[name]
    return [data_root / name, data_root / tv / "raw", Path(SYSTEM_DATA_ROOT) / name]


def _find_idx(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / (stem + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def load_idx_dataset(name: str, data_root: Path, split: str, download: bool) -> RawDataset:
    splits = ["train", "test"] if split == "all" else [split]
    looked = _idx_dirs(name, data_root)
    for folder in looked:
        stems = [s for sp in splits for s in _IDX_FILES[sp]]
        found = [_find_idx(folder, s) for s in stems]
        if all(found):
            break
    else:
        if not download or not _torchvision_download(name, data_root):
            raise DatasetNotFound(_not_found_message(name, looked))
        folder = looked[1]
        found = [_find_idx(folder, s) for sp in splits for s in _IDX_FILES[sp]]
    images = np.concatenate([read_idx(p) for p in found[0::2]])
    labels = np.concatenate([read_idx(p) for p in found[1::2]]).astype(np.int64)
    if len(images) != len(labels):
        raise ValueError(f"{folder}: {len(images)} images but {len(labels)} labels; "
                         "the files come from different releases, fetch them again")
    classes = FASHION_CLASSES if name == "fashion-mnist" else MNIST_CLASSES
    return RawDataset(name, str(folder), arrays=images, labels=labels, classes=classes, channels=1)


# ---------------------------------------------------------------------------------------------
# CIFAR-10 (the "python version" pickled batches)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """CIFAR's batches are pickles; allow only the numpy pieces they need, never arbitrary code."""

    _allowed = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype"),
                ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar")}

    def find_class(self, module, name):
        if (module, name) in self._allowed:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: not part of a CIFAR batch")


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as f:
            d = _NumpyOnlyUnpickler(f, encoding="latin1").load()
        data = np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        labels = np.asarray(d["labels"], dtype=np.int64)
    except (pickle.UnpicklingError, KeyError, ValueError, EOFError, TypeError) as e:
        raise ValueError(f"{path}: not a CIFAR-10 python batch ({e}); fetch the dataset again") from e
    return data, labels


def load_cifar10(data_root: Path, split: str, download: bool) -> RawDataset:
    names = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
    wanted = names["train"] + names["test"] if split == "all" else names[split]
    looked = [data_root / "cifar-10-batches-py", data_root / "cifar10" / "cifar-10-batches-py",
              data_root / "cifar10", Path(SYSTEM_DATA_ROOT) / "cifar10"]
    folder = next((d for d in looked if all((d / n).is_file() for n in wanted)), None)
    if folder is None:
        if not download or not _torchvision_download("cifar10", data_root):
            raise DatasetNotFound(_not_found_message("cifar10", looked))
        folder = looked[0]
    parts = [read_cifar_batch(folder / n) for n in wanted]
    return RawDataset("cifar10", str(folder), arrays=np.concatenate([p[0] for p in parts]),
                      labels=np.concatenate([p[1] for p in parts]), classes=CIFAR_CLASSES, channels=3)


# ---------------------------------------------------------------------------------------------
# CelebA (img_align_celeba/*.jpg, split by list_eval_partition.txt when present)


def load_celeba(data_root: Path, split: str, download: bool) -> RawDataset:
    looked = [data_root / "celeba", data_root, Path(SYSTEM_DATA_ROOT) / "celeba"]
    folder = next((d for d in looked if (d / "img_align_celeba").is_dir()), None)
    if folder is None:
        if not download or not _torchvision_download("celeba", data_root):
            raise DatasetNotFound(_not_found_message("celeba", looked))
        folder = looked[0]
    image_dir = folder / "img_align_celeba"
    files = sorted(p for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    partition = folder / "list_eval_partition.txt"
    if split != "all" and partition.is_file():
        keep = {"train": {"0"}, "test": {"1", "2"}}[split]  # validation goes with test
        chosen = set()
        for lineno, line in enumerate(partition.read_text().splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2:
                raise ValueError(f"{partition}:{lineno}: expected 'filename partition', got {line!r}")
            if parts[1] in keep:
                chosen.add(parts[0])
        files = [p for p in files if p.name in chosen]
    if not files:
        raise DatasetNotFound(f"{image_dir} holds no images for split {split!r}")
    return RawDataset("celeba", str(folder), files=files, channels=3)


# ---------------------------------------------------------------------------------------------
# Any folder of images: ImageFolder layout (one subfolder per class) or flat, searched recursively


def load_folder(folder: Path) -> RawDataset:
    if not folder.is_dir():
        raise DatasetNotFound(f"--folder {folder} is not a directory; pass a folder of images "
                              "(flat, or one subfolder per class)")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    if not files:
        raise DatasetNotFound(f"{folder} holds no image files (looked recursively for "
                              f"{', '.join(IMAGE_EXTENSIONS)})")
    top_level = {p.relative_to(folder).parts[0] for p in files}
    labelled = all(len(p.relative_to(folder).parts) > 1 for p in files)
    classes = sorted(top_level) if labelled else []
    labels = (np.array([classes.index(p.relative_to(folder).parts[0]) for p in files], dtype=np.int64)
              if labelled else None)
    return RawDataset("folder", str(folder), files=files, labels=labels, classes=classes, channels=3)


# ---------------------------------------------------------------------------------------------
# Download and the message when nothing worked


def _torchvision_download(name: str, data_root: Path) -> bool:
    """Try torchvision's downloader; False (not an exception) when offline or it fails."""
    import torchvision.datasets as tvd

    makers = {"fashion-mnist": lambda: tvd.FashionMNIST(str(data_root), download=True),
              "mnist": lambda: tvd.MNIST(str(data_root), download=True),
              "cifar10": lambda: tvd.CIFAR10(str(data_root), download=True),
              "celeba": lambda: tvd.CelebA(str(data_root), download=True)}
    from ..log import report

    report(f"{name}: not found locally, trying to download it into {data_root} ...")
    try:
        makers[name]()
        return True
    except Exception as e:  # any network or mirror failure means "not available here"
        report(f"{name}: download failed ({type(e).__name__}: {str(e)[:200]})")
        return False


_HOW_TO_GET = {
    "fashion-mnist": "sudo apt-get install dataset-fashion-mnist   (Debian/Ubuntu: installs the IDX files "
                     "in /usr/share/datasets/fashion-mnist)\n  or copy the four *-ubyte.gz files from "
                     "https://github.com/zalandoresearch/fashion-mnist into data/fashion-mnist/",
    "mnist": "copy train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and "
             "t10k-labels-idx1-ubyte.gz into data/mnist/ (or run once on a machine with internet)",
    "cifar10": "download https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz and unpack it in data/ "
               "(giving data/cifar-10-batches-py/)",
    "celeba": "download img_align_celeba.zip (and list_eval_partition.txt) from the CelebA site and unpack "
              "them in data/celeba/ (giving data/celeba/img_align_celeba/*.jpg)",
}


def _not_found_message(name: str, looked: list[Path]) -> str:
    where = "\n".join(f"  - {p}" for p in looked)
    return (f"dataset {name!r} was not found. Looked in:\n{where}\n"
            f"and the torchvision download did not work (no internet?). To get it:\n  {_HOW_TO_GET[name]}\n"
            f"or point --data-root at the folder that holds it.")


def load_raw(name: str, data_root: str | os.PathLike, split: str, *, folder: str = "",
             download: bool = True) -> RawDataset:
    """Find `name` under data_root, then the system path, then download it."""
    root = Path(data_root)
    if name in ("fashion-mnist", "mnist"):
        return load_idx_dataset(name, root, split, download)
    if name == "cifar10":
        return load_cifar10(root, split, download)
    if name == "celeba":
        return load_celeba(root, split, download)
    if name == "folder":
        return load_folder(Path(folder))
    raise ValueError(f"unknown dataset {name!r}")
