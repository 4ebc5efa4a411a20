"""Evaluating generators: embed samples and cached real data in one named feature space, score them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ..checkpoint import atomic_torch_save, load_checkpoint, resolve_checkpoint
from ..data.dataset import load_dataset, to_model_range, to_uint8
from ..diskio import replacing, writing
from ..models import Generator
from ..provenance import provenance
from ..settings.config import Config, DataConfig
from .features import ensure_classifier, file_tag, load_classifier, load_inception
from .metrics import class_stats, fid, kid, precision_recall


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
    """The domain classifier's features: `path`, or the dataset's default classifier, trained first
    (once, with its progress bar) when there is none yet."""
    path = Path(path) if path else ensure_classifier(data, channels, device=device)
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
               device="auto") -> FeatureSpace:
    from ..extras import require
    from ..runtime import resolve_device

    require("eval", "scoring generators")
    device = resolve_device(device)
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
                  seed: int = 0, with_labels: bool = False):
    """Features of n real images (a fixed random subset; 0: all of them), cached per
    dataset/split/size/extractor; with `with_labels`, also their class labels (None for unlabelled data)."""
    ds = load_dataset(data, progress=progress)
    n = len(ds) if n == 0 else min(n, len(ds))
    path = (Path(data.data_root) / "cache" / "features" /
            f"{data.dataset}-{data.split}-{data.image_size}px-{ds.channels}ch-{space.cache_id}-n{n}-s{seed}.pt")
    blob = torch.load(path, weights_only=True) if path.is_file() else {}
    if "labels" not in blob:  # absent, or written before labels were kept
        idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed))[:n]
        feats, _ = embed_all(space, ds.images[idx])
        blob = {"features": feats, "labels": ds.labels[idx] if ds.labels is not None else None}
        atomic_torch_save(blob, path, what="the cache of the real images' features")
    return (blob["features"], blob["labels"]) if with_labels else blob["features"]


@torch.no_grad()
def generate_for_eval(G: Generator, n: int, seed: int, device, batch_size: int = 500,
                      cond: torch.Tensor | None = None) -> torch.Tensor:
    """n samples with G in eval mode (classes in turn for a class-conditional G)."""
    from ..sample import generate

    was_training = G.training
    G.eval()
    out = generate(G, n, seed=seed, batch_size=batch_size, device=device, cond=cond)
    G.train(was_training)
    return out


def conditions_for_eval(G: Generator, cfg: Config, n: int, real_labels: torch.Tensor | None, seed: int = 0):
    """(cond (n, K), intended classes (n,)) for scoring a conditional G; (None, None) otherwise. A
    class-conditional G is asked for each class as often as it occurs among the real images scored,
    so FID compares like with like where classes are unbalanced (a folder whose largest class holds
    most of the images); without labels, every class equally often."""
    if G.condition == "class":
        from ..data.conditions import classes_in_turn

        if real_labels is not None and len(real_labels):
            intended = real_labels[torch.arange(n) % len(real_labels)].long()
            return torch.eye(G.n_cond)[intended], intended
        cond = classes_in_turn(n, G.n_cond)
        return cond, cond.argmax(1)
    if G.condition == "attrs":  # the tag sets of real images, as often as the data has them
        from ..data.conditions import dataset_conditions

        conds, _ = dataset_conditions(cfg, load_dataset(cfg.data, progress=False))
        return conds[torch.randint(len(conds), (n,), generator=torch.Generator().manual_seed(seed))], None
    return None, None


def score(space: FeatureSpace, real: torch.Tensor, fake_images: torch.Tensor, *, full: bool = True,
          intended: torch.Tensor | None = None, real_labels: torch.Tensor | None = None,
          class_names: list[str] | None = None) -> dict:
    """Metrics of generated images against real features; every key carries the space's tag.

    For a class-conditional G, `intended` (n,) gives each sample's requested class: the
    classifier's agreement is `class_accuracy`, and with `real_labels` FID is also computed
    class by class (`fid_class_<name>`, and their mean).
    """
    fake, logits = embed_all(space, fake_images)
    t = space.tag
    out = {f"fid_{t}": fid(real, fake)}
    if logits is not None:
        out.update({f"{k}_{t}": v for k, v in class_stats(logits).items()})
    if intended is not None and logits is not None:
        out[f"class_accuracy_{t}"] = (logits.argmax(1) == intended).float().mean().item()
    if intended is not None and real_labels is not None and full:
        per_class = {}
        for k in range(int(intended.max()) + 1):
            r, f = real[real_labels == k], fake[intended == k]
            if len(r) > 1 and len(f) > 1:
                name = class_names[k] if class_names and k < len(class_names) else str(k)
                per_class[f"fid_class_{name.replace(' ', '_').replace('/', '_')}_{t}"] = fid(r, f)
        if per_class:
            out[f"fid_per_class_mean_{t}"] = sum(per_class.values()) / len(per_class)
            out.update(per_class)
    if full:
        kid_mean, kid_std = kid(real, fake)
        precision, recall = precision_recall(real[:5000], fake[:5000])
        out.update({f"kid_{t}": kid_mean, f"kid_std_{t}": kid_std, f"precision_{t}": precision,
                    f"recall_{t}": recall})
    return out


def evaluate_checkpoint(checkpoint, *, n: int = 10000, features: str = "classifier", classifier=None,
                        inception_weights=None, data_root: str | None = None, device="auto", seed: int = 0,
                        write: bool = True, real_n: int | None = None) -> dict:
    """Score a checkpoint's generator (a run folder, a checkpoint or an exported .safetensors G) with n
    samples against `real_n` real images of the run's split (None: n as well; 0: the whole split, as
    published FIDs use: 50k samples against the full training set). Writes metrics.json beside a
    run's checkpoint. `device` auto (as the CLI): the GPU where there is one."""
    from ..extras import require
    from ..runtime import resolve_device

    require("eval", "dcgan evaluate")
    device = resolve_device(device)
    exported = str(checkpoint).endswith(".safetensors")  # dcgan export's file: the generator and its settings
    if exported:
        from ..weights import read_exported

        G, metadata = read_exported(checkpoint)
        config, iteration, weights = json.loads(metadata["config"]), int(metadata["iteration"]), metadata["weights"]
    else:
        state = load_checkpoint(checkpoint)
        G, config, iteration = Generator.from_state(state), state["config"], state["iteration"]
        weights = "ema" if "G_ema" in state else "trained"
    cfg = Config.from_dict(config)
    if data_root:
        cfg.data.data_root = data_root
    G = G.to(device)
    space = make_space(features, cfg.data, G.nc, classifier=classifier, inception_weights=inception_weights,
                       device=device)
    real, real_labels = real_features(space, cfg.data, n if real_n is None else real_n, with_labels=True)
    cond, intended = conditions_for_eval(G, cfg, n, real_labels, seed)
    fake = generate_for_eval(G, n, seed, device, cond=cond)
    result = {"checkpoint": str(checkpoint), "iteration": iteration, "n_samples": n,
              "n_real": len(real), "real_split": cfg.data.split, "features": space.description,
              "generator": weights, "condition": G.condition,
              "metrics": score(space, real, fake, intended=intended, real_labels=real_labels,
                               class_names=G.cond_names), "provenance": provenance(device)}
    if write:  # beside the run's checkpoints, or G.metrics.json beside an exported G.safetensors
        path = (Path(checkpoint).with_suffix(".metrics.json") if exported
                else resolve_checkpoint(checkpoint).parent.parent / "metrics.json")
        with writing("the scores", path), replacing(path) as tmp:  # a half-written file never replaces one
            tmp.write_text(json.dumps(result, indent=2) + "\n")
    return result


def real_vs_real(data: DataConfig, space: FeatureSpace, n: int = 10000) -> float:
    """FID between the train and test splits: the floor a perfect generator would reach."""
    train = real_features(space, DataConfig(**{**data.__dict__, "split": "train"}), n)
    test = real_features(space, DataConfig(**{**data.__dict__, "split": "test"}), n)
    return fid(train, test)
