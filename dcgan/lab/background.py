"""Training in a process of its own, so a notebook's kernel stays free: start it, ask it to stop, wait."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


class TrainingProcess:
    """A run trained by `dcgan train` in a process of its own; its messages go to `log`. `started_at` is when
    it was launched: a watcher takes no status written before it as this process's word."""

    def __init__(self, command: list[str], log: Path | None, run_dir: Path | None = None):
        self.command, self.log, self.run_dir = command, log, run_dir
        self.process, self.started_at = None, time.time()
        if command:
            out = open(log, "a") if log else subprocess.DEVNULL  # a continued run's log goes on
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            # a session of its own: the kernel's interrupt (■) and restart do not reach it; stop() does
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def request_stop(self) -> None:
        """Ask the run to stop as Ctrl-C does (it ends its iteration and writes a checkpoint); return at once."""
        if self.running:
            self.process.send_signal(signal.SIGINT)

    def stop(self, timeout: float = 300) -> int | None:
        """request_stop(), then wait for the process to end."""
        self.request_stop()
        return self.wait(timeout)

    def wait(self, timeout: float | None = None) -> int | None:
        return self.process.wait(timeout) if self.process is not None else 0


def start_training(plan, *, python: str = sys.executable) -> TrainingProcess:
    """Train what `plan` (rerun.plan_run) decided in a separate `dcgan train` process and return at once:
    a new run from its settings (RUN/settings.json), or the run to continue or extend; a finished run starts
    nothing. Its messages go to RUN/train.log; watch(plan.run_dir, training=...) shows it, with a stop button."""
    if plan.action in ("finished", "training"):  # nothing to train here: it ended, or another process trains it
        return TrainingProcess([], None, plan.run_dir)
    tc, run_dir = plan.config.train, Path(plan.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    command = [python, "-m", "dcgan", "train", "--no-progress"]
    if plan.resume is not None:  # the checkpoint has the settings; the length is what may have grown
        command += ["--resume", str(plan.resume), "--epochs", str(tc.epochs), "--max-steps", str(tc.max_steps)]
    else:
        settings = run_dir / "settings.json"  # what --config starts it from
        settings.write_text(json.dumps(plan.config.to_dict()))
        command += ["--config", str(settings), "--out", str(run_dir)]
    return TrainingProcess(command, run_dir / "train.log", run_dir)
