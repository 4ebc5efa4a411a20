"""Configuration dataclasses (model, data, training), validated on construction."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from . import recipes
from .compat import WRITTEN_BEFORE, upgrade_sections
from .errors import ConfigError
from .log import report
from .models import UPSAMPLES  # the models own how they can upsample
from .recipes import CONDITIONAL, DEFAULT_RECIPE, RECIPES, gpu_settings, resolve_recipe  # noqa: F401

DATASETS = ("fashion-mnist", "mnist", "cifar10", "celeba", "folder")
DEVICES = ("auto", "cpu", "cuda", "mps")
LOSSES = ("bce", "minimax", "wgan", "wgan-gp", "hinge", "lsgan", "ragan", "rpgan")
D_NORMS = ("auto", "batch", "layer", "instance", "none")
AUGMENTS = ("color", "translation", "cutout")
OPTIMIZERS = ("adam", "rmsprop")
PENALTY_CLIPS = ("own", "joint")
CONDITIONS = ("none", "class", "attrs")
D_CONDITIONS = ("projection", "concat")
SPLITS = ("train", "test", "all")
PRECISIONS = ("auto", "fp32", "bf16")
EVAL_FEATURES = ("classifier", "inception")
DIVERGENCE_ACTIONS = ("stop", "rollback")
DDP_BACKENDS = ("auto", "nccl", "gloo")
TARGET_LOSSES = ("bce", "minimax", "lsgan", "ragan")  # losses with real/fake targets to smooth or flip


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _nearest_if_unbuildable(n: int) -> list[int]:
    """[] when the models can build size n (they own which sizes they can), else the nearest that they can."""
    from .models import nearest_sizes, size_plan

    try:
        size_plan(n)
        return []
    except ValueError:
        return nearest_sizes(n)


def setting(default: Any, help: str, *, run: bool = False, choices: tuple[str, ...] | None = None) -> Any:
    """A config field with its one home for everything said about it: the default, the CLI's help
    text, the values it takes when they are a list (`choices`), and whether it defines the run (a
    checkpoint resumes only under the same value)."""
    return field(default=default, metadata={"help": help, "defines_run": run, "choices": choices})


@dataclass
class ModelConfig:
    """Sizes of G and D, in the paper's names."""

    nz: int = setting(100, "length of the latent vector z", run=True)
    ngf: int = setting(64, "generator width (channels of its last hidden layer)", run=True)
    ndf: int = setting(64, "discriminator width (channels of its first layer)", run=True)
    # BatchNorm mixes samples, which breaks wgan-gp's per-sample penalty
    d_norm: str = setting("auto", f"D's normalisation: {', '.join(D_NORMS)}; auto is batch, or layer for "
                                  "wgan-gp", run=True, choices=D_NORMS)
    spectral_norm: bool = setting(False, "spectral normalisation on D's convolutions", run=True)
    minibatch_std: bool = setting(False, "minibatch standard-deviation channel in D (against mode collapse)", run=True)
    condition: str = setting("none", "none, class (the dataset's labels) or attrs (multi-hot tags)", run=True, choices=CONDITIONS)
    d_condition: str = setting("projection", "how D reads the condition: projection (Miyato & Koyama) or concat (an "
                                             "input channel)", run=True, choices=D_CONDITIONS)
    embed_dim: int = setting(64, "length of G's condition embedding", run=True)
    model_version: int = setting(2, "layout of G and D: 2 starts sizes whose start map is 5 or 7 px (28, 40, 56, "
                                    "112...) at 4 x 4 and reaches it by a stride-1 layer; 1 starts them at that map "
                                    "(checkpoints written before this setting)", run=True)
    g_upsample: str = setting("transposed", "how G doubles its maps: transposed (the paper's 4x4 stride-2 "
                                            "transposed convolutions) or nearest (nearest upsampling, then a 3x3 "
                                            "convolution: no checkerboard texture, 2.25x the arithmetic of G's "
                                            "doubling layers)",
                              run=True, choices=UPSAMPLES)

    def __post_init__(self):
        for name in ("nz", "ngf", "ndf"):
            value = getattr(self, name)
            _check(isinstance(value, int) and value > 0,
                   f"--{name} must be a positive integer, got {value!r}")
        _check(self.d_norm in D_NORMS,
               f"--d-norm {self.d_norm!r} is not known; choose one of {', '.join(D_NORMS)}")
        _check(self.condition in CONDITIONS,
               f"--condition {self.condition!r} is not known; choose one of {', '.join(CONDITIONS)}")
        _check(self.d_condition in D_CONDITIONS,
               f"--d-condition must be projection or concat, got {self.d_condition!r}")
        _check(isinstance(self.embed_dim, int) and self.embed_dim > 0,
               f"--embed-dim must be a positive integer, got {self.embed_dim!r}")
        _check(self.model_version in (1, 2), f"--model-version must be 1 or 2, got {self.model_version!r}")
        _check(self.g_upsample in UPSAMPLES,
               f"--g-upsample must be {' or '.join(UPSAMPLES)}, got {self.g_upsample!r}")


