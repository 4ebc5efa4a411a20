"""Sweeps: many edited runs as one Optuna study; every trial an ordinary run folder, workers side by side or far apart.

The study lives in Optuna's journal file in the sweep's folder (nothing to start; shared storage or any
database URL joins workers on other machines). A worker asks the study for a trial under a file lock, so
the budget is never overrun on one machine, trains it in `SWEEP/trials/NNNN/`, scores it and tells the study.
A trial whose worker died (kill -9, a lost machine) or was interrupted is failed and retried with the same
settings, resuming its run folder from the last checkpoint: no trial trains twice to its end.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..diskio import replacing
from ..extras import require
from ..log import report
from ..settings.config import Config
from ..settings.errors import ConfigError
from ..training.writer import read_status, writer_alive
from .sweep_results import storage_of, sweep_trials, write_results
from .sweep_spec import SweepSpec, read_spec, train_command, trial_settings

STALE_SECONDS = 300  # a worker on another machine whose run has not written its status for this long is gone


def sweep(spec: SweepSpec | dict | str | Path, out: str | Path, *, storage: str = "", workers: int = 1,
          gpus: str = "", study: str = "", progress: bool = True) -> list[dict]:
    """Run (or continue) the sweep `spec` in the folder `out` and return its trials (sweep_trials).

    `storage`: empty for the journal file in `out`; a journal file on shared storage, or a database URL
    (postgresql://, mysql://; sqlite:/// for one worker), to share the study with workers on other machines
    (`study` names it there). `workers` run side by side as processes of their own, CPU threads split between
    them, spread over `gpus` ("0,1"; default: every GPU this process sees; name one GPU to share it).
    Running it again continues the study: finished trials stay, interrupted ones resume."""
    require("sweep", "dcgan sweep")
    spec = spec if isinstance(spec, SweepSpec) else read_spec(spec)
    out = Path(out)
    if not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"--workers must be a positive integer, got {workers!r}")
    if storage.startswith("sqlite") and workers > 1:
        raise ConfigError("SQLite does not take several writers well (Optuna's FAQ: 'database is locked'): use the "
                          "default journal file (no --storage), a journal file on shared storage, or one worker")
    out.mkdir(parents=True, exist_ok=True)
    spec.study = study or spec.study or out.resolve().name
    (out / "spec.json").write_text(json.dumps(spec.to_dict(), indent=1) + "\n")
    handle = open_study(spec, out, storage)
    recover(handle, out)
    _classifier_first(spec)
    if workers == 1:
        work(spec, out, storage, progress=progress)
    else:
        _launch(out, storage, workers, gpus)
    rows = sweep_trials(out, storage, study=spec.study)
    write_results(rows, handle, out)
    return rows


def open_study(spec: SweepSpec, out: Path, storage: str = "", worker: int = 0):
    """The study (created on first use), with the spec's sampler and pruner; each worker seeds its sampler apart."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per trial is ours
    name, storage = spec.study or out.resolve().name, storage_of(out, storage)
    try:  # a sampler's draws start from its seed: a new worker, or a rerun, must not repeat earlier draws
        done = len(optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False))
    except KeyError:  # the study's first command
        done = 0
    seed = spec.seed * 1_000_003 + worker * 7919 + done
    # a grid's points are queued one by one by the worker that takes each (work()); nothing is left to sample
    sampler = (optuna.samplers.TPESampler(seed=seed) if spec.sampler == "tpe"
               else optuna.samplers.RandomSampler(seed=seed))
    pruner = {"none": optuna.pruners.NopPruner(), "median": optuna.pruners.MedianPruner(n_startup_trials=2),
              "halving": optuna.pruners.SuccessiveHalvingPruner()}[spec.pruner]
    return optuna.create_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner, direction="minimize",
                               load_if_exists=True)


