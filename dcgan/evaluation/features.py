"""Feature extractors for evaluation: a small domain classifier CNN we train, and standard Inception."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoint import atomic_torch_save
from ..data.dataset import load_dataset, to_model_range
from ..log import report
from ..runtime import private_rng
from ..settings.config import DataConfig


# The pytorch-fid / torch-fidelity Inception weights; torch-fidelity caches them under torch hub.
INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"


class InceptionUnavailable(RuntimeError):
    """The standard Inception weights cannot be had here; the message names both remedies."""


class ClassifierNet(nn.Module):
    """A small CNN for (N, nc, S, S) images in [-1, 1]; its 128-d penultimate layer is the feature space."""

    num_features = 128

    def __init__(self, *, nc: int = 1, num_classes: int = 10, image_size: int = 32):
        super().__init__()
        self.nc, self.num_classes, self.image_size = nc, num_classes, image_size
        self.body = nn.Sequential(
            nn.Conv2d(nc, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(True), nn.MaxPool2d(2),  # 32 x S/2
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(True), nn.MaxPool2d(2),  # 64 x S/4
            nn.Conv2d(64, 128, 3, padding=1), nn.BatchNorm2d(128), nn.ReLU(True),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(),  # 2048
            nn.Linear(128 * 16, self.num_features), nn.ReLU(True),  # the features
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(self.num_features, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.body(x)
        return f, self.head(f)


def default_classifier_path(data: DataConfig, channels: int) -> Path:
    """data_root/classifiers/<dataset>-<size>px-<ch>ch.pt; a folder's name carries the folder's, and a hash
    of its path, so two folders never share (or overwrite) each other's classifier."""
    name = data.dataset
    if data.dataset == "folder":
        folder = Path(data.folder).resolve()
        name += f"-{folder.name}-{hashlib.sha1(str(folder).encode()).hexdigest()[:10]}"
    return Path(data.data_root) / "classifiers" / f"{name}-{data.image_size}px-{channels}ch.pt"


def ensure_classifier(data: DataConfig, channels: int, path: str | os.PathLike = "", *, epochs: int = 3,
                      device: str | torch.device = "auto", say: Callable[[str], None] = report) -> Path:
    """The domain classifier for scoring: `path`, or the dataset's default one, trained first (once,
    with its progress bar) when the file is not there yet."""
    path = Path(path) if path else default_classifier_path(data, channels)
    if not path.is_file():
        say(f"no {data.dataset} classifier at {path} yet: training one for the scores ({epochs} epochs; "
            "a few minutes on a CPU)")
        _, acc = train_classifier(DataConfig(**{**data.__dict__, "channels": channels}), epochs=epochs, out=path,
                                  device=device)
        say(f"classifier saved to {path} (test accuracy {acc:.4f})")
    return path


@torch.no_grad()
def accuracy(model: ClassifierNet, images: torch.Tensor, labels: torch.Tensor, device="cpu") -> float:
    model.eval()
    correct = 0
    for start in range(0, len(images), 1000):
        x = to_model_range(images[start:start + 1000].to(device))
        correct += (model(x).argmax(1).cpu() == labels[start:start + 1000]).sum().item()
    return correct / len(images)


def train_classifier(data: DataConfig, *, epochs: int = 3, batch_size: int = 128, lr: float = 2e-3,
                     seed: int = 0, device: str | torch.device = "auto", out: str | os.PathLike | None = None,
                     progress: bool = True, limit: int = 0) -> tuple[Path, float]:
    """Train the domain classifier on the labelled train split; returns (saved path, test accuracy).
    Its random numbers are its own: a training run that has to make one first draws the same noise
    as one that finds it made. `device` auto (as the CLI): the GPU where there is one."""
    from ..runtime import resolve_device

    device = resolve_device(device)
    with private_rng(free_algorithms=True):
        return _train_classifier(data, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device=device,
                                 out=out, progress=progress, limit=limit)


