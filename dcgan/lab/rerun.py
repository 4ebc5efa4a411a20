"""What running a notebook again does with its settings: a new run, continuing one, or extending one.

A notebook keeps its runs side by side in one folder. `plan_run` compares the settings with the
runs already there: the same settings continue their run where it stopped (exactly, as --resume
does), changed settings start a new run in a folder of its own, and a finished run grows longer
only when asked to (`extend=True` with more epochs or iterations)."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import datetime
from pathlib import Path

from ..settings.config import Config, ConfigError, flat_settings, with_role
from ..training.writer import writer_alive


# the run's length: changed, it is a new run unless extend=True and the run is otherwise the same
_LENGTH = ("epochs", "max_steps")


@dataclasses.dataclass
class RunPlan:
    """The decision: `action` is new, continue, extend, finished or training (another process trains it
    now); `config` trains in `run_dir`
    (its `out`), from `resume` (the run folder, or None for a fresh start); `reason` says why."""

    action: str
    run_dir: Path
    config: Config
    resume: Path | None
    reason: str

    def __str__(self) -> str:
        return self.reason


def plan_run(config: Config, runs_dir: str | Path, *, extend: bool = False) -> RunPlan:
    """Decide what training `config` means next to the runs under `runs_dir` (one folder each).

    - a run with the same settings that stopped before its end (interrupted, killed) continues;
    - a run with the same settings that finished is shown as it is (train() does no steps);
    - a run with the same settings that a live process trains now is only watched;
    - with `extend`, a run that differs only in a longer length (epochs, max_steps) goes on to it;
    - anything else is a new run in `runs_dir/<date-time>-<what changed>`.
    Call it in one process: under torchrun, decide first and hand every rank the same folder.
    """
    runs_dir = Path(runs_dir)
    flat = flat_settings(json.loads(json.dumps(config.to_dict())))  # as config.json holds it (lists, not tuples)
    runs = _runs(runs_dir)  # most recently trained first
    same = [r for r in runs if _differences(r["flat"], flat, ignore=_LENGTH) == []]
    for run in same:
        if writer_alive(run["status"]):  # trained right now (a background process, a terminal): watch it
            return _plan("training", config, run["dir"],
                         f"{run['dir']} is training now with these settings (process {run['status']['pid']}, "
                         f"iteration {run['status'].get('iteration')}): watching it, training nothing more")
        if not (run["dir"] / "checkpoints" / "last.pt").is_file():
            continue  # stopped before its first checkpoint: nothing to continue from
        old, new = _length(run["flat"]), _length(flat)
        if old == new:
            return _same(config, run)
        if extend:
            if _shorter(new, old):
                raise ConfigError(f"extend = True asks to lengthen {run['dir']} ({_says(old)}), but the settings "
                                  f"ask for {_says(new)}; raise epochs (or max_steps), or set extend = False "
                                  "for a new, shorter run")
            return _plan("extend", config, run["dir"], f"extending {run['dir']} from {_says(old)} to "
                                                       f"{_says(new)} (at iteration {_iteration(run)})")
    return _new(config, runs_dir, flat, runs, extend)


def _same(config: Config, run: dict) -> RunPlan:
    status, planned, done = run["status"].get("status"), run["status"].get("planned"), _iteration(run)
    if status == "diverged":
        raise ConfigError(f"{run['dir']} diverged at iteration {run['status'].get('iteration')} with these "
                          "settings (its status.json says more); change a setting (a lower lr, another seed or "
                          "recipe) to start a new run")
    if status == "finished" or (planned and done >= planned):
        return _plan("finished", config, run["dir"],
                     f"{run['dir']} already trained its {planned or done} iterations with these settings: "
                     "showing it (change a setting for a new run, or raise epochs with extend = True)")
    return _plan("continue", config, run["dir"],
                 f"continuing {run['dir']} at iteration {done} of {planned or '?'}: same settings, "
                 f"it stopped {'(interrupted)' if status == 'interrupted' else 'before its end'}")


def _new(config: Config, runs_dir: Path, flat: dict, runs: list[dict], extend: bool) -> RunPlan:
    # named after what changed against the closest run there (the newest of equals)
    nearest = min(runs, key=lambda r: len(_differences(r["flat"], flat)), default=None)
    changes = _differences(nearest["flat"], flat) if nearest else []
    if nearest is None:
        label, why = f"{config.data.dataset}-{config.data.image_size}px", f"the first run in {runs_dir}"
    elif changes:
        label = "_".join(f"{k}-{_short(new)}" for k, _, new in changes[:3]) + (
            f"_and-{len(changes) - 3}-more" if len(changes) > 3 else "")
        why = ", ".join(f"{k} {_short(old)} -> {_short(new)}" for k, old, new in changes) + \
            f" against {nearest['dir'].name}"
        only_length = all(k in _LENGTH for k, _, _ in changes)
        if only_length and not extend and (nearest["dir"] / "checkpoints" / "last.pt").is_file():
            why += " (extend = True would continue it instead)"
    else:
        label, why = "again", f"{nearest['dir']} has these settings but no checkpoint to continue from"
    stamp = f"{datetime.now():%Y%m%d-%H%M%S}-{re.sub(r'[^A-Za-z0-9._+-]+', '', label.replace(',', '+'))[:60]}"
    run_dir, n = runs_dir / stamp, 2
    while run_dir.exists():  # two new runs within a second
        run_dir, n = runs_dir / f"{stamp}-{n}", n + 1
    return _plan("new", config, run_dir, f"new run {run_dir}: {why}", fresh=True)


def _plan(action: str, config: Config, run_dir: Path, reason: str, fresh: bool = False) -> RunPlan:
    placed = dataclasses.replace(config, train=dataclasses.replace(config.train, out=str(run_dir)))
    return RunPlan(action, run_dir, placed, None if fresh else run_dir, reason)


def _runs(runs_dir: Path) -> list[dict]:
    """The runs in `runs_dir` (its subfolders, and the folder itself when it is a run), newest first."""
    found = []
    for config_file in [runs_dir / "config.json", *runs_dir.glob("*/config.json")]:
        if not config_file.is_file():
            continue
        try:
            saved = Config.from_dict(json.loads(config_file.read_text())).to_dict()
        except (ValueError, TypeError, OSError):
            continue  # a folder another version wrote, or a half-written one: not a run to match
        status_file = config_file.parent / "status.json"
        status = json.loads(status_file.read_text()) if status_file.is_file() else {}
        found.append({"dir": config_file.parent, "flat": flat_settings(saved), "status": status,
                      "mtime": config_file.stat().st_mtime})
    return sorted(found, key=lambda r: r["mtime"], reverse=True)


def _differences(old: dict, new: dict, ignore=()) -> list[tuple[str, object, object]]:
    """(setting, old, new) for each setting that makes the two runs different runs."""
    skip = with_role("write", "watch") | set(ignore)  # what a run writes, and how it is watched, make no new run
    return [(k, old.get(k), new[k]) for k in new if k not in skip and old.get(k) != new[k]]


def _length(flat: dict) -> tuple[str, int]:
    return ("iterations", flat["max_steps"]) if flat["max_steps"] else ("epochs", flat["epochs"])


def _says(length: tuple[str, int]) -> str:
    return f"{length[1]} {length[0]}"


def _shorter(new: tuple[str, int], old: tuple[str, int]) -> bool:
    return new[0] == old[0] and new[1] < old[1]  # epochs against iterations: the run decides (train())


def _iteration(run: dict) -> int:
    """Where the run's checkpoint stands: status.json's last word, else (a killed run) the checkpoint's."""
    if run["status"].get("status") in ("finished", "interrupted") and run["status"].get("iteration") is not None:
        return int(run["status"]["iteration"])
    from ..checkpoint import load_checkpoint
    return int(load_checkpoint(run["dir"])["iteration"])


def _short(value) -> str:
    return f"{value:g}" if isinstance(value, float) else '""' if value == "" else str(value)