def work(spec: SweepSpec, out: Path, storage: str = "", *, worker: int = 0, progress: bool = True) -> None:
    """One worker: ask for a trial, train and score it, tell the study; until the budget or the time is spent."""
    from optuna.trial import TrialState

    study = open_study(spec, out, storage, worker)
    deadline = time.time() + spec.minutes * 60 if spec.minutes else None
    budget = min(spec.trials, spec.grid_size()) if spec.sampler == "grid" else spec.trials
    while True:
        with _locked(_lock_file(out, storage)):  # count and ask as one step: workers never overrun the budget
            states = [t.state for t in study.get_trials(deepcopy=False)]
            waiting = TrialState.WAITING in states  # a retry to run: it counts already
            started = sum(s in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING) for s in states)
            if not waiting and (started >= budget or (deadline and time.time() > deadline)):
                return
            if spec.sampler == "grid" and not waiting:
                study.enqueue_trial(_next_point(spec, study, worker))
            trial = study.ask()
            trial.set_user_attr("worker", {"pid": os.getpid(), "host": socket.gethostname()})
        state, value, stop = run_trial(spec, out, trial, progress=progress)
        if state == TrialState.COMPLETE:
            study.tell(trial, value)
        else:
            study.tell(trial, state=state)
        if stop:
            return


def run_trial(spec: SweepSpec, out: Path, trial, *, progress: bool = True):
    """Train one trial in its run folder (a retry resumes the folder it continues) and score it: (state, FID, stop)."""
    from optuna.trial import TrialState

    from ..evaluation.evaluate import evaluate_checkpoint
    from ..training.divergence import TrainingDiverged
    from ..training.loop import train

    params = {name: _suggest(trial, name, entry) for name, entry in spec.space.items()}
    resumes = trial.user_attrs.get("resumes", "")
    run_dir = Path(resumes) if resumes and Path(resumes).is_dir() else out / "trials" / f"{trial.number:04d}"
    recipe, flat = trial_settings(spec, params)
    trial.set_user_attr("run", str(run_dir.resolve()))
    trial.set_user_attr("command", train_command(recipe, flat))
    pruned, started = [], time.time()

    def on_eval(step: int, row: dict) -> bool:
        trial.report(next(v for k, v in row.items() if k.startswith("fid_")), step)
        if trial.should_prune():
            pruned.append(step)
        return bool(pruned)

    try:
        config = Config.from_flat(recipe=recipe, **{**flat, "out": str(run_dir), "progress": progress})
        resume = run_dir if (run_dir / "checkpoints" / "last.pt").is_file() else None
        train(config, resume=resume, on_eval=on_eval if spec.pruner != "none" else None)
    except (ConfigError, ValueError, TrainingDiverged) as e:  # this trial's own trouble: the sweep goes on
        trial.set_user_attr("error", str(e)[:400])
        report(f"trial {trial.number} failed: {e}")
        return TrialState.FAIL, None, False
    trial.set_user_attr("minutes", round((time.time() - started) / 60, 2))
    status = read_status(run_dir)
    if pruned:
        _mark(run_dir, status, "pruned", f"pruned by the sweep's {spec.pruner} pruner at iteration {pruned[0]}")
        report(f"trial {trial.number} pruned at iteration {pruned[0]}: {_said(params)}")
        return TrialState.PRUNED, None, False
    if status.get("status") != "finished":  # Ctrl-C: a checkpoint is there; the next run of the sweep resumes it
        trial.set_user_attr("interrupted", True)
        return TrialState.FAIL, None, True
    metrics = evaluate_checkpoint(run_dir, n=spec.eval_n, features=spec.features,
                                  classifier=config.train.classifier or None, device=config.train.device)["metrics"]
    key = next(k for k in metrics if k.startswith("fid_"))
    trial.set_user_attr("metric", key)
    report(f"trial {trial.number}: {key} {metrics[key]:.2f} in {trial.user_attrs['minutes']:.1f} min: {_said(params)}")
    return TrialState.COMPLETE, metrics[key], False


def recover(study, out: Path) -> list[int]:
    """Trials whose worker is gone (killed, its machine lost) are failed; each failed trial that was lost or
    interrupted is queued again with its settings, to resume its run folder. Returns the trials queued again."""
    from optuna.trial import TrialState

    storage = study._storage  # Optuna's public API has no "fail this running trial"; its storages do
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if _worker_gone(t):
            storage.set_trial_user_attr(t._trial_id, "lost", True)
            storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    queued = []
    for t in trials:
        if t.state == TrialState.FAIL and t.number not in retried and (t.user_attrs.get("lost")
                                                                       or t.user_attrs.get("interrupted")):
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number, "resumes": t.user_attrs.get("run", "")})
            queued.append(t.number)
            why = "its worker is gone" if t.user_attrs.get("lost") else "it was interrupted"
            report(f"trial {t.number} stopped before its end ({why}): queued again, to resume {t.user_attrs.get('run')}")
    return queued


