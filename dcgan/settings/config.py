"""Configuration dataclasses (model, data, training, objective): each setting declared once, checked from it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..log import report
from ..sizes import UPSAMPLES, nearest_sizes, size_plan
from . import recipes
from .compat import WRITTEN_BEFORE, upgrade_sections
from .errors import ConfigError
from .recipes import DEFAULT_RECIPE, resolve_recipe


DATASETS = ("fashion-mnist", "mnist", "cifar10", "celeba", "folder")
DEVICES = ("auto", "cpu", "cuda", "mps")
LOSSES = ("bce", "minimax", "wgan", "wgan-gp", "hinge", "lsgan", "ragan", "rpgan")
D_NORMS = ("auto", "batch", "layer", "instance", "none")
AUGMENTS = ("color", "translation", "cutout")
TARGET_LOSSES = ("bce", "minimax", "lsgan", "ragan")  # losses with real/fake targets to smooth or flip
LIPSCHITZ_LOSSES = ("wgan", "wgan-gp")  # losses with a Lipschitz constraint of their own: no R1/R2 beside it
RELATIVISTIC_LOSSES = ("ragan", "rpgan")  # they judge reals against fakes, never a real on its own

# A setting's role: what another value of it means for a run.
ROLES = {
    "run": "defines the run: a checkpoint resumes only under the same value; another value is another run",
    "train": "how it trains: another value is another run; --resume may change it",
    "write": "what the run writes and when: a rerun with another value continues the same run",
    "watch": "where it runs and how it is watched: never a difference between runs",
}


def setting(default: Any, help: str, *, role: str = "train", choices: tuple | None = None,
            at_least: float | None = None, above: float | None = None, below: float | None = None,
            at_most: float | None = None, hint: str = "") -> Any:
    """A config field with everything said about it in one place: its default, the CLI's help text, its
    role (ROLES), the values it takes (`choices`) or its range, and a `hint` added to the message a bad
    value gets. The checks, the CLI's flags and groups, the rerun rule and the section map read it."""
    assert role in ROLES, role
    return field(default=default, metadata={"help": help, "role": role, "choices": choices, "at_least": at_least,
                                            "above": above, "below": below, "at_most": at_most, "hint": hint})


def flag(name: str) -> str:
    """A setting's command-line flag: lr_g -> --lr-g."""
    return "--" + name.replace("_", "-")


def _range_words(m: dict, whole: bool) -> str:
    """What a declared range asks, as the words after "--x must": "be >= 0", "lie in [0, 1)", ..."""
    lo, lo_open, hi, hi_open = ((m["above"], True) if m["above"] is not None else (m["at_least"], False)) + \
        ((m["below"], True) if m["below"] is not None else (m["at_most"], False))
    number = "a whole number " if whole else ""
    if whole and lo == 1 and not lo_open and hi is None:
        return "be a positive integer"
    if lo is not None and hi is not None:
        interval = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
        return f"be {number}in {interval}" if whole else f"lie in {interval}"
    if lo is not None:
        return f"be {number}" + ("positive" if lo == 0 and lo_open else f"{'>' if lo_open else '>='} {lo:g}")
    return f"be {number}{'<' if hi_open else '<='} {hi:g}" if hi is not None else f"be {number or 'a number'}".strip()


def _check_declared(section) -> None:
    """Each setting of a section against its declaration: its type, its choices, its range."""
    for f in dataclasses.fields(section):
        value, m, name = getattr(section, f.name), f.metadata, flag(f.name)
        hint = f" {m['hint']}" if m["hint"] else ""
        if isinstance(f.default, bool):
            _check(isinstance(value, bool), f"{name} must be true or false, got {value!r}")
        elif m["choices"]:
            _check(value in m["choices"], f"{name} {value!r} is not known; choose one of "
                                          f"{', '.join(map(str, m['choices']))}{hint}")
        elif isinstance(f.default, str):
            _check(isinstance(value, str), f"{name} must be text, got {value!r}")
        elif isinstance(f.default, (int, float)):
            whole = isinstance(f.default, int)
            kind_ok = isinstance(value, int if whole else (int, float)) and not isinstance(value, bool)
            limits = [(m["at_least"], lambda v, b: v >= b), (m["above"], lambda v, b: v > b),
                      (m["below"], lambda v, b: v < b), (m["at_most"], lambda v, b: v <= b)]
            in_range = kind_ok and all(b is None or ok(value, b) for b, ok in limits)
            _check(in_range, f"{name} must {_range_words(m, whole)}{hint}, got {value!r}")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


