"""A run's per-iteration history and its evaluations, in memory and as CSV files."""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from ..diskio import replacing


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


def write_history_csv(history: dict, path: Path, start: int = 0) -> None:
    """The history as CSV: the whole file (replaced atomically) when `start` is 0, else rows from
    `start` on appended to a file that holds the ones before, so a long run's writes stay small."""
    rows = zip(*(history[c][start:] for c in COLUMNS))
    if start:
        with open(path, "a", newline="") as f:
            csv.writer(f).writerows(rows)
        return
    with replacing(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        w.writerows(rows)


def write_evals_csv(evals: list[dict], path: Path) -> None:
    with replacing(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(evals[0]))
        w.writeheader()
        w.writerows(evals)


def read_history_csv(path: str | Path) -> dict[str, list]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    nan = float("nan")  # columns a run from an older version did not write
    return {c: [(int if c in ("iteration", "epoch") else float)(r.get(c, nan)) for r in rows] for c in COLUMNS}


def history_until(path: Path, iteration: int) -> dict[str, list] | None:
    """A run's history.csv up to and including `iteration` (a checkpoint's), or None without the file.
    Checkpoints do not carry the history (it would make each one grow with the run): a resume reads
    it from here, leaving out rows a run wrote after its checkpoint."""
    if not Path(path).is_file():
        return None
    rows = read_history_csv(path)
    keep = sum(1 for i in rows["iteration"] if i <= iteration)
    return {c: rows[c][:keep] for c in COLUMNS}


class PendingStats:
    """Per-iteration statistics kept on the device until a flush: one host sync for many steps.
    A flush appends them to the history and asks the divergence guard about them."""

    def __init__(self):
        self.rows: list = []  # device tensors, one per iteration (the columns after iteration, epoch)
        self.epochs: list[int] = []
        self.last: dict[str, float] | None = None  # the newest flushed statistics by name, for the progress bar

    def append(self, stats, epoch: int) -> None:
        """An iteration's StepStats (steps.py), kept on the device as one stacked tensor."""
        self.rows.append(torch.stack(tuple(stats)))
        self.epochs.append(epoch)

    def flush(self, history: History, step: int, guard, models) -> str | None:
        """Move the rows up to iteration `step` into `history`; returns the guard's verdict."""
        if not self.rows:
            return None
        rows = torch.stack(self.rows).cpu().tolist()
        first = step - len(rows) + 1
        verdict = guard.check(rows, first, models)
        for i, (row, epoch) in enumerate(zip(rows, self.epochs)):
            for key, value in zip(COLUMNS, (first + i, epoch, *row)):
                history[key].append(value)
        self.rows.clear()
        self.epochs.clear()
        self.last = dict(zip(COLUMNS[2:], rows[-1]))
        return verdict
