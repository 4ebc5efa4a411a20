"""Watching a run from the files it writes, whoever trains it (this kernel, `dcgan train`, torchrun).

Jupyter drops a running cell's output when the browser reconnects; a watcher reads the run folder
instead, so running `watch(run)` again after a reconnect picks the run up where it is. Each view says
how old it is, so a saved output is never taken for a live one."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .background import TrainingProcess, start_training  # noqa: F401  (start_training: dcgan's API)

ENDED = ("finished", "interrupted", "diverged")
QUIET = 60.0  # seconds without a write (status.json beats every few) before a running run counts as quiet
STALE_AFTER = 10.0  # seconds after its last update that a live view marks itself as not live


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


def _alive(pid: int | None, host: str | None) -> bool:
    """Whether the process that wrote a status is still running (only knowable on its own host)."""
    if not pid or host != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def phase(view: RunView, training: TrainingProcess | None = None) -> str:
    """Where a run stands for a watcher: starting, running, quiet, stopped, finished, diverged, or exited
    (the process a notebook started ended without writing its end). A status written before `training` was
    launched is an earlier process's word (a stopped run's "interrupted" while its continuation starts), and
    never final while that process may still write."""
    if training is not None and training.process is not None:
        own = view.written_at is not None and view.written_at >= training.started_at - 1.0
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
        if view.quiet_for > QUIET and not _alive(view.pid, view.host):
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


class Watcher:
    """Shows a run in the cell that made it: a status line saying how old it is, the newest grid and the
    curves, updated from a thread while the run changes, and the animation player once it ends. Given the
    `training` process a notebook started, a stop button beside the line (it does what Ctrl-C does), and the
    run is followed to its real end: never to a status left from before that process. `stop()` stops
    watching only."""

    def __init__(self, run_dir: str | Path, every: float = 2.0, training: TrainingProcess | None = None):
        from IPython.display import HTML

        self.run_dir, self.every, self.training = Path(run_dir), every, training
        self.button = _stop_button(training)
        self.line = _place(HTML(f"<b>watching {self.run_dir}</b>"), text=True)
        self.grid, self.curves, self.player = _place(HTML("")), _place(HTML("")), _place(HTML(""))
        self.last: RunView | None = None
        self.phase = "starting"
        self._stop = threading.Event()
        self._shown = (None, -1)  # (grid, history rows) last drawn
        self.thread = threading.Thread(target=self._follow, name=f"watch {self.run_dir.name}", daemon=True)
        self.thread.start()

    def _ipython_display_(self):  # the view is the cell's output already: no repr under it
        pass

    def stop(self) -> None:
        self._stop.set()

    def wait(self, timeout: float | None = None) -> RunView | None:
        """Block until the run ends (or `timeout` seconds): for scripts and headless runs of a notebook."""
        self.thread.join(timeout)
        return self.last

    @property
    def ended(self) -> bool:
        return self.phase in FINAL

    def _follow(self) -> None:
        from IPython.display import HTML

        why = "watching stopped"
        while not self._stop.is_set():
            try:
                self.last = self.show()
            except Exception as e:  # a watcher must never take the kernel down; say what went wrong
                why = f"watching failed ({type(e).__name__}: {e})"
                break
            if self.ended:
                break
            self._stop.wait(self.every)
        if self.button is not None:
            self.button.close()
        if not self.ended:  # the last view stays in the notebook: it must not look live
            line = self.last.line(self.phase) if self.last else f"watching {self.run_dir}"
            self.line.update(HTML(f"<b style='color:gray'>{line}</b> <span style='color:gray'>({why} at "
                                  f"{time.strftime('%H:%M:%S')}: not live; run this cell again to follow the run)"
                                  "</span>"))

    def show(self) -> RunView:
        """Read the folder once and redraw what changed."""
        from IPython.display import HTML, Image

        from . import viz
        from .history import read_history_csv
        from .runs import snapshot_frames

        view = read_run(self.run_dir)
        self.phase = phase(view, self.training)
        self.line.update(HTML(_line_html(view, self.phase)))
        if view.grid is not None and view.grid != self._shown[0]:
            self.grid.update(Image(filename=str(view.grid)))
        history_file = self.run_dir / "history.csv"
        if history_file.is_file() and view.iteration != self._shown[1]:
            history = read_history_csv(history_file)
            if history["iteration"]:  # drawn here as a PNG: the notebook may have no matplotlib backend set
                self.curves.update(Image(data=_png(viz.plot_losses(history))))
        self._shown = (view.grid, view.iteration)
        if self.phase in FINAL:
            frames, titles = snapshot_frames(self.run_dir)
            if frames:
                self.player.update(HTML(viz.animation_html(frames, titles=titles)))
        return view


def _line_html(view: RunView, phase: str) -> str:
    """The status line. A final one says so, with its time. A live one carries its time and a note that CSS
    reveals STALE_AFTER seconds after it was drawn: each update draws it anew, so the note shows only once
    updates stop (the kernel went away, or the page was reloaded and shows the saved output)."""
    colour = {"finished": "green", "diverged": "red", "stopped": "orange", "exited": "red"}.get(phase, "black")
    now = time.strftime("%H:%M:%S")
    if phase in FINAL:
        return f"<b style='color:{colour}'>{view.line(phase)}</b> <span style='color:gray'>(final, {now})</span>"
    name = f"dcgan-stale-{int(time.time() * 1000)}"  # a new animation per update restarts its clock
    return (f"<style>@keyframes {name} {{ to {{ visibility: visible; }} }}</style>"
            f"<b style='color:{colour}'>{view.line(phase)}</b> <span style='color:gray'>(as of {now})</span> "
            f"<span class='dcgan-stale' style='visibility: hidden; color: #b35900; "
            f"animation: {name} 0s linear {STALE_AFTER:.0f}s forwards'>not live: this view stopped updating at "
            f"{now}; run this cell again to follow the run</span>")


def _stop_button(training: TrainingProcess | None):
    """A stop button for a run this notebook started (None without one, or without ipywidgets)."""
    if training is None or not training.running:
        return None
    from IPython import get_ipython

    try:
        import ipywidgets as widgets
        from IPython.display import display
    except ImportError:
        return None
    if get_ipython() is None:
        return None
    button = widgets.Button(description="stop", icon="stop", button_style="warning",
                            tooltip="end the run at the end of this iteration, with a checkpoint (as Ctrl-C)")

    def stop(_):
        training.request_stop()
        button.disabled, button.description = True, "stopping..."

    button.on_click(stop)
    display(button)
    return button


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
        if isinstance(data, str):  # the text a person reads, without the page's clock and stale note
            data = re.sub(r"<style>.*?</style>|<span class='dcgan-stale'.*?</span>|\(as of [0-9:]+\)", "", data)
        line = re.sub(r"<[^>]+>", "", data).strip() if isinstance(data, str) else None
        if self.text and line is not None and line != self.last:
            print(line, flush=True)
            self.last = line


_WATCHERS: dict[Path, Watcher] = {}


def watch(run_dir: str | Path, *, every: float = 2.0, wait: bool = False,
          training: TrainingProcess | None = None) -> Watcher:
    """Show a run live in this cell from its folder, whoever trains it; returns at once (the kernel stays
    free) unless `wait`. `training`: the process start_training gave, for a stop button and to follow it to
    its end. Watching a run again (after a reconnect) replaces the earlier watcher of it."""
    from .extras import require

    require("notebooks", "watch()")
    key = Path(run_dir).resolve()
    if key in _WATCHERS:
        _WATCHERS[key].stop()
    watcher = _WATCHERS[key] = Watcher(run_dir, every, training)
    if wait:
        watcher.wait()
    return watcher