@dataclass
class ModelConfig:
    """Sizes of G and D, in the paper's names."""

    nz: int = setting(100, "length of the latent vector z", role="run", at_least=1)
    ngf: int = setting(64, "generator width (channels of its last hidden layer)", role="run", at_least=1)
    ndf: int = setting(64, "discriminator width (channels of its first layer)", role="run", at_least=1)
    # BatchNorm mixes samples, which breaks wgan-gp's per-sample penalty
    d_norm: str = setting("auto", "D's normalisation; auto is batch, or layer for wgan-gp", role="run",
                          choices=D_NORMS)
    spectral_norm: bool = setting(False, "spectral normalisation on D's convolutions", role="run")
    minibatch_std: bool = setting(False, "minibatch standard-deviation channel in D (against mode collapse)",
                                  role="run")
    condition: str = setting("none", "none, class (the dataset's labels) or attrs (multi-hot tags)", role="run",
                             choices=("none", "class", "attrs"))
    d_condition: str = setting("projection", "how D reads the condition: projection (Miyato & Koyama) or concat "
                                             "(an input channel)", role="run", choices=("projection", "concat"))
    embed_dim: int = setting(64, "length of G's condition embedding", role="run", at_least=1)
    model_version: int = setting(2, "layout of G and D: 2 starts sizes whose start map is 5 or 7 px (28, 40, 56, "
                                    "112...) at 4 x 4 and reaches it by a stride-1 layer; 1 starts them at that "
                                    "map (checkpoints written before this setting)", role="run", choices=(1, 2))
    g_upsample: str = setting("transposed", "how G doubles its maps: transposed (the paper's 4x4 stride-2 "
                                            "transposed convolutions) or nearest (nearest upsampling, then a 3x3 "
                                            "convolution: no checkerboard texture, 2.25x the arithmetic of G's "
                                            "doubling layers)", role="run", choices=UPSAMPLES)

    def __post_init__(self):
        _check_declared(self)


@dataclass
class DataConfig:
    """Which images to train on and how they are shaped for the model."""

    dataset: str = setting("fashion-mnist", "the images to train on", role="run", choices=DATASETS)
    data_root: str = setting("data", "where datasets and their preprocessed caches live", role="watch")
    image_size: int = setting(32, "side of the square images: s0 x 2^k with s0 in 3..7, up to 256 (28, 32, 48, "
                                  "64, 96, 128, 256 ...)", role="run")
    channels: int = setting(0, "image channels for the model: 0 keeps the dataset's own, 1 grey, 3 colour, 4 RGBA "
                                   "(transparency kept)", role="run", choices=(0, 1, 3, 4))
    split: str = setting("train", "which part of the dataset", role="run", choices=("train", "test", "all"))
    folder: str = setting("", "the image folder for --dataset folder (flat, or one subfolder per class)")
    download: bool = setting(True, "try torchvision's download when no local copy is found", role="watch")
    strict: bool = setting(False, "a file that cannot be decoded stops the run, instead of being skipped")
    attrs_file: str = setting("", "tags for --condition attrs: CSV with a filename column and 0/1 tag columns "
                                  "(CelebA: list_attr_celeba.txt is found by itself)")

    def __post_init__(self):
        _check(isinstance(self.image_size, int) and not isinstance(self.image_size, bool),
               f"--image-size must be a whole number of pixels, e.g. 32, got {self.image_size!r}")
        _check_declared(self)
        try:  # the models own which sizes they can build
            size_plan(self.image_size)
        except ValueError:
            raise ConfigError(f"--image-size {self.image_size} cannot be built: sizes are s0 x 2^k with s0 in 3..7 "
                              f"and k >= 2, up to 256 (28, 32, 48, 64, 96, 128, 160, 256 ...); nearest: "
                              f"{', '.join(map(str, nearest_sizes(self.image_size)))}") from None
        _check(self.data_root != "", "--data-root must be a folder path")
        _check(self.dataset != "folder" or self.folder != "",
               "--dataset folder needs --folder PATH, a directory of images")