def _classifier_first(spec: SweepSpec) -> None:
    """The domain classifier the trials are scored with, trained now when missing: once, not by every worker."""
    if spec.features != "classifier" or spec.settings.get("classifier"):
        return
    from ..data.dataset import NATIVE_CHANNELS
    from ..evaluation.features import ensure_classifier

    recipe, flat = trial_settings(spec, {})
    config = Config.from_flat(recipe=recipe, **flat)
    ensure_classifier(config.data, config.data.channels or NATIVE_CHANNELS[config.data.dataset],
                      device=config.train.device)


def _next_point(spec: SweepSpec, study, worker: int) -> dict:
    """The grid's next point that no trial has taken (finished, running or queued), in the spec's seeded order."""
    import itertools
    import random

    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    taken = [t.system_attrs.get("fixed_params", {}) if t.state == TrialState.WAITING else t.params
             for t in trials if t.state != TrialState.FAIL]
    points = [dict(zip(spec.space, values)) for values in itertools.product(*spec.space.values())]
    random.Random(spec.seed).shuffle(points)
    return next(p for p in points if p not in taken)


def _suggest(trial, name: str, entry: Any):
    if isinstance(entry, list):
        return trial.suggest_categorical(name, entry)
    low, high, log = entry["low"], entry["high"], bool(entry.get("log"))
    whole = isinstance(low, int) and isinstance(high, int) and name != "recipe"
    return trial.suggest_int(name, low, high, log=log) if whole else trial.suggest_float(name, low, high, log=log)


def _worker_gone(trial) -> bool:
    worker = trial.user_attrs.get("worker") or {}
    if worker.get("host") == socket.gethostname():  # its process, as a run's writer is checked
        return bool(worker.get("pid")) and not writer_alive({"status": "running", **worker})
    status = read_status(Path(trial.user_attrs.get("run", ""))) if trial.user_attrs.get("run") else {}
    return bool(status) and time.time() - float(status.get("time", time.time())) > STALE_SECONDS


def _mark(run_dir: Path, status: dict, state: str, message: str) -> None:
    """status.json says what the sweep made of the run (pruned): `dcgan runs` and the watchers show it."""
    if not status:
        return
    with replacing(run_dir / "status.json") as tmp:
        tmp.write_text(json.dumps({**status, "status": state, "message": message}, indent=1) + "\n")


def _said(params: dict) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def _lock_file(out: Path, storage: str) -> Path:
    """Beside the journal file, so every worker that shares it (several commands, machines on shared storage
    whose file system honours flock) takes turns; for a database, beside this machine's sweep folder."""
    if storage and "://" not in storage:
        return Path(storage).with_name(Path(storage).name + ".lock")
    return out / ".ask.lock"


@contextmanager
def _locked(path: Path):
    import fcntl

    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _launch(out: Path, storage: str, workers: int, gpus: str) -> None:
    """`workers` processes of `dcgan sweep --worker I`, each with its share of the CPU's threads and a GPU of
    `gpus` in turn; Ctrl-C asks each to stop after its current iteration (its trial resumes next time)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = max(1, cores // workers)
    visible = [g for g in (gpus or os.environ.get("CUDA_VISIBLE_DEVICES", "")).split(",") if g.strip()]
    if not visible and not gpus:
        import torch

        visible = [str(i) for i in range(torch.cuda.device_count())]
    procs = []
    for i in range(workers):
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        if visible:
            env["CUDA_VISIBLE_DEVICES"] = visible[i % len(visible)]
        cmd = [sys.executable, "-m", "dcgan", "sweep", str(out / "spec.json"), "--out", str(out), "--worker", str(i)]
        procs.append(subprocess.Popen(cmd + (["--storage", storage] if storage else []), env=env,
                                      start_new_session=True))  # one Ctrl-C each, from here
    report(f"{workers} workers, {threads} CPU thread{'s' * (threads > 1)} each"
           + (f", on GPU {', '.join(visible[i % len(visible)] for i in range(workers))}" if visible else ""))
    try:
        for p in procs:
            p.wait()
    except KeyboardInterrupt:
        for p in procs:
            p.send_signal(signal.SIGINT)
        for p in procs:
            p.wait()
        report("stopped: each worker's trial keeps its checkpoint; run the sweep again to continue")
