"""Every preset in one place: the named recipes, what each adds on a GPU and for conditional runs, the losses' papers.

The default recipe is the settings' own defaults (config.py's declarations); every other row lists only what
it changes, so each value is written once. `fill` says how the layers stack."""

from __future__ import annotations

from typing import Any, Callable

from .compat import RENAMED, RETIRED_AS
from .errors import ConfigError

DEFAULT_RECIPE = "r1-ema-b32"
# Radford et al. 2015: what the classic DCGAN changes from the default
CLASSIC = {"grad_clip": 0.0, "lr": 2e-4, "lr_g": 0.0, "ema_decay": 0.0, "ema_rampup": 1 / 9, "label_smoothing": 0.0,
           "r1_weight": 0.0, "r1_every": 1, "batch_size": 128, "lr_decay": 0.0}
RECIPES: dict[str, dict[str, Any]] = {
    DEFAULT_RECIPE: {},
    "r1-ema": {"batch_size": 64, "lr_decay": 0.0, "ema_rampup": 1 / 9},
    "classic": CLASSIC,
    # the published objectives; each loss's preset (LOSS_PRESETS) adds its paper's optimiser settings
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
# The steps from the classic recipe to the default one, in order, each as what it changes from classic
# (docs/recipes.md has their FIDs; the names are benchmarks/objectives.py's variants). The ladder ends
# with the r1-ema recipe and the default one (ladder()).
STEPS: dict[str, dict[str, Any]] = {
    "grad-clip": {"grad_clip": 10.0},
    "clip-lr4": {"grad_clip": 10.0, "lr": 4e-4},
    "clip-g8-d4": {"grad_clip": 10.0, "lr": 4e-4, "lr_g": 8e-4},
    "clip-g12-d4-ema-smooth": {"grad_clip": 10.0, "lr": 4e-4, "lr_g": 1.2e-3, "ema_decay": 0.999, "label_smoothing": 0.1},
    "fge-r1-lazy": {"grad_clip": 10.0, "lr": 4e-4, "lr_g": 1.2e-3, "ema_decay": 0.999, "label_smoothing": 0.1,
                    "r1_weight": 0.1, "r1_every": 16, "penalty_clip": "joint"},
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
# What a loss's paper sets, over the recipe's (whatever the recipe): its optimiser, and its own
# regularisation in place of the recipe's.
LOSS_PRESETS: dict[str, dict[str, Any]] = {
    "wgan": {"d_steps": 5, "optimizer": "rmsprop", "lr": 5e-5, "lr_g": 0.0, "grad_clip": 0.0,  # Arjovsky et al. 2017
             "label_smoothing": 0.0, "r1_weight": 0.0},
    "wgan-gp": {"d_steps": 5, "beta1": 0.5, "beta2": 0.9, "grad_clip": 0.0, "lr": 2e-4, "lr_g": 0.0,  # Gulrajani 2017
                "label_smoothing": 0.0, "r1_weight": 0.0},  # its own penalty instead
    "hinge": {"label_smoothing": 0.0},  # a margin has no target to smooth
    "ragan": {"mismatch_weight": 0.0},  # it judges reals against the mean fake, not one by one
    "rpgan": {"mismatch_weight": 0.0, "label_smoothing": 0.0},  # pairs, without targets to smooth
}


def fill(name: str, changes: dict[str, Any], conditional: dict[str, Any], defaults: dict[str, Any],
         given: dict[str, Any]) -> dict[str, Any]:
    """Every setting's value before the `given` ones win, in layers: the defaults, the recipe's `changes`, its
    GPU settings, its `conditional` additions (when `given` asks for a condition), the loss's paper settings;
    a given --lr alone moves G's rate with it."""
    preset = {**defaults, **changes}
    preset.update(gpu_settings(name, str(given.get("device", "auto"))))
    if given.get("condition", "none") != "none":
        preset.update(conditional)
    preset.update(LOSS_PRESETS.get(given.get("loss", preset.get("loss")), {}))
    if "lr" in given and "lr_g" not in given and preset.get("lr_g"):
        # the recipe's G rate is a multiple of its D rate (r1-ema-b32: 3x): a given --lr moves both
        preset["lr_g"] = given["lr"] * (preset["lr_g"] / preset["lr"])
    return preset


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
    if name in RETIRED_AS:
        say(f"recipe {name!r} is no longer a preset (it is the step {RETIRED_AS[name]!r} toward the default, a "
            f"variant of benchmarks/objectives.py); training with its settings; the default is {DEFAULT_RECIPE!r} "
            "(dcgan train --recipe list)")
        return name, {**CLASSIC, **STEPS[RETIRED_AS[name]]}, {}
    if name not in RECIPES:
        raise ConfigError(f"--recipe {name!r} is not known; choose one of {', '.join(RECIPES)} "
                          "(dcgan train --recipe list says what each is)")
    return name, dict(RECIPES[name]), dict(CONDITIONAL.get(name, {}))


def ladder(defaults: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The steps from the classic recipe to the default one, in order, each as the settings it changes from
    classic: STEPS, then the r1-ema recipe and the default (`defaults`: every setting's default, by name)."""
    classic = {**defaults, **CLASSIC}
    steps = {name: dict(changes) for name, changes in STEPS.items()}
    for recipe in ("r1-ema", DEFAULT_RECIPE):
        steps[recipe] = {k: v for k, v in {**defaults, **RECIPES[recipe]}.items() if classic[k] != v}
    return steps


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
