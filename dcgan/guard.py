"""Guards that keep a run from being lost: divergence detection, the disk check, earlier runs set aside."""

from __future__ import annotations

import math
import os
import shutil
import time
from pathlib import Path

import torch

from .config import ConfigError
from .diskio import WriteFailed, cause_in_words


class TrainingDiverged(RuntimeError):
    """Training blew up (NaN/Inf, or D winning outright for too long); the message says what to try."""


ADVICE = {
    "nan": "try a lower --lr, --grad-clip 10, --spectral-norm, --precision fp32, or --loss hinge",
    "d_wins": "try --label-smoothing 0.1, --instance-noise 0.1, a lower --lr-d (TTUR), --diffaug "
              "translation,cutout, or --loss wgan-gp",
}


class DivergenceGuard:
    """Watches the per-step rows as they are flushed from the device (no extra host syncs) and the
    weights at each flush. Divergence is a non-finite loss or weight, or D rejecting every fake
    (mean sigmoid(D(G(z))) < d_fake_floor) for `patience` iterations in a row, which for the
    sigmoid losses means G's gradient has vanished and its loss is exploding."""

    def __init__(self, patience: int, watch_d_wins: bool, d_fake_floor: float = 0.01):
        self.patience, self.watch_d_wins, self.floor = patience, watch_d_wins, d_fake_floor
        self.streak = 0

    def check(self, rows: list[list[float]], first_iteration: int, models: list[torch.nn.Module]) -> str | None:
        """rows hold (loss_d, loss_g, d_x, d_g_z1, d_g_z2, ...) per iteration; returns what went wrong."""
        for i, row in enumerate(rows):
            if not (math.isfinite(row[0]) and math.isfinite(row[1])):
                return (f"iteration {first_iteration + i}: a loss is not finite (loss_d {row[0]}, "
                        f"loss_g {row[1]}); {ADVICE['nan']}")
            if self.watch_d_wins and self.patience:
                self.streak = self.streak + 1 if row[4] < self.floor else 0
                if self.streak >= self.patience:
                    return (f"iteration {first_iteration + i}: D has rejected G's samples (D(G(z)) < "
                            f"{self.floor}) for {self.streak} iterations in a row and G's loss is "
                            f"{row[1]:.1f}: G gets no useful gradient; {ADVICE['d_wins']}")
        finite = torch.stack([torch.isfinite(p).all() for m in models for p in m.parameters()]).all()
        if not bool(finite):
            return f"iteration {first_iteration + len(rows) - 1}: a weight is not finite; {ADVICE['nan']}"
        return None

    def reset(self) -> None:
        self.streak = 0


def checkpoint_bytes(models: list[torch.nn.Module], copies_per_weight: int = 3) -> int:
    """About what one checkpoint takes: each weight, plus the optimiser's two moments."""
    return sum(p.numel() * p.element_size() * copies_per_weight for m in models for p in m.parameters())


def check_output_folder(folder: Path, need: int) -> None:
    """Before any training: the run folder takes writes, and has room for two checkpoints (the new
    one is written before the previous one is let go)."""
    probe = folder / f".write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as e:  # a read-only folder or file system: exit code 3, like every failed write
        raise WriteFailed(f"cannot write to the run folder {folder}: {cause_in_words(e, probe)}; choose another "
                          "--out or fix its permissions") from None
    free = shutil.disk_usage(folder).free
    want = 2 * need + 16 * 2**20
    if free < want:
        raise WriteFailed(f"the disk holding {folder} has {free / 2**20:.1f} MiB free, but a checkpoint needs "
                          f"about {need / 2**20:.1f} MiB and two must fit at once ({want / 2**20:.1f} MiB); "
                          "free some space or choose another --out")


# what a notebook's background launch (watch.start_training) writes into the run folder before training starts
LAUNCH_FILES = frozenset({"train.log", "settings.json"})


def set_aside_previous_run(run_dir: Path) -> Path | None:
    """A fresh start in a folder that holds an earlier run moves that run to a sibling folder first,
    so its checkpoints survive and its snapshots do not leak into the new run's animation.

    Returns where it went (None when there was nothing to move). A non-empty folder that is not a
    run folder is refused rather than moved: `--out` probably names the wrong place.
    """
    if not run_dir.is_dir() or not any(p.name not in LAUNCH_FILES for p in run_dir.iterdir()):
        return None
    if not ((run_dir / "config.json").is_file() or (run_dir / "checkpoints").is_dir()):
        raise ConfigError(f"--out {run_dir} is a folder with other files in it, not a run folder; "
                          "choose a new or empty folder for the run")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = run_dir.with_name(f"{run_dir.name}.replaced-{stamp}")
    n = 1
    while target.exists():  # two fresh starts within a second
        n += 1
        target = run_dir.with_name(f"{run_dir.name}.replaced-{stamp}-{n}")
    try:
        run_dir.rename(target)
    except OSError as e:
        raise ConfigError(f"{run_dir} holds an earlier run and it could not be moved aside ({e.strerror or e}); "
                          f"continue it with --resume {run_dir}, or choose another --out") from None
    return target