@dataclass
class TrainConfig:
    """How long and how to optimise, and where the run lives."""

    batch_size: int = setting(32, "images per batch", role="run", at_least=1)
    epochs: int = setting(3, "passes over the data (ignored when --max-steps is set)", at_least=0)
    max_steps: int = setting(0, "stop after this many iterations (0: use --epochs)", at_least=0)
    # the optimiser: its rates, betas and kind
    lr: float = setting(4e-4, "learning rate of D, and of G when --lr-g is 0; given alone, it moves G's rate too, "
                              "keeping the recipe's ratio of G's to D's", above=0)
    lr_g: float = setting(1.2e-3, "G's learning rate (TTUR); 0 uses --lr", at_least=0, hint="(0: the same as --lr)")
    lr_d: float = setting(0.0, "D's learning rate (TTUR); 0 uses --lr", at_least=0, hint="(0: the same as --lr)")
    beta1: float = setting(0.5, "Adam beta1", at_least=0, below=1)
    beta2: float = setting(0.999, "Adam beta2", at_least=0, below=1)
    optimizer: str = setting("adam", "the optimiser of G and D", choices=("adam", "rmsprop"))
    lr_decay: float = setting(0.25, "share of the run, at its end, over which both learning rates fall linearly to 0 "
                                    "(a run resumed with more epochs moves it to its new end); 0: off",
                              at_least=0, at_most=1, hint="(0.5: the rates fall to 0 over the last half)")
    seed: int = setting(999, "random seed (weights, noise, data order)", role="run")
    device: str = setting("auto", f"{', '.join(DEVICES)} or cuda:N; auto picks cuda, then mps, then cpu",
                          role="watch")
    deterministic: bool = setting(False, "torch.use_deterministic_algorithms(True): slower, bit-reproducible")
    # NHWC: the layout oneDNN and cuDNN convolutions run fastest in (docs/performance.md)
    channels_last: bool = setting(True, "NHWC memory format for the convolutions")
    snapshot_every: int = setting(500, "write a sample grid of the fixed noise every N iterations", role="write",
                                  at_least=1)
    checkpoint_every: int = setting(1000, "write a checkpoint every N iterations", role="write", at_least=1)
    keep_last: int = setting(3, "numbered checkpoints to keep besides last.pt (0 keeps all)", role="write",
                             at_least=0, hint="(0 keeps every checkpoint)")
    # how often device-side stats are read back (one host sync)
    log_every: int = setting(25, "read losses back from the device every N iterations", role="watch", at_least=1)
    out: str = setting("", "run folder (default outputs/<date-time>-<dataset>)", role="watch")
    eval_every: int = setting(0, "evaluate FID every N iterations (0: off); the best checkpoint is kept as best.pt",
                              role="write", at_least=0, hint="(0 turns evaluation off)")
    eval_n: int = setting(2000, "images per evaluation during training", role="write", at_least=10)
    eval_features: str = setting("classifier", "classifier (domain CNN, offline) or inception (standard FID)",
                                 role="write", choices=("classifier", "inception"))
    # classifier file; empty: DATA_ROOT/classifiers/<dataset>-<size>px-<ch>ch.pt
    classifier: str = setting("", "classifier file for --eval-features classifier", role="watch")
    progress: bool = setting(True, "show progress bars", role="watch")
    tensorboard: bool = setting(False, "also log scalars, sample grids, evaluations and hparams to RUN/tensorboard/ "
                                       "(needs: pip install tensorboard)", role="write")
    # accelerators: each a toggle that costs nothing when off (docs/performance.md says when each helps)
    precision: str = setting("auto", "fp32, bf16 autocast (losses stay in fp32), or auto: on a CPU with bf16 "
                                     "instructions, whichever is faster when timed there (once per machine and "
                                     "model)", choices=("auto", "fp32", "bf16"))
    # torch.compile G and D (checkpoints store the plain modules)
    compile: bool = setting(False, "torch.compile G and D (first iterations are slow while it compiles)")
    cuda_graphs: bool = setting(False, "with --compile: mode reduce-overhead, i.e. CUDA graphs")
    fused_adam: bool = setting(False, "Adam's fused kernel")
    cudnn_benchmark: bool = setting(False, "let cuDNN pick the fastest convolution algorithms (GPU)")
    data_on_device: bool = setting(True, "GPU: keep the uint8 dataset in GPU memory when it fits (else batches are "
                                         "staged through pinned memory)")
    ddp_timeout: int = setting(60, "torchrun: minutes the other processes wait for rank 0 while it alone decodes "
                                   "the dataset, trains the evaluation classifier or writes files", role="watch",
                               at_least=1)
    ddp_backend: str = setting("auto", "torchrun: auto (NCCL on GPUs, gloo on CPUs), nccl, or gloo, which also runs "
                                       "on GPUs and lets several processes share one (slower: to try the "
                                       "multi-process paths on a one-GPU box)", role="watch",
                               choices=("auto", "nccl", "gloo"))
    on_divergence: str = setting("stop", "when a loss or weight turns NaN/Inf, or D wins outright: stop, or roll "
                                         "back to the last checkpoint with half the learning rates (up to 3 times)",
                                 choices=("stop", "rollback"))
    divergence_patience: int = setting(1000, "iterations in a row of D(G(z)) < 0.01 that count as D winning (bce, "
                                             "minimax); 0: off", at_least=0, hint="(0 turns the D-wins check off)")

    def __post_init__(self):
        _check_declared(self)
        _check(self.device in DEVICES or self.device.startswith("cuda:"),
               f"--device must be one of {', '.join(DEVICES)} or cuda:N, got {self.device!r}")
        _check(not self.cuda_graphs or self.compile, "--cuda-graphs works through torch.compile: add --compile")
        _check(self.epochs > 0 or self.max_steps > 0,
               "nothing to train: set --epochs or --max-steps to a positive number")

    @property
    def rates(self) -> tuple[float, float]:
        """(G's, D's) learning rates, --lr standing in for a 0."""
        return self.lr_g or self.lr, self.lr_d or self.lr


