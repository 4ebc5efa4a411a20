"""Evaluating generators: embed samples and cached real data in one named feature space, score them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from .checkpoint import atomic_torch_save, load_checkpoint
from .config import Config, DataConfig
from .data import load_dataset, to_model_range, to_uint8
from .features import default_classifier_path, file_tag, load_classifier, load_inception
from .metrics import class_stats, fid, kid, precision_recall
from .models import Generator
from .sample import generator_from_state

SHORT = {"fashion-mnist": "fmnist", "mnist": "mnist", "cifar10": "cifar10", "celeba": "celeba",
         "folder": "folder"}


@dataclass
class FeatureSpace:
    """Where images are compared. `tag` goes into every metric's name, e.g. fid_fmnist_cnn."""

    tag: str
    description: str
    cache_id: str  # changes whenever the extractor's weights change
    embed: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]]  # [-1,1] -> (feat, logits)


def classifier_space(data: DataConfig, channels: int, path=None, device="cpu") -> FeatureSpace:
    path = Path(path) if path else default_classifier_path(data, channels)
    model, blob = load_classifier(path, device)

    @torch.no_grad()
    def embed(x):
        f, logits = model.features_and_logits(x.to(device).float())
        return f.cpu(), logits.cpu()

    return FeatureSpace(f"{SHORT[data.dataset]}_cnn",
                        f"penultimate layer (128-d) of the {data.dataset} classifier {path} "
                        f"(test accuracy {blob['test_accuracy']:.4f})", f"cnn-{file_tag(path)}", embed)


def inception_space(weights=None, device="cpu") -> FeatureSpace:
    net = load_inception(weights, device)

    @torch.no_grad()
    def embed(x):
        u8 = to_uint8(x)
        if u8.shape[1] == 1:  # grey -> RGB, as FID tools do
            u8 = u8.expand(-1, 3, -1, -1)
        return net(u8.to(device)).float().cpu().reshape(len(u8), -1), None

    return FeatureSpace("inception", "Inception-v3 pool3 (2048-d), the standard FID features",
                        "inception", embed)


def make_space(kind: str, data: DataConfig, channels: int, *, classifier=None, inception_weights=None,
               device="cpu") -> FeatureSpace:
    if kind == "classifier":
        return classifier_space(data, channels, classifier, device)
    if kind == "inception":
        return inception_space(inception_weights, device)
    raise ValueError(f"--features must be classifier or inception, got {kind!r}")


def embed_all(space: FeatureSpace, images: torch.Tensor, batch_size: int = 500):
    """uint8 or [-1, 1] float images (N, C, S, S) -> features (N, d) and logits (N, K) or None."""
    feats, logits = [], []
    for part in images.split(batch_size):
        x = to_model_range(part) if part.dtype == torch.uint8 else part
        f, lg = space.embed(x)
        feats.append(f)
        if lg is not None:
            logits.append(lg)
    return torch.cat(feats), (torch.cat(logits) if logits else None)


def real_features(space: FeatureSpace, data: DataConfig, n: int, *, progress: bool = False,
                  seed: int = 0) -> torch.Tensor:
    """Features of n real images (a fixed random subset), cached per dataset/split/size/extractor."""
    ds = load_dataset(data, progress=progress)
    n = min(n, len(ds))
    path = (Path(data.data_root) / "cache" / "features" /
            f"{data.dataset}-{data.split}-{data.image_size}px-{ds.channels}ch-{space.cache_id}-n{n}-s{seed}.pt")
    if path.is_file():
        return torch.load(path, weights_only=True)["features"]
    idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed))[:n]
    feats, _ = embed_all(space, ds.images[idx])
    atomic_torch_save({"features": feats}, path)
    return feats


@torch.no_grad()
def generate_for_eval(G: Generator, n: int, seed: int, device, batch_size: int = 500) -> torch.Tensor:
    was_training = G.training
    G.eval()
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, G.nz, 1, 1, generator=gen)
    out = torch.cat([G(c.to(device)).float().cpu() for c in z.split(batch_size)])
    G.train(was_training)
    return out


def score(space: FeatureSpace, real: torch.Tensor, fake_images: torch.Tensor, *, full: bool = True) -> dict:
    """Metrics of generated images against real features; every key carries the space's tag."""
    fake, logits = embed_all(space, fake_images)
    t = space.tag
    out = {f"fid_{t}": fid(real, fake)}
    if logits is not None:
        out.update({f"{k}_{t}": v for k, v in class_stats(logits).items()})
    if full:
        kid_mean, kid_std = kid(real, fake)
        precision, recall = precision_recall(real[:5000], fake[:5000])
        out.update({f"kid_{t}": kid_mean, f"kid_std_{t}": kid_std, f"precision_{t}": precision,
                    f"recall_{t}": recall})
    return out


def evaluate_checkpoint(checkpoint, *, n: int = 10000, features: str = "classifier", classifier=None,
                        inception_weights=None, data_root: str | None = None, device="cpu", seed: int = 0,
                        write: bool = True) -> dict:
    """Score a checkpoint's generator; writes metrics.json in its run folder."""
    state = load_checkpoint(checkpoint)
    cfg = Config.from_dict(state["config"])
    if data_root:
        cfg.data.data_root = data_root
    G = generator_from_state(state).to(device)
    space = make_space(features, cfg.data, G.nc, classifier=classifier, inception_weights=inception_weights,
                       device=device)
    real = real_features(space, cfg.data, n)
    result = {"checkpoint": str(checkpoint), "iteration": state["iteration"], "n_samples": n,
              "n_real": len(real), "features": space.description,
              "generator": "ema" if "G_ema" in state else "trained",
              "metrics": score(space, real, generate_for_eval(G, n, seed, device))}
    if write:
        from .checkpoint import resolve_checkpoint

        run_dir = resolve_checkpoint(checkpoint).parent.parent
        (run_dir / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def real_vs_real(data: DataConfig, space: FeatureSpace, n: int = 10000) -> float:
    """FID between the train and test splits: the floor a perfect generator would reach."""
    train = real_features(space, DataConfig(**{**data.__dict__, "split": "train"}), n)
    test = real_features(space, DataConfig(**{**data.__dict__, "split": "test"}), n)
    return fid(train, test)
