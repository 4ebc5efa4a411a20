"""Training recipes: named presets of settings, each with its one-line source (`--recipe list`).

The default recipe is the settings' own defaults (config.py's dataclass fields); every other recipe
lists only what it changes from them, so each value is written once."""

from __future__ import annotations

from typing import Any, Callable

from .compat import RENAMED, RETIRED, RETIRED_AS
from .errors import ConfigError

DEFAULT_RECIPE = "r1-ema-b32"
# Radford et al. 2015: what the classic DCGAN changes from the default
CLASSIC = {"grad_clip": 0.0, "lr": 2e-4, "lr_g": 0.0, "ema_decay": 0.0, "ema_rampup": 1 / 9, "label_smoothing": 0.0,
           "r1_weight": 0.0, "r1_every": 1, "batch_size": 128, "lr_decay": 0.0}
RECIPES: dict[str, dict[str, Any]] = {
    DEFAULT_RECIPE: {},
    "r1-ema": {"batch_size": 64, "lr_decay": 0.0, "ema_rampup": 1 / 9},
    "classic": CLASSIC,
    # the published objectives; each loss's preset (config.LOSS_PRESETS) adds its paper's optimiser settings
    "wgan": {**CLASSIC, "loss": "wgan"},
    "wgan-gp": {**CLASSIC, "loss": "wgan-gp"},
    "sngan": {**CLASSIC, "loss": "hinge", "spectral_norm": True, "d_norm": "none"},
    "lsgan": {**CLASSIC, "loss": "lsgan"},
}
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
# What a recipe adds when G and D are conditional (--condition class or attrs). Reed et al. 2016's
# matching-aware D and Mao et al. 2019's mode-seeking term mend each other's cost; R1's gradient is clipped
# with the loss's ("joint") because a projection D's first lazy R1 penalties are large enough to swamp Adam.
CONDITIONAL: dict[str, dict[str, Any]] = {
    "r1-ema": {"mismatch_weight": 0.5, "mode_seeking": 1.0, "penalty_clip": "joint"},
    # half the mode-seeking weight: at batch 32 a weight of 1 blurred the classes (docs/recipes.md)
    DEFAULT_RECIPE: {"mismatch_weight": 0.5, "mode_seeking": 0.5, "penalty_clip": "joint"},
}
# What a recipe changes on a CUDA GPU (--device cuda, or auto where one is found), where an iteration
# costs its kernel launches, flat in the batch up to a few hundred 32 px images (docs/performance.md).
# Settings you give still win; a resumed run keeps its checkpoint's.
ON_GPU: dict[str, dict[str, Any]] = {DEFAULT_RECIPE: {"batch_size": 128}}


def gpu_settings(name: str, device: str) -> dict[str, Any]:
    """The recipe's GPU settings when `device` means a CUDA GPU here, else {}. Every rank of a torchrun
    launch asks with the same device and sees its GPUs, so all choose the same."""
    if name not in ON_GPU or not (device.startswith("cuda") or device == "auto"):
        return {}
    import torch

    return dict(ON_GPU[name]) if device.startswith("cuda") or torch.cuda.is_available() else {}


def resolve_recipe(name: str, say: Callable[[str], None]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(today's name, what it changes from the defaults, what it adds in conditional runs) of a recipe by
    name; an old name works, with a one-line note."""
    if name in RENAMED:
        say(f"recipe {name!r} is now called {RENAMED[name]!r}; training with it")
        name = RENAMED[name]
    if name in RETIRED:
        say(f"recipe {name!r} is no longer a preset (it is benchmarks/objectives.py's variant {RETIRED_AS[name]!r}); "
            f"training with its settings; the default is {DEFAULT_RECIPE!r} (dcgan train --recipe list)")
        return name, {**CLASSIC, **RETIRED[name]}, {}
    if name not in RECIPES:
        raise ConfigError(f"--recipe {name!r} is not known; choose one of {', '.join(RECIPES)} "
                          "(dcgan train --recipe list says what each is)")
    return name, dict(RECIPES[name]), dict(CONDITIONAL.get(name, {}))


def _flags(settings: dict[str, Any], over: dict[str, Any]) -> str:
    """The settings that differ from `over`, as the flags that set them."""
    def flag(k, v):
        name = f"--{k.replace('_', '-')}"
        return (name if v else f"--no-{name[2:]}") if isinstance(v, bool) else f"{name} {v:g}" if isinstance(
            v, float) else f"{name} {v}"

    return " ".join(flag(k, v) for k, v in settings.items() if over.get(k) != v)


def describe_recipes(defaults: dict[str, Any]) -> str:
    """Every recipe in a few lines: its source, and the flags that make it from the default (`defaults`:
    every setting's default, by name)."""
    lines = []
    for name, changes in RECIPES.items():
        lines.append(f"{name}{' (the default)' if name == DEFAULT_RECIPE else ''}: {SOURCES[name]}")
        if name == DEFAULT_RECIPE:  # its values where it departs from the paper's
            lines.append(f"    {_flags({k: v for k, v in defaults.items() if k in CLASSIC}, {})}")
        elif changes:
            lines.append(f"    {_flags(changes, defaults)}")
        settings = {**defaults, **changes}
        extra = _flags(CONDITIONAL.get(name, {}), settings)
        if extra:
            lines.append(f"    with --condition class or attrs also: {extra}")
        if name in ON_GPU:
            lines.append(f"    on a CUDA GPU: {_flags(ON_GPU[name], settings)}")
    lines.append("A loss's paper settings (--loss wgan, wgan-gp) fill in what you leave out; flags you give always win.")
    lines.append("Old names (fast-g-ema-r1-b64, fast-g, ...) still train, with a note.")
    return "\n".join(lines)