@dataclass
class ObjectiveConfig:
    """The GAN objective and its stabilisers; the defaults are the default recipe's (`--recipe list`)."""

    loss: str = setting("bce", "the objective; wgan and wgan-gp also set their paper's --d-steps, optimiser and "
                               "betas unless given", role="run", choices=LOSSES)
    d_steps: int = setting(1, "D (critic) updates per G update, each on a fresh batch (alias --n-critic)", at_least=1)
    gp_weight: float = setting(10.0, "wgan-gp: weight of the gradient penalty", at_least=0)
    clip_value: float = setting(0.01, "wgan: clip D's weights to [-c, c]", at_least=0)
    r1_weight: float = setting(0.1, "R1 penalty weight (gamma) on D's gradient at real images; 0: off", at_least=0)
    r2_weight: float = setting(0.0, "R2 penalty weight: R1's twin at G's samples, on the same lazy steps; 0: off",
                               at_least=0)
    bcr_weight: float = setting(0.0, "balanced consistency regularisation (Zhao et al. 2020): D's loss gains w x "
                                     "(D(x) - D(T(x)))^2 on real and on fake images, T a random flip and a shift "
                                     "of up to 1/8 of the side; two more D passes per step; 0: off", at_least=0)
    bcr_every: int = setting(1, "balanced consistency regularisation on every N-th D step only, at N times its "
                                "weight, so it costs 1/N of its time", at_least=1, hint="(1: every step)")
    r1_every: int = setting(16, "lazy R1 (as in StyleGAN2): the penalty on every N-th D step only, with its weight "
                                "times N, so it costs 1/N of its time; 1: every step", at_least=1,
                            hint="(1: every step, 16: StyleGAN2's lazy R1)")
    label_smoothing: float = setting(0.1, "one-sided label smoothing: real target 1 - s (0.1 gives 0.9); 0: off",
                                     at_least=0, below=0.5, hint="(0.1 makes the real target 0.9)")
    label_flip: float = setting(0.0, "share of D's labels swapped at random", at_least=0, below=0.5,
                                hint="(a share of labels)")
    instance_noise: float = setting(0.0, "std of Gaussian noise on D's inputs, annealed linearly to 0", at_least=0)
    ema_decay: float = setting(0.999, "EMA of G's weights for samples and evaluation (decay warmed up towards "
                                      "this by --ema-rampup); 0: off", at_least=0, below=1)
    ema_rampup: float = setting(0.05, "EMA warm-up: at G step t the average spans at most this share of the "
                                       "steps so far (decay h / (1 + h), h = rampup * (t + 1); 1/9 gives "
                                       "(1 + t) / (10 + t)); 0: the plain --ema-decay from the start",
                                at_least=0, at_most=1, hint="(0.1: the average spans the last tenth of the run)")
    diffaug: str = setting("", f"DiffAugment policy, comma-separated subset of {','.join(AUGMENTS)}")
    grad_clip: float = setting(10.0, "clip the norms of G's and D's loss gradients to this (a penalty's: see "
                                     "--penalty-clip); 0: off", at_least=0)
    penalty_clip: str = setting("own", "how a penalty's gradient (R1, WGAN-GP) meets --grad-clip: own (clipped on "
                                       "its own, to --r1-every x the clip, then added to the loss's clipped "
                                       "gradient) or joint (clipped together with the loss's: R1 stops holding "
                                       "a sharpening D after a few epochs)", choices=("own", "joint"))
    feature_matching: bool = setting(False, "G matches D's mean features on real data instead of fooling D")
    mode_seeking: float = setting(0.0, "mode-seeking term (Mao et al. 2019, MSGAN): G's loss gains w / (mean |G(z1) "
                                       "- G(z2)| / mean |z1 - z2|) over pairs of its fakes, the batch's two halves "
                                       "(in a conditional run each pair shares a condition); against collapse within "
                                       "a class; 0: off", at_least=0)
    mismatch_weight: float = setting(0.0, "matching-aware D: weight of real images with wrong conditions, labelled "
                                          "fake; 0: off", at_least=0)

    def __post_init__(self):
        _check_declared(self)
        _check(self.ema_decay == 0 or self.ema_decay >= 0.5,
               f"--ema-decay must be 0 (off) or in [0.5, 1), e.g. 0.999; got {self.ema_decay!r}")
        unknown = [a for a in self.augmentations if a not in AUGMENTS]
        _check(not unknown, f"--diffaug {self.diffaug!r}: unknown {unknown}; use a comma-separated "
                            f"subset of {', '.join(AUGMENTS)}")
        if self.label_smoothing or self.label_flip:
            _check(self.loss in TARGET_LOSSES,
                   f"--label-smoothing and --label-flip change D's targets, which only "
                   f"{', '.join(TARGET_LOSSES)} have; --loss {self.loss} has none (set --label-smoothing 0 "
                   "--label-flip 0)")
        for name in ("r1_weight", "r2_weight"):
            _check(not (getattr(self, name) and self.loss in LIPSCHITZ_LOSSES),
                   f"{flag(name)} is for {', '.join(x for x in LOSSES if x not in LIPSCHITZ_LOSSES)}; --loss "
                   f"{self.loss} has its own Lipschitz constraint (set {flag(name)} 0)")
        _check(not (self.mismatch_weight and self.loss in RELATIVISTIC_LOSSES),
               "--mismatch-weight scores real images with wrong conditions on their own, which a relativistic "
               "loss cannot (it judges each real against the mean fake); use --loss bce or --mismatch-weight 0")

    @property
    def augmentations(self) -> list[str]:
        return [a.strip() for a in self.diffaug.split(",") if a.strip()]