def _train_classifier(data: DataConfig, *, epochs: int, batch_size: int, lr: float, seed: int,
                      device: str | torch.device, out, progress: bool, limit: int) -> tuple[Path, float]:
    from tqdm.auto import tqdm

    train_set = load_dataset(DataConfig(**{**data.__dict__, "split": "train"}), progress=progress)
    test_set = load_dataset(DataConfig(**{**data.__dict__, "split": "test"}), progress=progress)
    if train_set.labels is None or not train_set.classes:
        raise ValueError(f"dataset {data.dataset!r} has no labels, so no classifier can be trained on it; "
                         "use --features inception")
    images, labels = train_set.images, train_set.labels
    test_images, test_labels = test_set.images, test_set.labels
    if data.dataset == "folder":  # a folder has no test split: every 10th image is held out to measure accuracy
        held = torch.arange(len(images)) % 10 == 9
        images, labels, test_images, test_labels = images[~held], labels[~held], images[held], labels[held]
    if limit:
        images, labels = images[:limit], labels[:limit]
    torch.manual_seed(seed)
    model = ClassifierNet(nc=train_set.channels, num_classes=len(train_set.classes),
                          image_size=data.image_size).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * (len(images) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1))
    bar = tqdm(total=steps, desc="training classifier", unit="it", disable=not progress, mininterval=0.5)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed + epoch))
        for b in range(len(images) // batch_size):
            idx = order[b * batch_size:(b + 1) * batch_size]
            x = to_model_range(images[idx].to(device))
            # light augmentation: random shifts of up to 2 pixels
            x = torch.roll(x, shifts=tuple(torch.randint(-2, 3, (2,)).tolist()), dims=(2, 3))
            loss = F.cross_entropy(model(x), labels[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    acc = accuracy(model, test_images, test_labels, device)
    path = Path(out) if out else default_classifier_path(data, train_set.channels)
    atomic_torch_save({"state_dict": model.cpu().state_dict(), "classes": train_set.classes,
                       "dataset": data.dataset, "image_size": data.image_size,
                       "channels": train_set.channels, "test_accuracy": acc}, path, what="the classifier")
    return path, acc


def load_classifier(path: str | os.PathLike, device="cpu") -> tuple[ClassifierNet, dict]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no classifier at {path}; train one with "
                                f"`dcgan train-classifier --dataset <name>` (a few minutes on a CPU)")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    model = ClassifierNet(nc=blob["channels"], num_classes=len(blob["classes"]), image_size=blob["image_size"])
    model.load_state_dict(blob["state_dict"])
    return model.to(device).eval(), blob


def file_tag(path: str | os.PathLike) -> str:
    """A short hash of a file's bytes, so caches of features follow the extractor they came from."""
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()[:10]


def load_inception(weights: str | os.PathLike | None = None, device="cpu") -> nn.Module:
    """Standard FID Inception (torch-fidelity's port of the TF graph): uint8 (N, 3, H, W) -> (N, 2048).

    Weights come from `weights` (a local copy of pt_inception-2015-12-05) or the torch hub cache, where
    torch-fidelity downloads them on machines with internet.
    """
    from ..extras import require

    require("eval", "Inception features")
    from torchmetrics.image.fid import NoTrainInceptionV3

    safe_copy = None
    if weights is not None:
        if not Path(weights).is_file():
            raise InceptionUnavailable(f"--inception-weights {weights} does not exist")
        # torch-fidelity would unpickle the user's file freely; load it safely here and hand it
        # a copy that holds nothing but tensors
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
        except Exception as e:
            raise InceptionUnavailable(f"--inception-weights {weights} is not a plain state dict "
                                       f"of tensors ({str(e)[:200]}); it was not loaded") from e
        import tempfile

        safe_copy = Path(tempfile.mkdtemp()) / "inception.pth"
        torch.save(state, safe_copy)
    try:
        net = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"],
                                 feature_extractor_weights_path=str(safe_copy) if safe_copy else None)
    except Exception as e:  # torch-fidelity's download failing offline, mostly
        hub = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE
        raise InceptionUnavailable(
            "the standard Inception weights for FID could not be loaded "
            f"({type(e).__name__}: {str(e)[:160]}). Either run once on a machine with internet (torch-fidelity "
            f"downloads them to {hub}), or download {INCEPTION_FILE} from "
            "https://github.com/toshas/torch-fidelity/releases and pass --inception-weights PATH. "
            "Offline, --features classifier gives FID in a domain classifier's features, labelled as such."
        ) from e
    finally:
        if safe_copy is not None:
            safe_copy.unlink()
            safe_copy.parent.rmdir()
    return net.to(device).eval()
