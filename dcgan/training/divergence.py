"""Divergence: a non-finite loss or weight, or D winning outright for too long, caught at each flush."""

from __future__ import annotations

import math

import torch


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