@dataclass
class Config:
    """Everything a run needs; round-trips through JSON, the CLI and checkpoints."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)

    def __post_init__(self):
        _check(not (self.objective.mismatch_weight and self.model.condition == "none"),
               "--mismatch-weight needs a conditional model: set --condition class or attrs")
        _check(self.model.condition != "attrs" or self.data.dataset == "celeba" or self.data.attrs_file,
               "--condition attrs needs tags: --dataset celeba (list_attr_celeba.txt) or "
               "--attrs-file CSV (a filename column and one 0/1 column per tag)")
        _check(self.model.condition != "class" or self.data.dataset != "celeba",
               "CelebA has no class labels: use --condition attrs")
        _check(not (self.objective.loss == "wgan-gp" and self.model.d_norm == "batch"),
               "--loss wgan-gp penalises each sample's gradient, which BatchNorm mixes across the "
               "batch: use --d-norm layer (the paper's), instance, none or auto")

    @property
    def d_norm(self) -> str:
        """D's normalisation with `auto` resolved."""
        if self.model.d_norm != "auto":
            return self.model.d_norm
        return "layer" if self.objective.loss == "wgan-gp" else "batch"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Config":
        d = upgrade_sections({k: v for k, v in d.items() if k != "provenance"})  # provenance: versions, not settings
        unknown = set(d) - set(SECTIONS)
        _check(not unknown, f"unknown config sections {sorted(unknown)}; "
                            f"valid ones are {', '.join(SECTIONS)}")
        # a setting the writer's version lacked takes the value that version had in effect
        d = {name: {**WRITTEN_BEFORE.get(name, {}), **d.get(name, {})} for name in SECTIONS}
        return cls(**{name: _build(c, d[name]) for name, c in SECTIONS.items()})

    @classmethod
    def from_flat(cls, *, recipe: str = DEFAULT_RECIPE, **kwargs: Any) -> "Config":
        """Build from flat keyword settings, as the notebooks' parameters cells hold them.

        `recipe` (recipes.py: its changes, its GPU and conditional settings, the loss's preset) fills in what
        `kwargs` leaves out.
        """
        for key in kwargs:
            _check(key in SECTION_OF, f"unknown setting {key!r}; valid settings are {', '.join(sorted(SECTION_OF))}")
        name, changes, conditional = resolve_recipe(recipe, report)
        kwargs = {**recipes.fill(name, changes, conditional, flat_defaults(), kwargs), **kwargs}
        sections: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
        for key, value in kwargs.items():
            sections[SECTION_OF[key]][key] = value
        return cls.from_dict(sections)  # every setting given: none falls back to an old writer's (compat.py)


