"""A run's state as its folder tells it (status.json, history.csv, samples/), and where a watcher takes it to
stand: starting, running, quiet, stopped, finished, diverged, or exited."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from ..training.writer import writer_alive
from .background import TrainingProcess


ENDED = ("finished", "interrupted", "diverged")
QUIET = 60.0  # seconds without a write (status.json beats every few) before a running run counts as quiet


@dataclass
class RunView:
    """What a run folder says now."""

    run_dir: Path
    status: str  # starting, running, finished, interrupted, diverged
    iteration: int  # the newest of history.csv's last row and status.json's heartbeat
    planned: int | None
    epoch: int | None
    grid: Path | None  # the newest snapshot grid
    its_per_second: float | None  # steady: over this process's share of the run (else between snapshots)
    quiet_for: float  # seconds since the folder last changed
    written_at: float | None = None  # when status.json was written
    pid: int | None = None  # the process that wrote it, and its host
    host: str | None = None
    train_seconds: float | None = None  # the run's training time so far (all its processes)
    start_iteration: int | None = None  # where the process writing it began (a continued run: above 0)

    @property
    def seconds_left(self) -> float | None:
        if not (self.its_per_second and self.planned) or self.status != "running":
            return None
        return max(0.0, (self.planned - self.iteration) / self.its_per_second)

    def line(self, phase: str | None = None) -> str:
        """One line: where the run is, how fast it goes (or, once ended, how long it took), and its phase."""
        phase = phase or self.status
        parts = [f"iteration {self.iteration}" + (f" of {self.planned}" if self.planned else "")]
        if self.epoch is not None:
            parts.append(f"epoch {self.epoch}")
        if phase in ("finished", "stopped", "diverged", "exited"):
            if self.train_seconds:
                parts.append(f"{_duration(self.train_seconds)} of training")
        else:
            if self.its_per_second:
                parts.append(f"{self.its_per_second:.1f} it/s")
            if self.seconds_left is not None:
                parts.append(f"{_duration(self.seconds_left)} left")
        words = {"stopped": "stopped (interrupted, checkpoint written)",
                 "quiet": f"running? no change for {_duration(self.quiet_for)} (stopped without a word, or slow)",
                 "starting": "starting" + (f" (it stood {self.status} at iteration {self.iteration})"
                                           if self.status in ENDED else ""),
                 "exited": "the training process ended without its last word: its train.log says why"}
        if phase == "running" and self.start_iteration:
            words["running"] = f"running (continued from iteration {self.start_iteration})"
        return f"{self.run_dir.name}: " + ", ".join(parts) + f" - {words.get(phase, phase)}"


def read_run(run_dir: str | Path) -> RunView:
    """The state of a run as its files tell it, read while it trains (a half-written last line is skipped)."""
    run_dir = Path(run_dir)
    status_file = run_dir / "status.json"
    try:
        status = json.loads(status_file.read_text()) if status_file.is_file() else {}
    except (json.JSONDecodeError, OSError):  # replaced as we read it: the next look sees it whole
        status = {}
    iteration, epoch = _last_row(run_dir / "history.csv")
    if status.get("iteration") is not None:  # the heartbeat is newer than history.csv's last write
        iteration = max(iteration, int(status["iteration"]))
    grids = sorted((run_dir / "samples").glob("step_*.png"))
    rate = None
    started, written, first = status.get("started"), status.get("time"), status.get("start_iteration")
    if status.get("status") == "running" and started and written and first is not None and written > started:
        done = int(status.get("iteration") or 0) - int(first)
        rate = done / (written - started) if done > 0 else None
    if rate is None and len(grids) >= 2:
        (a, b), (ta, tb) = [int(g.stem.split("_")[1]) for g in grids[-2:]], [g.stat().st_mtime for g in grids[-2:]]
        rate = (b - a) / (tb - ta) if tb > ta else None
    files = [p for p in (status_file, run_dir / "history.csv", *grids[-1:]) if p.is_file()]
    newest = max((p.stat().st_mtime for p in files), default=time.time())
    return RunView(run_dir, status.get("status", "starting"), iteration, status.get("planned"), epoch,
                   grids[-1] if grids else None, rate, time.time() - newest, written_at=written,
                   pid=status.get("pid"), host=status.get("host"), train_seconds=status.get("train_seconds"),
                   start_iteration=first)


def phase(view: RunView, training: TrainingProcess | None = None) -> str:
    """Where a run stands for a watcher: starting, running, quiet, stopped, finished, diverged, or exited
    (the process a notebook started ended without writing its end). A status written before `training` was
    launched is an earlier process's word (a stopped run's "interrupted" while its continuation starts), and
    never final while that process may still write."""
    if training is not None and training.process is not None:
        own = view.written_at is not None and view.written_at >= training.started_at  # one clock: no slack
        if not own:
            return "starting" if training.running else "exited"
        if view.status in ENDED:
            return "stopped" if view.status == "interrupted" else view.status
        if not training.running:
            return "exited"  # killed, or failed after it began: its status still says running
        return "running" if view.status == "running" else "starting"
    if view.status in ENDED:
        return "stopped" if view.status == "interrupted" else view.status
    if view.status == "running":
        if view.quiet_for > QUIET and not writer_alive({"status": "running", "pid": view.pid, "host": view.host}):
            return "quiet"
        return "running"
    return "starting"


FINAL = ("finished", "stopped", "diverged", "exited")


def _last_row(path: Path, tail: int = 16384) -> tuple[int, int | None]:
    """(iteration, epoch) of history.csv's last whole row, from its header and last `tail` bytes: a long run's
    history is not read whole at every look."""
    if not path.is_file():
        return 0, None
    with open(path, "rb") as f:
        header = f.readline().decode().strip().split(",")
        f.seek(max(f.tell(), path.stat().st_size - tail))
        lines = f.read().decode(errors="replace").splitlines()
    for line in reversed(lines):
        cells = line.split(",")
        if len(cells) == len(header):
            row = dict(zip(header, cells))
            try:
                return int(float(row["iteration"])), int(float(row["epoch"]))
            except (KeyError, ValueError):
                continue
    return 0, None


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else \
        f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"
