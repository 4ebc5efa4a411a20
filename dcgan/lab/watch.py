"""Watching a run from the files it writes, whoever trains it (this kernel, `dcgan train`, torchrun).

Jupyter drops a running cell's output when the browser reconnects; a watcher reads the run folder
instead, so running `watch(run)` again after a reconnect picks the run up where it is. Each view says
how old it is, so a saved output is never taken for a live one."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from .background import TrainingProcess, start_training  # noqa: F401  (start_training: dcgan's API)
from .runstate import FINAL, RunView, phase, read_run  # noqa: F401  (read_run: dcgan's API)


STALE_AFTER = 10.0  # seconds after its last update that a live view marks itself as not live


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

        from .. import viz
        from ..training.history import read_history_csv
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
    from ..extras import require

    require("notebooks", "watch()")
    key = Path(run_dir).resolve()
    if key in _WATCHERS:
        _WATCHERS[key].stop()
    watcher = _WATCHERS[key] = Watcher(run_dir, every, training)
    if wait:
        watcher.wait()
    return watcher
