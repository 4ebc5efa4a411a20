"""What a run writes (rank 0 only): grids, history.csv, evals, checkpoints, best.pt, the final pictures."""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Callable

import torch

from .. import viz
from ..checkpoint import FORMAT_VERSION, atomic_torch_save, save_checkpoint
from ..diskio import check_output_folder, failure, replacing, writing
from ..log import report
from ..settings.config import ConfigError
from .folder import set_aside_previous_run
from .history import History, write_evals_csv, write_history_csv


HEARTBEAT = 5.0  # seconds between status.json's "running" updates


def read_status(run_dir: Path) -> dict:
    """status.json as a dict; {} when missing or caught mid-replace."""
    try:
        return json.loads((Path(run_dir) / "status.json").read_text())
    except (OSError, ValueError):
        return {}


def writer_alive(status: dict) -> bool:
    """Whether another process that wrote a "running" status still runs (knowable only on its own host). This
    process is not it: whoever asks is not inside a training loop (a kernel whose run broke off is free)."""
    pid = status.get("pid")
    if status.get("status") != "running" or not pid or status.get("host") != socket.gethostname():
        return False
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


class RunWriter:
    """The run folder's one writer. Under torchrun only rank 0 has one; the others get a
    NullWriter, so the loop never asks which rank it is on."""

    def __init__(self, run_dir: Path, *, keep_last: int,
                 on_snapshot: Callable[[int, Path, dict], None] | None = None, tensorboard: bool = False):
        self.run_dir, self.keep_last, self.on_snapshot = Path(run_dir), keep_last, on_snapshot
        self.tensorboard, self.tb = tensorboard, None
        self.samples_dir, self.ckpt_dir = self.run_dir / "samples", self.run_dir / "checkpoints"
        self.warned_space = False
        self.history_rows = 0  # rows history.csv holds; 0: (re)write it whole at the next write

    def _writing(self, what: str, path: Path):
        """A failed write in the run folder: one message naming the file, and how to resume. A run folder
        that vanished is said so, not silently made again (its checkpoints would be gone unnoticed)."""
        if not self.ckpt_dir.is_dir():
            raise failure(what, path, FileNotFoundError(errno.ENOENT, "no such folder", str(self.ckpt_dir)),
                          run_dir=self.run_dir)
        return writing(what, path, run_dir=self.run_dir)

    def prepare(self, *, fresh: bool) -> None:
        """Make the run folder; a fresh start sets an earlier run found there aside first."""
        moved = set_aside_previous_run(self.run_dir) if fresh else None
        if moved is not None:
            report(f"{self.run_dir} held an earlier run; it is now in {moved}")
        for d in (self.samples_dir, self.ckpt_dir):
            try:
                d.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise ConfigError(f"cannot create the run folder {d}: {e.strerror or e}; "
                                  "choose another --out") from None
        for stale in self.ckpt_dir.glob(".*.tmp-*"):  # half-written files of a run killed mid-save
            stale.unlink()

    def start(self, config: dict, checkpoint_bytes: int, planned: int, iteration: int = 0) -> None:
        """Before the first step: the folder takes writes and has room; config.json, status.json."""
        check_output_folder(self.ckpt_dir, checkpoint_bytes)
        with self._writing("the run's settings", self.run_dir / "config.json"):
            (self.run_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        self.config, self.planned = config, planned
        # this process's share of the run, for a steady rate and the run's total time (a resumed run adds on)
        earlier = read_status(self.run_dir) if iteration else {}
        self.started, self.start_iteration = time.time(), iteration
        self.earlier_seconds = float(earlier.get("train_seconds") or 0.0)
        if self.tensorboard:
            from .tensorboard_log import open_tensorboard

            with self._tensorboard():
                self.tb = open_tensorboard(self.run_dir)
        self.status("running", iteration)

    def status(self, status: str, step: int | None = None, message: str = "") -> None:
        """status.json: running (or killed), finished, interrupted or diverged; `dcgan runs` and watchers
        read it. It also says which process writes it (pid, host), since when and from which iteration (a
        steady rate), and the run's training time so far."""
        now = time.time()
        record = {"status": status, "planned": self.planned, "iteration": step, "message": message,
                  "updated": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)), "time": now,
                  "pid": os.getpid(), "host": socket.gethostname(), "started": self.started,
                  "start_iteration": self.start_iteration,
                  "train_seconds": round(self.earlier_seconds + now - self.started, 1)}
        with self._writing("the run's status", self.run_dir / "status.json"), \
                replacing(self.run_dir / "status.json") as tmp:
            tmp.write_text(json.dumps(record, indent=1) + "\n")
        self.last_status = now

    def heartbeat(self, step: int) -> None:
        """Every HEARTBEAT seconds, the iteration in status.json: a watcher's line moves between snapshots.
        A clock read per iteration, a small file every few seconds."""
        if time.time() - self.last_status >= HEARTBEAT:
            self.status("running", step)

    def log(self, message: str) -> None:
        report(message)

    # The arguments below are functions, called only here: ranks without a writer never compute
    # what only the writer needs (grids, checkpoint dicts, evaluations).

    def _tensorboard(self):
        """TensorBoard writes its events from a thread of its own; a write that failed there (a full disk)
        surfaces at the next call, and becomes one message naming the folder."""
        return self._writing("the TensorBoard events in", self.run_dir / "tensorboard")

    def logged(self, history: History) -> None:
        """After each flush: the new rows to TensorBoard (history.csv is written at snapshots)."""
        if self.tb is not None:
            with self._tensorboard():
                self.tb.history(history)
                self.tb.flush()  # so a failed write shows within one log interval, not at the end

    def snapshot(self, step: int, grid: Callable[[], torch.Tensor], history: History) -> None:
        images = grid()
        with self._writing("the sample grid", self.samples_dir / f"step_{step:07d}.png"):
            path = viz.save_grid(images, self.samples_dir / f"step_{step:07d}.png")
        self.write_history(history)
        if self.tb is not None:
            with self._tensorboard():
                self.tb.grid(step, images)
        if self.on_snapshot is not None:
            self.on_snapshot(step, path, history)

    def write_history(self, history: History) -> None:
        """history.csv up to date: the new rows appended (the whole file when it was never written in
        this process, or after history_replaced)."""
        with self._writing("the history", self.run_dir / "history.csv"):
            write_history_csv(history, self.run_dir / "history.csv", start=self.history_rows)
        self.history_rows = len(history["iteration"])

    def history_replaced(self) -> None:
        """The history went back (a rollback to a checkpoint): history.csv is rewritten whole next time."""
        self.history_rows = 0

    def checkpoint(self, state: Callable[[], dict], step: int, history: History | None = None) -> None:
        if history is not None:  # a resume reads the history up to the checkpoint from history.csv
            self.write_history(history)
        with self._writing("the checkpoint", self.ckpt_dir / f"step_{step:07d}.pt"):
            path = save_checkpoint(state(), self.ckpt_dir, step, keep_last=self.keep_last)
        self._warn_if_short_of_space(path.stat().st_size)

    def _warn_if_short_of_space(self, checkpoint_bytes: int) -> None:
        """Once: the disk has less room than the next checkpoint needs (it is written beside the last one)."""
        free = shutil.disk_usage(self.ckpt_dir).free
        if free < checkpoint_bytes and not self.warned_space:
            self.warned_space = True
            self.log(f"warning: the disk holding {self.ckpt_dir} has {free / 2**20:.1f} MiB free, less than the "
                     f"next checkpoint needs ({checkpoint_bytes / 2**20:.1f} MiB): free some space, or lower "
                     "--keep-last, before the run writes it")

    def evaluation(self, evaluate: Callable[[], dict], evals: list[dict], state: Callable[[], dict],
                   key: str, history: History | None = None) -> None:
        """Score G (`evaluate()` gives the row), append the row to `evals` and evals.csv, and save
        best.pt when its `key` (the FID) is the lowest so far."""
        best = min((e[key] for e in evals), default=float("inf"))
        row = evaluate()
        evals.append(row)
        with self._writing("the evaluations", self.run_dir / "evals.csv"):
            write_evals_csv(evals, self.run_dir / "evals.csv")
        if row[key] < best:
            if history is not None:  # resuming from best.pt reads the history up to it from history.csv
                self.write_history(history)
            with self._writing("the best checkpoint", self.ckpt_dir / "best.pt"):
                atomic_torch_save({**state(), "format_version": FORMAT_VERSION}, self.ckpt_dir / "best.pt")
        if self.tb is not None:
            with self._tensorboard():
                self.tb.evaluation(row)
        report(f"iteration {row['iteration']}: " + ", ".join(
            f"{k} {v:.3f}" for k, v in row.items() if k not in ("iteration", "seconds")))

    def finish(self, history: History, real: torch.Tensor, fake: Callable[[], torch.Tensor], *, step: int,
               interrupted: bool) -> None:
        """The run's pictures: loss curves, D's outputs, gradient norms, the animation, real vs fake."""
        with self._writing("the run's pictures in", self.run_dir):
            write_history_csv(history, self.run_dir / "history.csv", start=self.history_rows)
            self.history_rows = len(history["iteration"])
            if history["iteration"]:
                viz.plot_losses(history, self.run_dir / "loss.png")
                viz.plot_d_outputs(history, self.run_dir / "d_outputs.png")
                viz.plot_grad_norms(history, self.run_dir / "grad_norms.png")
            frames = sorted(self.samples_dir.glob("step_*.png"))
            if frames:
                viz.animation_html(frames, self.run_dir / "progress.html",
                                   titles=[f"iteration {int(f.stem.split('_')[1])}" for f in frames])
            viz.plot_real_vs_fake(real, fake().cpu(), self.run_dir / "real_vs_fake.png")
        self.status("interrupted" if interrupted else "finished", step)
        if self.tb is not None:
            with self._tensorboard():
                self.tb.history(history)
                self.tb.finish(self.config, history, getattr(history, "evals", []))
        if interrupted:
            report(f"stopped at iteration {step}; checkpoint saved. Continue with:\n"
                   f"  dcgan train --resume {self.run_dir}  (or, in a notebook, run it again unchanged)")
        else:
            report(f"done: {step} iterations. Outputs in {self.run_dir}/ (samples/, loss.png, progress.html, "
                   f"real_vs_fake.png, checkpoints/last.pt)")


class NullWriter(RunWriter):
    """What ranks other than 0 write: nothing."""

    def prepare(self, *, fresh: bool) -> None: ...
    def start(self, config: dict, checkpoint_bytes: int, planned: int, iteration: int = 0) -> None: ...
    def status(self, status: str, step: int | None = None, message: str = "") -> None: ...
    def heartbeat(self, step: int) -> None: ...
    def log(self, message: str) -> None: ...
    def logged(self, history: History) -> None: ...
    def snapshot(self, step: int, grid, history: History) -> None: ...
    def write_history(self, history: History) -> None: ...
    def history_replaced(self) -> None: ...
    def checkpoint(self, state, step: int, history: History | None = None) -> None: ...
    def evaluation(self, evaluate, evals: list[dict], state, key: str, history=None) -> None: ...
    def finish(self, history, real, fake, *, step: int, interrupted: bool) -> None: ...
