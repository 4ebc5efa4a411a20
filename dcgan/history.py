"""A run's per-iteration history and its evaluations, in memory and as CSV files."""

from __future__ import annotations

import csv
import os
from pathlib import Path

# d_x, d_g_z1 (before D's step), d_g_z2 (after it) are sigmoid(D's output) averaged over the batch;
# w_estimate is mean D(x) - mean D(G(z)) on raw outputs (the Wasserstein estimate for a critic);
# penalty is the gradient penalty (GP or R1) added to D's loss; grad_norm_* are L2 norms of the
# weight gradients before any clipping.
COLUMNS = ("iteration", "epoch", "loss_d", "loss_g", "d_x", "d_g_z1", "d_g_z2", "w_estimate", "penalty",
           "grad_norm_d", "grad_norm_g")


class History(dict):
    """Per-iteration columns (see COLUMNS) as lists; `run_dir` says where the run's files are,
    `evals` holds the rows of evaluations made during training (also in evals.csv)."""

    run_dir: Path
    evals: list[dict]


def write_history_csv(history: dict, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        w.writerows(zip(*(history[c] for c in COLUMNS)))
    os.replace(tmp, path)


def write_evals_csv(evals: list[dict], path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(evals[0]))
        w.writeheader()
        w.writerows(evals)
    os.replace(tmp, path)


def read_history_csv(path: str | Path) -> dict[str, list]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    nan = float("nan")  # columns a run from an older version did not write
    return {c: [(int if c in ("iteration", "epoch") else float)(r.get(c, nan)) for r in rows] for c in COLUMNS}
