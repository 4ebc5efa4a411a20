"""Every preset in one place: the named recipes, what each adds on a GPU and for conditional runs, the losses' papers.

The default recipe is the settings' own defaults (config.py's declarations); every other row lists only what
it changes, so each value is written once. `fill` says how the layers stack."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .compat import RENAMED, RETIRED_AS
from .errors import ConfigError


DEFAULT_RECIPE = "r1-ema-b32"
# Radford et al. 2015: what the classic DCGAN changes from the default
CLASSIC = {"grad_clip": 0.0, "lr": 2e-4, "lr_g": 0.0, "ema_decay": 0.0, "ema_rampup": 1 / 9, "label_smoothing": 0.0,
           "r1_weight": 0.0, "r1_every": 1, "batch_size": 128, "lr_decay": 0.0}
# What r1-ema and the default add when G and D are conditional (--condition class or attrs). Reed et al.
# 2016's matching-aware D and Mao et al. 2019's mode-seeking term mend each other's cost; R1's gradient is
# clipped with the loss's ("joint") because a projection D's first lazy R1 penalties swamp Adam.
_MATCHING = {"mismatch_weight": 0.5, "mode_seeking": 1.0, "penalty_clip": "joint"}


@dataclass(frozen=True)
class Recipe:
    """A row of the table: where the recipe comes from; what it changes from the defaults; what it adds when G
    and D are conditional; what it changes on a CUDA GPU (--device cuda, or auto where one is found), where an
    iteration costs its kernel launches, flat in the batch up to a few hundred 32 px images
    (docs/performance.md). Settings you give always win; a resumed run keeps its checkpoint's."""

    source: str
    changes: dict[str, Any] = field(default_factory=dict)
    conditional: dict[str, Any] = field(default_factory=dict)
    on_gpu: dict[str, Any] = field(default_factory=dict)


RECIPES: dict[str, Recipe] = {
    DEFAULT_RECIPE: Recipe(
        "r1-ema at batch 32, both rates falling to 0 over the last quarter of the run, a shorter EMA warm-up "
        "(docs/recipes.md)",
        conditional={**_MATCHING, "mode_seeking": 0.5},  # at batch 32 a weight of 1 blurred the classes
        on_gpu={"batch_size": 128}),
    "r1-ema": Recipe(
        "the paper's DCGAN with G at 3x D's rate, an EMA of G, lazy R1, clipped gradients, label smoothing, "
        "batch 64 (docs/recipes.md)",
        {"batch_size": 64, "lr_decay": 0.0, "ema_rampup": 1 / 9}, conditional=_MATCHING),
    "classic": Recipe("Radford et al. 2015 exactly: Adam 2e-4, betas (0.5, 0.999), batch 128, BCE, nothing else",
                      CLASSIC),
    # the published objectives; each loss's preset (LOSS_PRESETS) adds its paper's optimiser settings
    "wgan": Recipe("Arjovsky et al. 2017: critic with weights clipped to 0.01, RMSprop 5e-5, 5 critic steps per "
                   "G step", {**CLASSIC, "loss": "wgan"}),
    "wgan-gp": Recipe("Gulrajani et al. 2017: gradient penalty 10, LayerNorm critic, Adam 2e-4 betas (0.5, 0.9), "
                      "5 critic steps", {**CLASSIC, "loss": "wgan-gp"}),
    "sngan": Recipe("Miyato et al. 2018: hinge loss, spectral norm on every D convolution, no BatchNorm in D",
                    {**CLASSIC, "loss": "hinge", "spectral_norm": True, "d_norm": "none"}),
    "lsgan": Recipe("Mao et al. 2017: least-squares loss, targets 1 and 0", {**CLASSIC, "loss": "lsgan"}),
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
    on_gpu = RECIPES[name].on_gpu if name in RECIPES else {}
    if not on_gpu or not (device.startswith("cuda") or device == "auto"):
        return {}
    import torch

    return dict(on_gpu) if device.startswith("cuda") or torch.cuda.is_available() else {}


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
    return name, dict(RECIPES[name].changes), dict(RECIPES[name].conditional)


def ladder(defaults: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The steps from the classic recipe to the default one, in order, each as the settings it changes from
    classic: STEPS, then the r1-ema recipe and the default (`defaults`: every setting's default, by name)."""
    classic = {**defaults, **CLASSIC}
    steps = {name: dict(changes) for name, changes in STEPS.items()}
    for recipe in ("r1-ema", DEFAULT_RECIPE):
        steps[recipe] = {k: v for k, v in {**defaults, **RECIPES[recipe].changes}.items() if classic[k] != v}
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
    for name, recipe in RECIPES.items():
        changes = recipe.changes
        lines.append(f"{name}{' (the default)' if name == DEFAULT_RECIPE else ''}: {recipe.source}")
        if name == DEFAULT_RECIPE:  # its values where it departs from the paper's
            lines.append(f"    {_flags({k: v for k, v in defaults.items() if k in CLASSIC}, {})}")
        elif changes:
            lines.append(f"    {_flags(changes, defaults)}")
        settings = {**defaults, **changes}
        extra = _flags(recipe.conditional, settings)
        if extra:
            lines.append(f"    with --condition class or attrs also: {extra}")
        if recipe.on_gpu:
            lines.append(f"    on a CUDA GPU: {_flags(recipe.on_gpu, settings)}")
    lines.append("A loss's paper settings (--loss wgan, wgan-gp) fill in what you leave out; flags you give always win.")
    lines.append("Old names (fast-g-ema-r1-b64, fast-g, ...) still train, with a note.")
    return "\n".join(lines)
