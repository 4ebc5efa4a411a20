"""Training recipes: named presets of settings, each with its one-line source (`--recipe list`)."""

from __future__ import annotations

from typing import Any, Callable

# A recipe fills in the settings the user did not give (explicit ones win; Config.from_flat applies
# it). Every recipe names every setting any recipe changes, so none inherits another's. config.py's
# dataclass defaults are the default recipe's, so Config() and Config.from_flat() agree.
_PAPER = {"loss": "bce", "spectral_norm": False, "d_norm": "auto", "grad_clip": 0.0, "lr": 2e-4, "lr_g": 0.0,
          "ema_decay": 0.0, "ema_rampup": 1 / 9, "label_smoothing": 0.0, "r1_weight": 0.0, "r1_every": 1,
          "batch_size": 128, "lr_decay": 0.0, "penalty_clip": "own"}
_R1_EMA = {**_PAPER, "grad_clip": 10.0, "lr": 4e-4, "lr_g": 1.2e-3, "ema_decay": 0.999, "label_smoothing": 0.1,
           "r1_weight": 0.1, "r1_every": 16, "batch_size": 64}
RECIPES: dict[str, dict[str, Any]] = {
    # twice r1-ema's G updates per epoch, rates falling to 0 over the run's last quarter, and an EMA
    # that spans at most the last 1/20 of the steps so far: 0.52x r1-ema's FID at 2 epochs
    "r1-ema-b32": {**_R1_EMA, "batch_size": 32, "lr_decay": 0.25, "ema_rampup": 0.05},
    "r1-ema": _R1_EMA,
    "classic": dict(_PAPER),
    # the published objectives; each loss's preset (config.LOSS_PRESETS) adds its paper's optimiser settings
    "wgan": {**_PAPER, "loss": "wgan"},
    "wgan-gp": {**_PAPER, "loss": "wgan-gp"},
    "sngan": {**_PAPER, "loss": "hinge", "spectral_norm": True, "d_norm": "none"},
    "lsgan": {**_PAPER, "loss": "lsgan"},
}
DEFAULT_RECIPE = "r1-ema-b32"
SOURCES: dict[str, str] = {
    "r1-ema-b32": "r1-ema at batch 32, both rates falling to 0 over the last quarter of the run, a shorter EMA "
                  "warm-up (docs/recipes.md)",
    "r1-ema": "the paper's DCGAN with G at 3x D's rate, an EMA of G, lazy R1, clipped gradients, label smoothing, "
              "batch 64 (docs/recipes.md)",
    "classic": "Radford et al. 2015 exactly: Adam 2e-4, betas (0.5, 0.999), batch 128, BCE, nothing else",
    "wgan": "Arjovsky et al. 2017: critic with weights clipped to 0.01, RMSprop 5e-5, 5 critic steps per G step",
    "wgan-gp": "Gulrajani et al. 2017: gradient penalty 10, LayerNorm critic, Adam 2e-4 betas (0.5, 0.9), 5 critic "
               "steps",
    "sngan": "Miyato et al. 2018: hinge loss, spectral norm on every D convolution, no BatchNorm in D",
    "lsgan": "Mao et al. 2017: least-squares loss, targets 1 and 0",
}
# what each recipe adds when G and D are conditional (--condition class or attrs), over RECIPES[name]
CONDITIONAL: dict[str, dict[str, Any]] = {name: {"mismatch_weight": 0.0, "mode_seeking": 0.0,
                                                  "penalty_clip": RECIPES[name]["penalty_clip"]} for name in RECIPES}
# Reed et al. 2016's matching-aware D and Mao et al. 2019's mode-seeking term mend each other's cost;
# R1's gradient clipped with the loss's because a projection D's first lazy R1 steps (penalties in the
# hundreds) otherwise swamp Adam
CONDITIONAL["r1-ema"] = {"mismatch_weight": 0.5, "mode_seeking": 1.0, "penalty_clip": "joint"}
# at batch 32 (16 pairs of fakes) the mode-seeking term at 1 blurred the classes (FID 1.1-1.4x the
# unconditional default's at 2 epochs); at 0.5 class accuracy and FID both beat it (docs/recipes.md)
CONDITIONAL["r1-ema-b32"] = {**CONDITIONAL["r1-ema"], "mode_seeking": 0.5}