SECTIONS = {"model": ModelConfig, "data": DataConfig, "train": TrainConfig, "objective": ObjectiveConfig}
SECTION_OF = {f.name: section for section, c in SECTIONS.items() for f in dataclasses.fields(c)}  # names are unique


def flat_fields() -> dict[str, dataclasses.Field]:
    """Every setting's declaration by name, across the sections."""
    return {f.name: f for c in SECTIONS.values() for f in dataclasses.fields(c)}


def with_role(*roles: str) -> frozenset[str]:
    """The settings whose role is one of `roles` (ROLES)."""
    return frozenset(name for name, f in flat_fields().items() if f.metadata["role"] in roles)


def flat_settings(sections: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """{"train": {"lr": ...}, ...} (config.json, a checkpoint's config) -> {"lr": ...}: setting names are unique
    across sections; config.json's provenance record is not a setting."""
    return {k: v for name, section in sections.items() if name != "provenance" for k, v in section.items()}


def flat_defaults() -> dict[str, Any]:
    """Every setting's default by name: the default recipe."""
    return {name: f.default for name, f in flat_fields().items()}


def describe_recipes() -> str:
    """`dcgan train --recipe list`: every recipe and the flags that make it from the defaults."""
    return recipes.describe_recipes(flat_defaults())


def recipe_ladder() -> dict[str, dict[str, Any]]:
    """The steps from the classic recipe to the default one, in order: each step's name and the settings it
    changes from classic (Config.from_flat(recipe="classic", **settings) trains it)."""
    return recipes.ladder(flat_defaults())


def run_defining() -> dict[str, tuple[str, ...]]:
    """Per section, the settings that define what a run is: --resume must match them."""
    return {name: tuple(f.name for f in dataclasses.fields(c) if f.metadata["role"] == "run")
            for name, c in SECTIONS.items()}


def _build(cls, values: dict[str, Any]):
    valid = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - valid
    _check(not unknown, f"unknown {cls.__name__} settings {sorted(unknown)}; "
                        f"valid ones are {', '.join(sorted(valid))}")
    return cls(**values)
