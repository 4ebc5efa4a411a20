"""The run folder before a fresh start: an earlier run in it is set aside, a folder of other files refused."""

from __future__ import annotations

import time
from pathlib import Path

from ..settings.errors import ConfigError


# what a notebook's background launch (watch.start_training) writes into the run folder before training starts
LAUNCH_FILES = frozenset({"train.log", "settings.json"})


def set_aside_previous_run(run_dir: Path) -> Path | None:
    """A fresh start in a folder that holds an earlier run moves that run to a sibling folder first,
    so its checkpoints survive and its snapshots do not leak into the new run's animation.

    Returns where it went (None when there was nothing to move). A non-empty folder that is not a
    run folder is refused rather than moved: `--out` probably names the wrong place.
    """
    if not run_dir.is_dir() or not any(p.name not in LAUNCH_FILES for p in run_dir.iterdir()):
        return None
    if not ((run_dir / "config.json").is_file() or (run_dir / "checkpoints").is_dir()):
        raise ConfigError(f"--out {run_dir} is a folder with other files in it, not a run folder; "
                          "choose a new or empty folder for the run")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = run_dir.with_name(f"{run_dir.name}.replaced-{stamp}")
    n = 1
    while target.exists():  # two fresh starts within a second
        n += 1
        target = run_dir.with_name(f"{run_dir.name}.replaced-{stamp}-{n}")
    try:
        run_dir.rename(target)
    except OSError as e:
        raise ConfigError(f"{run_dir} holds an earlier run and it could not be moved aside ({e.strerror or e}); "
                          f"continue it with --resume {run_dir}, or choose another --out") from None
    return target
