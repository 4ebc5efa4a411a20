"""What edited reruns changed: the settings that differ between runs, their last grids side by side, their loss
curves and FID against minutes overlaid."""

from __future__ import annotations

import html
import json
from pathlib import Path

from ..settings.config import flat_settings
from .runs import differing_keys


def differing_settings(runs: list[str | Path]) -> dict[str, dict[str, object]]:
    """For each run folder, its value of every setting in which the runs differ (where it lives and how it was
    watched left out), by run name; the same for all of them when nothing differs."""
    flats = {Path(run).name: flat_settings(json.loads((Path(run) / "config.json").read_text())) for run in runs}
    differ = differing_keys(list(flats.values()))
    return {name: {k: flat.get(k) for k in differ} for name, flat in flats.items()}


def differences_html(runs: list[str | Path]) -> str:
    """differing_settings as an HTML table: a row per run, a column per setting that differs."""
    table = differing_settings(runs)
    keys = next(iter(table.values()), {}).keys()
    if not keys:
        return "<p>these runs have the same settings</p>"
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    rows = "".join(f"<tr><td>{html.escape(name)}</td>" + "".join(f"<td>{html.escape(str(v))}</td>"
                                                                 for v in values.values()) + "</tr>"
                   for name, values in table.items())
    return f"<table><tr><th>run</th>{head}</tr>{rows}</table>"


def plot_last_grids(runs: list[str | Path], path=None):
    """Each run's newest snapshot grid, side by side, titled with the run and its iteration."""
    from PIL import Image

    from ..viz import _figure, _save
    from .runs import snapshot_frames

    shown = [(Path(r), *snapshot_frames(r)) for r in runs]
    shown = [(r, frames[-1], titles[-1]) for r, frames, titles in shown if frames]
    fig = _figure(width=4.0 * max(1, len(shown)), height=4.4)
    for i, (run, frame, title) in enumerate(shown):
        ax = fig.add_subplot(1, len(shown), i + 1)
        picture = Image.open(frame)
        ax.imshow(picture, cmap="gray" if picture.mode == "L" else None)
        ax.set_title(f"{run.name}\n{title}", fontsize=9)
        ax.axis("off")
    return _save(fig, path)


def plot_losses_overlaid(runs: list[str | Path], path=None, window: int = 25):
    """D's and G's losses of every run on one pair of axes (smoothed over `window` iterations)."""
    from ..training.history import read_history_csv
    from ..viz import _figure, _save, smooth

    fig = _figure(width=10.0, height=4.0)
    axes = fig.subplots(1, 2)
    for run in map(Path, runs):
        history = read_history_csv(run / "history.csv") if (run / "history.csv").is_file() else None
        if not history or not history["iteration"]:
            continue
        for ax, key in zip(axes, ("loss_d", "loss_g")):
            ax.plot(history["iteration"], smooth(history[key], window), label=run.name)
    for ax, key in zip(axes, ("loss_d", "loss_g")):
        ax.set_xlabel("iteration")
        ax.set_title(key)
    axes[1].legend(fontsize=8)
    return _save(fig, path)