@dataclass
class DataConfig:
    """Which images to train on and how they are shaped for the model."""

    dataset: str = setting("fashion-mnist", f"one of {', '.join(DATASETS)}", run=True, choices=DATASETS)
    data_root: str = setting("data", "where datasets and their preprocessed caches live")
    image_size: int = setting(32, "side of the square images: s0 x 2^k with s0 in 3..7, up to 256 (28, 32, 48, "
                                  "64, 96, 128, 256 ...)", run=True)
    channels: int = setting(0, "image channels for the model: 0 keeps the dataset's own, 1 grey, 3 colour, 4 RGBA "
                                   "(transparency kept)", run=True)
    split: str = setting("train", "train, test or all", run=True, choices=SPLITS)
    folder: str = setting("", "the image folder for --dataset folder (flat, or one subfolder per class)")
    download: bool = setting(True, "try torchvision's download when no local copy is found")
    strict: bool = setting(False, "a file that cannot be decoded stops the run, instead of being skipped")
    attrs_file: str = setting("", "tags for --condition attrs: CSV with a filename column and 0/1 tag columns "
                                  "(CelebA: list_attr_celeba.txt is found by itself)")

    def __post_init__(self):
        _check(self.dataset in DATASETS,
               f"--dataset {self.dataset!r} is not known; choose one of {', '.join(DATASETS)}")
        if isinstance(self.image_size, int):
            nearest = _nearest_if_unbuildable(self.image_size)
            _check(not nearest,
                   f"--image-size {self.image_size} cannot be built: sizes are s0 x 2^k with s0 in 3..7 and "
                   f"k >= 2, up to 256 (28, 32, 48, 64, 96, 128, 160, 256 ...); nearest: "
                   f"{', '.join(map(str, nearest))}")
        else:
            _check(False, f"--image-size must be a whole number of pixels, e.g. 32, got {self.image_size!r}")
        _check(self.channels in (0, 1, 3, 4),
               f"--channels must be 0 (the dataset's own), 1, 3 or 4 (RGBA), got {self.channels!r}")
        _check(self.split in SPLITS,
               f"--split must be train, test or all, got {self.split!r}")
        _check(isinstance(self.data_root, str) and self.data_root != "",
               "--data-root must be a folder path")
        _check(self.dataset != "folder" or self.folder != "",
               "--dataset folder needs --folder PATH, a directory of images")


