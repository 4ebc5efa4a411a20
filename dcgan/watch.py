"""Watching a run from the files it writes, whoever trains it (this kernel, `dcgan train`, torchrun), and
training in a process of its own so a notebook stays usable.

Jupyter drops a running cell's output when the browser reconnects; a watcher reads the run folder
instead, so running `watch(run)` again after a reconnect picks the run up where it is."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ENDED = ("finished", "interrupted", "diverged")


@dataclass
class RunView:
    """What a run folder says now."""

    run_dir: Path
    status: str  # starting, running, finished, interrupted, diverged
    iteration: int  # the newest row of history.csv
    planned: int | None
    epoch: int | None
    grid: Path | None  # the newest snapshot grid
    its_per_second: float | None  # between the two newest snapshots
    quiet_for: float  # seconds since the folder last changed

    @property
    def seconds_left(self) -> float | None:
        if not (self.its_per_second and self.planned) or self.status != "running":
            return None
        return max(0.0, (self.planned - self.iteration) / self.its_per_second)

    def line(self) -> str:
        """One line: where the run is, how fast it goes, and its status."""
        parts = [f"iteration {self.iteration}" + (f" of {self.planned}" if self.planned else "")]
        if self.epoch is not None:
            parts.append(f"epoch {self.epoch}")
        if self.its_per_second:
            parts.append(f"{self.its_per_second:.1f} it/s")
        if self.seconds_left is not None:
            parts.append(f"{_duration(self.seconds_left)} left")
        status = self.status
        if status == "running" and self.quiet_for > 120:  # nobody has written for a while
            status += f" (no change for {_duration(self.quiet_for)}: stopped without a word, or slow)"
        return f"{self.run_dir.name}: " + ", ".join(parts) + f" - {status}"


def read_run(run_dir: str | Path) -> RunView:
    """The state of a run as its files tell it, read while it trains (a half-written last line is skipped)."""
    run_dir = Path(run_dir)
    status_file = run_dir / "status.json"
    try:
        status = json.loads(status_file.read_text()) if status_file.is_file() else {}
    except (json.JSONDecodeError, OSError):  # replaced as we read it: the next look sees it whole
        status = {}
    iteration, epoch = _last_row(run_dir / "history.csv")
    grids = sorted((run_dir / "samples").glob("step_*.png"))
    rate = None
    if len(grids) >= 2:
        (a, b), (ta, tb) = [int(g.stem.split("_")[1]) for g in grids[-2:]], [g.stat().st_mtime for g in grids[-2:]]
        rate = (b - a) / (tb - ta) if tb > ta else None
    files = [p for p in (status_file, run_dir / "history.csv", *grids[-1:]) if p.is_file()]
    newest = max((p.stat().st_mtime for p in files), default=time.time())
    if status.get("iteration") is not None and status.get("status") in ENDED:
        iteration = max(iteration, int(status["iteration"]))
    return RunView(run_dir, status.get("status", "starting"), iteration, status.get("planned"), epoch,
                   grids[-1] if grids else None, rate, time.time() - newest)


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


class Watcher:
    """Shows a run in the cell that made it: a status line, the newest grid and the curves, updated from a
    thread while the run changes, and the animation player once it ends. `stop()` stops watching only."""

    def __init__(self, run_dir: str | Path, every: float = 2.0):
        from IPython.display import HTML

        self.run_dir, self.every = Path(run_dir), every
        self.line = _place(HTML(f"<b>watching {self.run_dir}</b>"), text=True)
        self.grid, self.curves, self.player = _place(HTML("")), _place(HTML("")), _place(HTML(""))
        self.last: RunView | None = None
        self._stop = threading.Event()
        self._shown = (None, -1)  # (grid, history rows) last drawn
        self.thread = threading.Thread(target=self._follow, name=f"watch {self.run_dir.name}", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()

    def wait(self, timeout: float | None = None) -> RunView | None:
        """Block until the run ends (or `timeout` seconds): for scripts and headless runs of a notebook."""
        self.thread.join(timeout)
        return self.last

    @property
    def ended(self) -> bool:
        return self.last is not None and self.last.status in ENDED

    def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                self.last = self.show()
            except Exception as e:  # a watcher must never take the kernel down; say what went wrong
                from IPython.display import HTML

                self.line.update(HTML(f"<b>watching {self.run_dir} failed:</b> {type(e).__name__}: {e}"))
                return
            if self.ended:
                return
            self._stop.wait(self.every)

    def show(self) -> RunView:
        """Read the folder once and redraw what changed."""
        from IPython.display import HTML, Image

        from . import viz
        from .history import read_history_csv
        from .runs import snapshot_frames

        view = read_run(self.run_dir)
        colour = {"finished": "green", "diverged": "red", "interrupted": "orange"}.get(view.status, "black")
        self.line.update(HTML(f"<b style='color:{colour}'>{view.line()}</b>"))
        if view.grid is not None and view.grid != self._shown[0]:
            self.grid.update(Image(filename=str(view.grid)))
        history_file = self.run_dir / "history.csv"
        if history_file.is_file() and view.iteration != self._shown[1]:
            history = read_history_csv(history_file)
            if history["iteration"]:  # drawn here as a PNG: the notebook may have no matplotlib backend set
                self.curves.update(Image(data=_png(viz.plot_losses(history))))
        self._shown = (view.grid, view.iteration)
        if view.status in ENDED:
            frames, titles = snapshot_frames(self.run_dir)
            if frames:
                self.player.update(HTML(viz.animation_html(frames, titles=titles)))
        return view


def _png(figure) -> bytes:
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _place(obj, text: bool = False):
    """A display that can be updated in place; outside a notebook (a script, a test), the status line as
    printed lines and nothing for the pictures."""
    from IPython import get_ipython
    from IPython.display import display

    return display(obj, display_id=True) if get_ipython() is not None else _Printed(text)


class _Printed:
    def __init__(self, text: bool):
        self.text, self.last = text, None

    def update(self, obj) -> None:
        import re

        data = getattr(obj, "data", None)
        line = re.sub(r"<[^>]+>", "", data) if isinstance(data, str) else None
        if self.text and line is not None and line != self.last:
            print(line, flush=True)
            self.last = line


_WATCHERS: dict[Path, Watcher] = {}


def watch(run_dir: str | Path, *, every: float = 2.0, wait: bool = False) -> Watcher:
    """Show a run live in this cell from its folder, whoever trains it; returns at once (the kernel stays
    free) unless `wait`. Watching a run again (after a reconnect) replaces the earlier watcher of it."""
    from .extras import require

    require("notebooks", "watch()")
    key = Path(run_dir).resolve()
    if key in _WATCHERS:
        _WATCHERS[key].stop()
    watcher = _WATCHERS[key] = Watcher(run_dir, every)
    if wait:
        watcher.wait()
    return watcher


class TrainingProcess:
    """A run trained by `dcgan train` in a process of its own; its messages go to `log`."""

    def __init__(self, command: list[str], log: Path | None):
        self.command, self.log = command, log
        self.process = None
        if command:
            out = open(log, "w") if log else subprocess.DEVNULL
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            # a session of its own: the kernel's interrupt (■) and restart do not reach it; stop() does
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 300) -> int | None:
        """Ask the run to stop as Ctrl-C does: it ends its iteration and writes a checkpoint."""
        if self.running:
            self.process.send_signal(signal.SIGINT)
        return self.wait(timeout)

    def wait(self, timeout: float | None = None) -> int | None:
        return self.process.wait(timeout) if self.process is not None else 0


def start_training(plan, *, python: str = sys.executable) -> TrainingProcess:
    """Train what `plan` (rerun.plan_run) decided in a separate `dcgan train` process and return at once:
    a new run from its settings (written to RUN.settings.json), or the run to continue or extend; a finished
    run starts nothing. Its messages go to RUN.log beside the run folder; watch(plan.run_dir) shows it."""
    if plan.action == "finished":
        return TrainingProcess([], None)
    tc, beside = plan.config.train, plan.run_dir.parent
    beside.mkdir(parents=True, exist_ok=True)
    command = [python, "-m", "dcgan", "train", "--no-progress"]
    if plan.resume is not None:  # the checkpoint has the settings; the length is what may have grown
        command += ["--resume", str(plan.resume), "--epochs", str(tc.epochs), "--max-steps", str(tc.max_steps)]
    else:
        settings = beside / f"{plan.run_dir.name}.settings.json"  # what --config starts it from
        settings.write_text(json.dumps(plan.config.to_dict()))
        command += ["--config", str(settings), "--out", str(plan.run_dir)]
    return TrainingProcess(command, plan.run_dir.parent / f"{plan.run_dir.name}.log")
