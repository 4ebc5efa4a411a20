"""Run folders as the notebooks use them: the newest runs, resuming, a run's frames and evaluations,
the training images nearest to samples, and `dcgan runs`."""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from ..data.dataset import to_model_range
from ..settings.config import flat_settings


def latest_runs(root: str | Path = "outputs", n: int = 1) -> list[Path]:
    """The `n` most recently written run folders under `root` that hold a checkpoint, oldest first."""
    found = sorted(Path(root).glob("**/checkpoints/last.pt"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise FileNotFoundError(f"no run with a checkpoint under {root}; train one first "
                                "(02_train.ipynb or `make train`)")
    return [p.parent.parent for p in found[-n:]]


def trained_generator(source: str | Path) -> tuple[Path, object, int, bool]:
    """(path, settings, iterations trained, whether it is a run folder) of a run folder, a checkpoint or an
    exported .safetensors G: what a results page needs to know before it shows the parts each one has."""
    import json

    from ..checkpoint import load_checkpoint, run_dir_of
    from ..settings.config import Config

    path = Path(source)
    if str(path).endswith(".safetensors"):  # its settings travel in its metadata
        from ..weights import read_metadata

        metadata = read_metadata(path)
        return path, Config.from_dict(json.loads(metadata["config"])), int(metadata.get("iteration", 0)), False
    state = load_checkpoint(path)
    return run_dir_of(path), Config.from_dict(state["config"]), int(state["iteration"]), True


def config_of(source: str | Path):
    """The settings a generator was trained with, from its run folder, a checkpoint, or an exported
    .safetensors file (whose metadata carries them)."""
    return trained_generator(source)[1]


def snapshot_frames(run_dir: str | Path) -> tuple[list[Path], list[str]]:
    """A run's snapshot grids in order, with a title for each ("iteration N")."""
    frames = sorted((Path(run_dir) / "samples").glob("step_*.png"))
    return frames, [f"iteration {int(f.stem.split('_')[1])}" for f in frames]


def _named_now(key: str) -> str:
    """A metric's name as written today: files from older versions call class coverage `coverage_<space>`."""
    return "class_" + key if key.startswith("coverage_") else key


def read_evals(run_dir: str | Path) -> list[dict[str, float]]:
    """The rows of a run's evals.csv (FID during training), numbers as floats; [] when it has none."""
    path = Path(run_dir) / "evals.csv"
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [{_named_now(k): float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]


def read_metrics(run_dir: str | Path) -> dict | None:
    """A run's metrics.json (what `dcgan evaluate` wrote), metric names as written today; None when absent."""
    import json

    path = Path(run_dir) / "metrics.json"
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    record["metrics"] = {_named_now(k): v for k, v in record.get("metrics", {}).items()}
    return record


@torch.no_grad()
def nearest_images(queries: torch.Tensor, images: torch.Tensor, k: int = 4, chunk: int = 8192):
    """For each query (n, C, S, S) in [-1, 1], the k nearest uint8 `images` by L2 distance in
    pixels, the memorisation check: returns distances (n, k) and indices (n, k), nearest first.
    Works through `images` in chunks, so memory stays small for any dataset."""
    flat = queries.flatten(1).float()
    best_d = torch.full((len(queries), k), float("inf"))
    best_i = torch.zeros((len(queries), k), dtype=torch.long)
    for start in range(0, len(images), chunk):
        block = to_model_range(images[start:start + chunk]).flatten(1)
        d = torch.cat([best_d, torch.cdist(flat, block)], 1)
        i = torch.cat([best_i, torch.arange(start, start + len(block)).expand(len(queries), -1)], 1)
        best_d, order = d.topk(k, largest=False)
        best_i = i.gather(1, order)
    return best_d, best_i


def summarise_runs(root: str | Path = "outputs") -> list[dict]:
    """One row per run folder under `root` (those with a config.json): name, iterations done and
    planned, status, best FID and its feature space, last update, and the settings in which the
    runs differ from each other."""
    import json
    import time

    rows, flats = [], []
    for config_file in sorted(Path(root).glob("**/config.json")):
        run = config_file.parent
        config = json.loads(config_file.read_text())
        status_file = run / "status.json"
        status = json.loads(status_file.read_text()) if status_file.is_file() else {}
        history = run / "history.csv"
        done = max(0, len(history.read_text().splitlines()) - 1) if history.is_file() else 0  # rows after the header
        evals = read_evals(run)
        key = next((k for k in evals[0] if k.startswith("fid_")), None) if evals else None
        newest = max((p.stat().st_mtime for p in run.rglob("*") if p.is_file()), default=config_file.stat().st_mtime)
        rows.append({"run": str(run.relative_to(root)) if run != Path(root) else run.name, "done": done,
                     "planned": status.get("planned"),
                     "status": {"running": "running or killed"}.get(status.get("status"), status.get("status", "?")),
                     "best_fid": min(e[key] for e in evals) if key else None, "features": key[4:] if key else "",
                     "updated": time.strftime("%Y-%m-%d %H:%M", time.localtime(newest))})
        flats.append(flat_settings(config))
    differing = differing_keys(flats)
    for row, flat in zip(rows, flats):
        row["settings"] = " ".join(f"{k}={flat.get(k)}" for k in differing)
    return rows


def differing_keys(flats: list[dict]) -> list[str]:
    """The settings in which runs (their flat settings) differ, sorted; where a run lives and how it was
    watched are not differences."""
    import json

    from ..settings.config import with_role

    keys = set().union(*flats) - with_role("watch") if len(flats) > 1 else set()
    return sorted(k for k in keys if len({json.dumps(f.get(k)) for f in flats}) > 1)


def format_runs(rows: list[dict]) -> str:
    """The rows of summarise_runs as an aligned text table."""
    if not rows:
        return "no runs (folders with a config.json) here"
    table = [("run", "iterations", "status", "best FID", "updated", "differs in")]
    for r in rows:
        its = f"{r['done']}/{r['planned']}" if r["planned"] else str(r["done"])
        fid = f"{r['best_fid']:.2f} ({r['features']})" if r["best_fid"] is not None else "-"
        table.append((r["run"], its, r["status"], fid, r["updated"], r["settings"]))
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row[:5], widths)) + "  " + row[5]
                     for row in table).rstrip()