@dataclass
class TrainConfig:
    """How long and how to optimise, and where the run lives."""

    batch_size: int = setting(32, "images per batch", run=True)
    epochs: int = setting(5, "passes over the data (ignored when --max-steps is set)")
    max_steps: int = setting(0, "stop after this many iterations (0: use --epochs)")
    # the optimiser: its rates, betas and kind
    lr: float = setting(4e-4, "learning rate of D, and of G when --lr-g is 0; given alone, it moves G's rate too, "
                              "keeping the recipe's ratio of G's to D's")
    lr_g: float = setting(1.2e-3, "G's learning rate (TTUR); 0 uses --lr")
    lr_d: float = setting(0.0, "D's learning rate (TTUR); 0 uses --lr")
    beta1: float = setting(0.5, "Adam beta1")
    beta2: float = setting(0.999, "Adam beta2")
    optimizer: str = setting("adam", "adam or rmsprop", choices=OPTIMIZERS)
    lr_decay: float = setting(0.25, "share of the run, at its end, over which both learning rates fall linearly to 0 "
                                    "(a run resumed with more epochs moves it to its new end); 0: off")
    seed: int = setting(999, "random seed (weights, noise, data order)", run=True)
    device: str = setting("auto", f"{', '.join(DEVICES)} or cuda:N; auto picks cuda, then mps, then cpu")
    deterministic: bool = setting(False, "torch.use_deterministic_algorithms(True): slower, bit-reproducible")
    # NHWC: the layout oneDNN and cuDNN convolutions run fastest in (docs/performance.md)
    channels_last: bool = setting(True, "NHWC memory format for the convolutions")
    snapshot_every: int = setting(500, "write a sample grid of the fixed noise every N iterations")
    checkpoint_every: int = setting(1000, "write a checkpoint every N iterations")
    keep_last: int = setting(3, "numbered checkpoints to keep besides last.pt (0 keeps all)")
    # how often device-side stats are read back (one host sync)
    log_every: int = setting(25, "read losses back from the device every N iterations")
    out: str = setting("", "run folder (default outputs/<date-time>-<dataset>)")
    eval_every: int = setting(0, "evaluate FID every N iterations (0: off); the best checkpoint is kept as best.pt")
    eval_n: int = setting(2000, "images per evaluation during training")
    eval_features: str = setting("classifier", "classifier (domain CNN, offline) or inception (standard FID)", choices=EVAL_FEATURES)
    # classifier file; empty: DATA_ROOT/classifiers/<dataset>-<size>px-<ch>ch.pt
    classifier: str = setting("", "classifier file for --eval-features classifier")
    progress: bool = setting(True, "show progress bars")
    tensorboard: bool = setting(False, "also log scalars, sample grids, evaluations and hparams to RUN/tensorboard/ "
                                       "(needs: pip install tensorboard)")
    # accelerators: each a toggle that costs nothing when off (docs/performance.md says when each helps)
    precision: str = setting("auto", "fp32, bf16 autocast (losses stay in fp32), or auto: on a CPU with bf16 "
                                     "instructions, whichever is faster when timed there (once per machine and "
                                     "model)", choices=PRECISIONS)
    # torch.compile G and D (checkpoints store the plain modules)
    compile: bool = setting(False, "torch.compile G and D (first iterations are slow while it compiles)")
    cuda_graphs: bool = setting(False, "with --compile: mode reduce-overhead, i.e. CUDA graphs")
    fused_adam: bool = setting(False, "Adam's fused kernel")
    cudnn_benchmark: bool = setting(False, "let cuDNN pick the fastest convolution algorithms (GPU)")
    data_on_device: bool = setting(True, "GPU: keep the uint8 dataset in GPU memory when it fits (else batches are "
                                         "staged through pinned memory)")
    ddp_timeout: int = setting(60, "torchrun: minutes the other processes wait for rank 0 while it alone decodes "
                                   "the dataset, trains the evaluation classifier or writes files")
    ddp_backend: str = setting("auto", "torchrun: auto (NCCL on GPUs, gloo on CPUs), nccl, or gloo, which also runs "
                                       "on GPUs and lets several processes share one (slower: to try the multi-process "
                                       "paths on a one-GPU box)", choices=DDP_BACKENDS)
    on_divergence: str = setting("stop", "when a loss or weight turns NaN/Inf, or D wins outright: stop, or roll "
                                         "back to the last checkpoint with half the learning rates (up to 3 times)", choices=DIVERGENCE_ACTIONS)
    divergence_patience: int = setting(1000, "iterations in a row of D(G(z)) < 0.01 that count as D winning (bce, "
                                             "minimax); 0: off")

    def __post_init__(self):
        _check(isinstance(self.ddp_timeout, int) and self.ddp_timeout > 0,
               f"--ddp-timeout must be a positive number of minutes, got {self.ddp_timeout!r}")
        _check(self.ddp_backend in DDP_BACKENDS,
               f"--ddp-backend must be one of {', '.join(DDP_BACKENDS)}, got {self.ddp_backend!r}")
        _check(self.on_divergence in DIVERGENCE_ACTIONS,
               f"--on-divergence must be stop or rollback, got {self.on_divergence!r}")
        _check(isinstance(self.divergence_patience, int) and self.divergence_patience >= 0,
               f"--divergence-patience must be >= 0 (0 turns the D-wins check off), got {self.divergence_patience!r}")
        _check(self.precision in PRECISIONS,
               f"--precision must be auto, fp32 or bf16, got {self.precision!r}")
        _check(not self.cuda_graphs or self.compile,
               "--cuda-graphs works through torch.compile: add --compile")
        _check(isinstance(self.batch_size, int) and self.batch_size > 0,
               f"--batch-size must be a positive integer, got {self.batch_size!r}")
        _check(isinstance(self.epochs, int) and self.epochs >= 0,
               f"--epochs must be >= 0, got {self.epochs!r}")
        _check(isinstance(self.max_steps, int) and self.max_steps >= 0,
               f"--max-steps must be >= 0, got {self.max_steps!r}")
        _check(self.epochs > 0 or self.max_steps > 0,
               "nothing to train: set --epochs or --max-steps to a positive number")
        _check(self.lr > 0, f"--lr must be positive, got {self.lr!r}")
        for name in ("lr_g", "lr_d"):
            value = getattr(self, name)
            _check(isinstance(value, (int, float)) and value >= 0,
                   f"--{name.replace('_', '-')} must be >= 0 (0: the same as --lr), got {value!r}")
        _check(self.optimizer in OPTIMIZERS,
               f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        _check(isinstance(self.lr_decay, (int, float)) and 0 <= self.lr_decay <= 1,
               f"--lr-decay must lie in [0, 1] (0.5: the rates fall to 0 over the last half), got {self.lr_decay!r}")
        _check(0 <= self.beta1 < 1 and 0 <= self.beta2 < 1,
               f"--beta1 and --beta2 must lie in [0, 1), got {self.beta1!r}, {self.beta2!r}")
        _check(self.device in DEVICES or self.device.startswith("cuda:"),
               f"--device must be one of {', '.join(DEVICES)} or cuda:N, got {self.device!r}")
        for name in ("snapshot_every", "checkpoint_every", "log_every"):
            value = getattr(self, name)
            _check(isinstance(value, int) and value > 0,
                   f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")
        _check(isinstance(self.eval_every, int) and self.eval_every >= 0,
               f"--eval-every must be >= 0 (0 turns evaluation off), got {self.eval_every!r}")
        _check(isinstance(self.eval_n, int) and self.eval_n >= 10,
               f"--eval-n must be at least 10 images, got {self.eval_n!r}")
        _check(self.eval_features in EVAL_FEATURES,
               f"--eval-features must be classifier or inception, got {self.eval_features!r}")
        _check(isinstance(self.keep_last, int) and self.keep_last >= 0,
               f"--keep-last must be >= 0 (0 keeps every checkpoint), got {self.keep_last!r}")

    @property
    def rates(self) -> tuple[float, float]:
        """(G's, D's) learning rates, --lr standing in for a 0."""
        return self.lr_g or self.lr, self.lr_d or self.lr


@dataclass
class ObjectiveConfig:
    """The GAN objective and its stabilisers; the defaults are the default recipe's (`--recipe list`)."""

    loss: str = setting("bce", f"the objective: {', '.join(LOSSES)}; wgan and wgan-gp also set their paper's "
                              "--d-steps, optimiser and betas unless given", run=True, choices=LOSSES)
    d_steps: int = setting(1, "D (critic) updates per G update, each on a fresh batch (alias --n-critic)")
    gp_weight: float = setting(10.0, "wgan-gp: weight of the gradient penalty")
    clip_value: float = setting(0.01, "wgan: clip D's weights to [-c, c]")
    r1_weight: float = setting(0.1, "R1 penalty weight (gamma) on D's gradient at real images; 0: off")
    r2_weight: float = setting(0.0, "R2 penalty weight: R1's twin at G's samples, on the same lazy steps; 0: off")
    bcr_weight: float = setting(0.0, "balanced consistency regularisation (Zhao et al. 2020): D's loss gains w x "
                                     "(D(x) - D(T(x)))^2 on real and on fake images, T a random flip and a shift "
                                     "of up to 1/8 of the side; two more D passes per step; 0: off")
    bcr_every: int = setting(1, "balanced consistency regularisation on every N-th D step only, at N times its "
                                "weight, so it costs 1/N of its time")
    r1_every: int = setting(16, "lazy R1 (as in StyleGAN2): the penalty on every N-th D step only, with its weight "
                                "times N, so it costs 1/N of its time; 1: every step")
    label_smoothing: float = setting(0.1, "one-sided label smoothing: real target 1 - s (0.1 gives 0.9); 0: off")
    label_flip: float = setting(0.0, "share of D's labels swapped at random")
    instance_noise: float = setting(0.0, "std of Gaussian noise on D's inputs, annealed linearly to 0")
    ema_decay: float = setting(0.999, "EMA of G's weights for samples and evaluation (decay warmed up towards "
                                      "this by --ema-rampup); 0: off")
    ema_rampup: float = setting(0.05, "EMA warm-up: at G step t the average spans at most this share of the "
                                       "steps so far (decay h / (1 + h), h = rampup * (t + 1); 1/9 gives "
                                       "(1 + t) / (10 + t)); 0: the plain --ema-decay from the start")
    diffaug: str = setting("", f"DiffAugment policy, comma-separated subset of {','.join(AUGMENTS)}")
    grad_clip: float = setting(10.0, "clip the norms of G's and D's loss gradients to this (a penalty's: see "
                                         "--penalty-clip); 0: off")
    penalty_clip: str = setting("own", "how a penalty's gradient (R1, WGAN-GP) meets --grad-clip: own (clipped on "
                                       "its own, to --r1-every x the clip, then added to the loss's clipped "
                                       "gradient) or joint (clipped together with the loss's: R1 stops holding "
                                       "a sharpening D after a few epochs)", choices=PENALTY_CLIPS)
    feature_matching: bool = setting(False, "G matches D's mean features on real data instead of fooling D")
    mode_seeking: float = setting(0.0, "mode-seeking term (Mao et al. 2019, MSGAN): G's loss gains w / (mean |G(z1) - "
                                       "G(z2)| / mean |z1 - z2|) over pairs of its fakes, the batch's two halves (in a "
                                       "conditional run each pair shares a condition); against collapse within a "
                                       "class; 0: off")
    mismatch_weight: float = setting(0.0, "matching-aware D: weight of real images with wrong conditions, labelled "
                                          "fake; 0: off")

    def __post_init__(self):
        _check(self.loss in LOSSES, f"--loss {self.loss!r} is not known; choose one of {', '.join(LOSSES)}")
        _check(isinstance(self.d_steps, int) and self.d_steps >= 1,
               f"--d-steps must be a positive integer, got {self.d_steps!r}")
        _check(isinstance(self.r1_every, int) and self.r1_every >= 1,
               f"--r1-every must be a positive integer (1: every step, 16: StyleGAN2's lazy R1), got {self.r1_every!r}")
        _check(isinstance(self.bcr_every, int) and self.bcr_every >= 1,
               f"--bcr-every must be a positive integer (1: every step), got {self.bcr_every!r}")
        for name in ("gp_weight", "clip_value", "r1_weight", "r2_weight", "instance_noise", "grad_clip", "mode_seeking",
                     "bcr_weight"):
            value = getattr(self, name)
            _check(isinstance(value, (int, float)) and value >= 0,
                   f"--{name.replace('_', '-')} must be >= 0, got {value!r}")
        _check(0 <= self.label_smoothing < 0.5,
               f"--label-smoothing must lie in [0, 0.5) (0.1 makes the real target 0.9), "
               f"got {self.label_smoothing!r}")
        _check(0 <= self.label_flip < 0.5,
               f"--label-flip must lie in [0, 0.5) (a share of labels), got {self.label_flip!r}")
        _check(self.ema_decay == 0 or 0.5 <= self.ema_decay < 1,
               f"--ema-decay must be 0 (off) or in [0.5, 1), e.g. 0.999; got {self.ema_decay!r}")
        _check(isinstance(self.ema_rampup, (int, float)) and 0 <= self.ema_rampup <= 1,
               f"--ema-rampup must lie in [0, 1] (0.1: the average spans the last tenth of the run), "
               f"got {self.ema_rampup!r}")
        unknown = [a for a in self.augmentations if a not in AUGMENTS]
        _check(not unknown, f"--diffaug {self.diffaug!r}: unknown {unknown}; use a comma-separated "
                            f"subset of {', '.join(AUGMENTS)}")
        _check(self.penalty_clip in PENALTY_CLIPS,
               f"--penalty-clip must be one of {', '.join(PENALTY_CLIPS)}, got {self.penalty_clip!r}")
        if self.label_smoothing or self.label_flip:
            _check(self.loss in TARGET_LOSSES,
                   f"--label-smoothing and --label-flip change D's targets, which only "
                   f"{', '.join(TARGET_LOSSES)} have; --loss {self.loss} has none (set --label-smoothing 0 "
                   "--label-flip 0)")
        _check(isinstance(self.mismatch_weight, (int, float)) and self.mismatch_weight >= 0,
               f"--mismatch-weight must be >= 0, got {self.mismatch_weight!r}")
        _check(not (self.r2_weight and self.loss in ("wgan", "wgan-gp")),
               f"--r2-weight is for bce, minimax, hinge, lsgan, ragan and rpgan; --loss {self.loss} has its own "
               "Lipschitz constraint (set --r2-weight 0)")
        _check(not (self.mismatch_weight and self.loss in ("ragan", "rpgan")),
               "--mismatch-weight scores real images with wrong conditions on their own, which a relativistic "
               "loss cannot (it judges each real against the mean fake); use --loss bce or --mismatch-weight 0")
        _check(not (self.r1_weight and self.loss in ("wgan", "wgan-gp")),
               f"--r1-weight is for bce, minimax, hinge, lsgan and ragan; --loss {self.loss} has its own "
               "Lipschitz constraint (set --r1-weight 0)")

    @property
    def augmentations(self) -> list[str]:
        return [a.strip() for a in self.diffaug.split(",") if a.strip()]


# Presets: a recipe (recipes.py) or a loss fills in settings the user did not give (explicit ones win).
LOSS_PRESETS: dict[str, dict[str, Any]] = {  # the papers' settings, over the recipe's
    "wgan": {"d_steps": 5, "optimizer": "rmsprop", "lr": 5e-5, "lr_g": 0.0, "grad_clip": 0.0,  # Arjovsky et al. 2017
             "label_smoothing": 0.0, "r1_weight": 0.0},
    "wgan-gp": {"d_steps": 5, "beta1": 0.5, "beta2": 0.9, "grad_clip": 0.0, "lr": 2e-4, "lr_g": 0.0,  # Gulrajani 2017
                "label_smoothing": 0.0, "r1_weight": 0.0},  # its own penalty instead
    "hinge": {"label_smoothing": 0.0},  # a margin has no target to smooth
    "ragan": {"mismatch_weight": 0.0},  # it judges reals against the mean fake, not one by one
    "rpgan": {"mismatch_weight": 0.0, "label_smoothing": 0.0},  # pairs, without targets to smooth
}


@dataclass
class Config:
    """Everything a run needs; round-trips through JSON, the CLI and checkpoints."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)

    def __post_init__(self):
        loss, norm = self.objective.loss, self.model.d_norm
        _check(not (self.objective.mismatch_weight and self.model.condition == "none"),
               "--mismatch-weight needs a conditional model: set --condition class or attrs")
        _check(self.model.condition != "attrs" or self.data.dataset == "celeba" or self.data.attrs_file,
               "--condition attrs needs tags: --dataset celeba (list_attr_celeba.txt) or "
               "--attrs-file CSV (a filename column and one 0/1 column per tag)")
        _check(self.model.condition != "class" or self.data.dataset != "celeba",
               "CelebA has no class labels: use --condition attrs")
        _check(not (loss == "wgan-gp" and norm == "batch"),
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

        `recipe` and the chosen loss's preset fill in what `kwargs` leaves out.
        """
        name, changes, conditional = resolve_recipe(recipe, report)
        preset = {**flat_defaults(), **changes}  # the default recipe is the settings' own defaults
        preset.update(gpu_settings(name, str(kwargs.get("device", "auto"))))
        if kwargs.get("condition", "none") != "none":  # what the recipe adds for a conditional G and D
            preset.update(conditional)
        preset.update(LOSS_PRESETS.get(kwargs.get("loss", preset.get("loss")), {}))
        if "lr" in kwargs and "lr_g" not in kwargs and preset.get("lr_g"):
            # the recipe's G rate is a multiple of its D rate (r1-ema-b32: 3x): a given --lr moves both
            preset["lr_g"] = kwargs["lr"] * (preset["lr_g"] / preset["lr"])
        kwargs = {**preset, **kwargs}
        sections: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
        owners = {f.name: s for s, c in SECTIONS.items() for f in dataclasses.fields(c)}
        for key, value in kwargs.items():
            _check(key in owners, f"unknown setting {key!r}; valid settings are "
                                  f"{', '.join(sorted(owners))}")
            sections[owners[key]][key] = value
        return cls.from_dict(sections)  # every setting given: none falls back to an old writer's (compat.py)


# settings that say where or how a run is watched, not what it is: never a difference between runs
WATCHING = frozenset({"out", "data_root", "progress", "device", "download", "classifier", "log_every"})

SECTIONS = {"model": ModelConfig, "data": DataConfig, "train": TrainConfig, "objective": ObjectiveConfig}


def flat_fields() -> dict[str, dataclasses.Field]:
    """Every setting by name, across the sections (names are unique)."""
    return {f.name: f for c in SECTIONS.values() for f in dataclasses.fields(c)}


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


def run_defining() -> dict[str, tuple[str, ...]]:
    """Per section, the settings that define what a run is: --resume must match them."""
    return {name: tuple(f.name for f in dataclasses.fields(c) if f.metadata.get("defines_run"))
            for name, c in SECTIONS.items()}


def _build(cls, values: dict[str, Any]):
    valid = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - valid
    _check(not unknown, f"unknown {cls.__name__} settings {sorted(unknown)}; "
                        f"valid ones are {', '.join(sorted(valid))}")
    return cls(**values)