# Names of earlier releases: the default's old name, and the steps that led to it, which now live in
# benchmarks/objectives.py as variants. Scripts and notebooks that name them still train as before.
RENAMED = {"fast-g-ema-r1-b64": "r1-ema"}
RETIRED: dict[str, dict[str, Any]] = {
    "tuned": {**_PAPER, "grad_clip": 10.0},
    "fast": {**_PAPER, "grad_clip": 10.0, "lr": 4e-4},
    "fast-g": {**_PAPER, "grad_clip": 10.0, "lr": 4e-4, "lr_g": 8e-4},
    "fast-g-ema": {**_PAPER, "grad_clip": 10.0, "lr": 4e-4, "lr_g": 1.2e-3, "ema_decay": 0.999, "label_smoothing": 0.1},
    "fast-g-ema-r1": {**_PAPER, "grad_clip": 10.0, "lr": 4e-4, "lr_g": 1.2e-3, "ema_decay": 0.999,
                      "label_smoothing": 0.1, "r1_weight": 0.1, "r1_every": 16, "penalty_clip": "joint"},
}
# What a recipe changes when it trains on a CUDA GPU (--device cuda, or auto where one is found), where
# an iteration costs its kernel launches, flat in the batch up to a few hundred 32 px images: there
# the default takes the batch that gave the best FID at equal iterations (docs/performance.md).
# Settings you give still win; a resumed run keeps its checkpoint's.
ON_GPU: dict[str, dict[str, Any]] = {"r1-ema-b32": {"batch_size": 128}}


def gpu_settings(name: str, device: str) -> dict[str, Any]:
    """The recipe's GPU settings when `device` means a CUDA GPU here, else {}. Every rank of a torchrun
    launch asks with the same device and sees its GPUs, so all choose the same."""
    if name not in ON_GPU or not (device.startswith("cuda") or device == "auto"):
        return {}
    import torch

    return dict(ON_GPU[name]) if device.startswith("cuda") or torch.cuda.is_available() else {}


RETIRED_AS = {"tuned": "grad-clip", "fast": "clip-lr4", "fast-g": "clip-g8-d4", "fast-g-ema": "clip-g12-d4-ema-smooth",
              "fast-g-ema-r1": "fge-r1-lazy"}  # their variant names in benchmarks/objectives.py


def resolve_recipe(name: str, say: Callable[[str], None]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(settings, conditional additions) of a recipe by name; an old name works, with a one-line note."""
    if name in RENAMED:
        say(f"recipe {name!r} is now called {RENAMED[name]!r}; training with it")
        name = RENAMED[name]
    if name in RETIRED:
        say(f"recipe {name!r} is no longer a preset (it is benchmarks/objectives.py's variant {RETIRED_AS[name]!r}); "
            f"training with its settings; the default is {DEFAULT_RECIPE!r} (dcgan train --recipe list)")
        penalty_clip = RETIRED[name]["penalty_clip"]
        return dict(RETIRED[name]), {"mismatch_weight": 0.0, "mode_seeking": 0.0, "penalty_clip": penalty_clip}
    if name not in RECIPES:
        from .config import ConfigError

        raise ConfigError(f"--recipe {name!r} is not known; choose one of {', '.join(RECIPES)} "
                          "(dcgan train --recipe list says what each is)")
    return dict(RECIPES[name]), dict(CONDITIONAL[name])


def _flags(settings: dict[str, Any], over: dict[str, Any]) -> str:
    """The settings that differ from `over`, as the flags that set them."""
    def flag(k, v):
        name = f"--{k.replace('_', '-')}"
        return (name if v else f"--no-{name[2:]}") if isinstance(v, bool) else f"{name} {v:g}" if isinstance(
            v, float) else f"{name} {v}"

    return " ".join(flag(k, v) for k, v in settings.items() if over.get(k) != v)


def describe_recipes() -> str:
    """Every recipe in a few lines: its source, and its settings where they differ from the paper's."""
    lines = []
    for name, settings in RECIPES.items():
        lines.append(f"{name}{' (the default)' if name == DEFAULT_RECIPE else ''}: {SOURCES[name]}")
        if settings != _PAPER:
            lines.append(f"    {_flags(settings, _PAPER)}")
        extra = _flags(CONDITIONAL[name], {**settings, "mismatch_weight": 0.0, "mode_seeking": 0.0})
        if extra:
            lines.append(f"    with --condition class or attrs also: {extra}")
        if name in ON_GPU:
            lines.append(f"    on a CUDA GPU: {_flags(ON_GPU[name], settings)}")
    lines.append("A loss's paper settings (--loss wgan, wgan-gp) fill in what you leave out; flags you give always win.")
    lines.append("Old names (fast-g-ema-r1-b64, fast-g, ...) still train, with a note.")
    return "\n".join(lines)
