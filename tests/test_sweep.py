"""Sweeps: a spec's errors, trials as run folders, workers side by side and from two commands, a worker killed
with -9, reruns that continue, pruning, and optuna-dashboard on the study in a real browser."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dcgan.settings.errors import ConfigError

from conftest import REPO

optuna = pytest.importorskip("optuna")

from dcgan.lab.sweep import open_study, sweep_trials, work  # noqa: E402
from dcgan.lab.sweep_spec import SweepSpec, read_spec  # noqa: E402


@pytest.fixture(scope="module")
def classifier(fmnist_root, tmp_path_factory):
    from dcgan import DataConfig
    from dcgan.evaluation.features import train_classifier

    path = tmp_path_factory.mktemp("classifier") / "fmnist.pt"
    train_classifier(DataConfig(data_root=str(fmnist_root), download=False), epochs=1, out=path, device="cpu",
                     progress=False)
    return path


def tiny(fmnist_root, classifier, **more):
    """Settings of a trial that trains in a few seconds on the CPU."""
    return {"data-root": str(fmnist_root), "download": False, "device": "cpu", "nz": 16, "ngf": 8, "ndf": 8,
            "max-steps": 20, "snapshot-every": 10, "checkpoint-every": 10, "classifier": str(classifier),
            "precision": "fp32", **more}


def write_spec(path: Path, **spec) -> Path:
    path.write_text(json.dumps(spec))
    return path


def dcgan(*args, timeout=600, **kwargs):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "dcgan", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env, **kwargs)


def start_sweep(spec: Path, out: Path, *more, **popen) -> subprocess.Popen:
    """`dcgan sweep` in a process of its own, to kill or interrupt."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "dcgan", "sweep", str(spec), "--out", str(out), *map(str, more)],
                            env=env, **popen)


def folders(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "trials").iterdir() if (p / "config.json").is_file())


@pytest.mark.parametrize("spec, message", [
    ({"space": {"colour": [1, 2]}}, "space: 'colour' is not a setting; valid ones"),
    ({"space": {"lr": {"low": 1e-3, "high": 1e-4}}}, "space entry 'lr' is an empty range: low (0.001) must be below"),
    ({"space": {"lr": []}}, "space entry 'lr' is an empty list"),
    ({"space": {"lr": [1e-4, -1.0]}}, "space entry 'lr', value -1.0: --lr must be positive, got -1.0"),
    ({"space": {"loss": ["bce", "wasserstein"]}}, "value 'wasserstein': --loss 'wasserstein' is not known"),
    ({"space": {"lr": {"low": 1e-4, "high": 1e-3}}, "sampler": "grid"}, "sampler grid needs a list of values"),
    ({"space": {"lr": [1e-4]}, "pruner": "median"}, "pruner median: trials report their FID every --eval-every"),
    ({"space": {"out": ["a", "b"]}}, "'out' says where a run lives or how it is watched"),
    ({"space": {"lr": [1e-4]}, "trails": 3}, "unknown keys ['trails']"),
    ({"space": {"lr": [1e-4]}, "settings": {"lr": 1e-3}}, "lr is both searched (space) and fixed (settings)"),
    ({"space": {"lr": [1e-4]}, "sampler": "bayes"}, "sampler 'bayes' is not known; choose one of tpe, random, grid"),
])
def test_a_bad_spec_is_one_message_naming_the_entry(spec, message):
    with pytest.raises(ConfigError) as e:
        read_spec(spec)
    assert message in str(e.value)


def test_a_bad_spec_file_through_the_cli_stops_before_any_trial(tmp_path):
    out = tmp_path / "sweep"
    spec = write_spec(tmp_path / "bad.json", space={"lr": {"low": 1, "high": 1}})
    r = dcgan("sweep", spec, "--out", out)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [f"dcgan sweep: error: {spec}: space entry 'lr' is an empty range: low (1) "
                                             "must be below high (1)"]
    assert not out.exists()
    (tmp_path / "broken.yaml").write_text("space: {lr: [1e-4\n")
    r = dcgan("sweep", tmp_path / "broken.yaml", "--out", out)
    assert r.returncode == 2 and "is not valid YAML" in r.stderr and "Traceback" not in r.stderr


def test_without_the_extra_the_command_names_it(monkeypatch, tmp_path, capsys):
    from dcgan import extras
    from dcgan.cli import main

    real = extras.find_spec
    monkeypatch.setattr(extras, "find_spec", lambda name: None if name == "optuna" else real(name))
    spec = write_spec(tmp_path / "s.json", space={"lr": [1e-4]})
    assert main(["sweep", str(spec), "--out", str(tmp_path / "out")]) == 2
    assert "pip install 'dcgan[sweep]'" in capsys.readouterr().err


@pytest.mark.slow
def test_eight_trials_with_two_workers_then_a_rerun_continues(fmnist_root, classifier, tmp_path):
    out = tmp_path / "sweep"
    spec = write_spec(tmp_path / "spec.json", space={"lr": {"low": 1e-4, "high": 1e-3, "log": True},
                                                       "batch-size": [16, 32]},
                      settings=tiny(fmnist_root, classifier), trials=8, eval_n=100, sampler="tpe")
    r = dcgan("sweep", spec, "--out", out, "--workers", 2)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = sweep_trials(out)
    assert len(rows) == 8 and all(r["state"] == "complete" and r["fid"] > 0 for r in rows)
    assert folders(out) == [f"{i:04d}" for i in range(8)]  # one ordinary run folder per trial
    assert {json.loads((out / "trials" / f / "status.json").read_text())["status"] for f in folders(out)} == {"finished"}
    assert "2 workers, 1 CPU thread each" in r.stderr
    best = json.loads((out / "best.json").read_text())
    assert round(best["fid"], 3) == min(r["fid"] for r in rows) and best["command"].startswith("dcgan train --recipe r1-ema-b32")
    assert Path(best["config"]).is_file() and (out / "trials.csv").read_text().count("\n") == 9
    # the same command again: the study is there and its budget spent, so nothing trains
    again = dcgan("sweep", spec, "--out", out)
    assert again.returncode == 0 and "done:" not in again.stderr + again.stdout and len(sweep_trials(out)) == 8
    # a larger budget continues it: trial numbers go on, the earlier folders are untouched
    more = dcgan("sweep", spec, "--out", out, "--trials", 9)
    assert more.returncode == 0, more.stderr[-2000:]
    assert folders(out) == [f"{i:04d}" for i in range(9)] and len(sweep_trials(out)) == 9


@pytest.mark.slow
def test_two_commands_on_one_journal_share_the_study(fmnist_root, classifier, tmp_path):
    """Two `dcgan sweep` commands started apart, one journal file: two machines on shared storage."""
    journal = tmp_path / "shared" / "study.journal"
    spec = write_spec(tmp_path / "spec.json", space={"lr": {"low": 1e-4, "high": 1e-3, "log": True}},
                      settings=tiny(fmnist_root, classifier), trials=6, eval_n=100, sampler="random")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "dcgan", "sweep", str(spec), "--out", str(tmp_path / name),
                               "--storage", str(journal), "--study", "shared"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for name in ("machine-a", "machine-b")]
    results = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e[-1500:] for _, e in results]
    rows = sweep_trials(tmp_path / "machine-a", str(journal), study="shared")
    assert len(rows) == 6 and all(r["state"] == "complete" for r in rows)
    runs = [r["run"] for r in rows]
    assert len(set(runs)) == 6  # no trial trained twice
    on_a = [r for r in runs if "/machine-a/" in r]
    assert 0 < len(on_a) < 6 and len(folders(tmp_path / "machine-a")) + len(folders(tmp_path / "machine-b")) == 6


@pytest.mark.slow
def test_a_worker_killed_mid_trial_is_resumed_by_the_next_run(fmnist_root, classifier, tmp_path):
    out = tmp_path / "sweep"
    spec = write_spec(tmp_path / "spec.json", space={"lr": [4e-4, 2e-4]}, sampler="grid", trials=2, eval_n=100,
                      settings=tiny(fmnist_root, classifier, **{"max-steps": 60}))
    p = start_sweep(spec, out, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = out / "trials" / "0000" / "checkpoints" / "step_0000020.pt"
    deadline = time.time() + 300
    while not first.is_file() and time.time() < deadline and p.poll() is None:
        time.sleep(0.2)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert first.is_file() and sweep_trials(out)[0]["state"] == "running"  # what a dead worker leaves
    r = dcgan("sweep", spec, "--out", out)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "trial 0 stopped before its end (its worker is gone): queued again" in r.stderr
    rows = {row["trial"]: row for row in sweep_trials(out)}
    assert rows[0]["state"] == "fail" and rows[0]["note"] == "continued as trial 1"
    assert rows[1]["state"] == "complete" and rows[1]["run"] == rows[0]["run"]  # resumed in the same folder
    assert [r["state"] for r in rows.values()].count("complete") == 2 and folders(out) == ["0000", "0002"]
    history = (out / "trials" / "0000" / "history.csv").read_text().splitlines()
    assert [int(line.split(",")[0]) for line in history[1:]] == list(range(1, 61))  # one run, not two


@pytest.mark.slow
def test_a_trial_worse_than_the_median_is_pruned_at_an_evaluation(fmnist_root, classifier, tmp_path):
    out = tmp_path / "sweep"
    spec = SweepSpec(space={"lr": [4e-4, 1e-9]}, pruner="median", trials=3, eval_n=100,
                     settings=tiny(fmnist_root, classifier, **{"max-steps": 40, "eval-every": 20, "eval-n": 100,
                                                              "progress": False}))
    spec.study = "pruning"
    study = open_study(spec, out)
    for lr in (4e-4, 4e-4, 1e-9):  # two that learn, then one that cannot
        study.enqueue_trial({"lr": lr})
    (out / "spec.json").write_text(json.dumps(spec.to_dict()))
    work(spec, out, progress=False)
    rows = sweep_trials(out)
    assert [r["state"] for r in rows] == ["complete", "complete", "pruned"]
    status = json.loads((Path(rows[2]["run"]) / "status.json").read_text())
    assert status["status"] == "pruned" and status["iteration"] == 20 and "median pruner" in status["message"]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None and shutil.which("chromium-browser") is None,
                    reason="Chromium is not installed (apt-get install chromium; .ci/run installs it)")
def test_the_dashboard_shows_the_study_while_four_workers_write_it(fmnist_root, classifier, tmp_path):
    pytest.importorskip("optuna_dashboard")
    from playwright.sync_api import sync_playwright

    out = tmp_path / "sweep"
    spec = write_spec(tmp_path / "spec.json", space={"lr": {"low": 1e-4, "high": 1e-3, "log": True}},
                      settings=tiny(fmnist_root, classifier), trials=4, eval_n=100, study="dash")
    out.mkdir()
    journal = out / "study.journal"
    open_study(read_spec(spec), out)  # the study exists before the dashboard opens it
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    board = subprocess.Popen([str(Path(sys.executable).parent / "optuna-dashboard"), str(journal), "--port", str(port),
                              "--storage-class", "JournalFileStorage"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=shutil.which("chromium") or shutil.which("chromium-browser"),
                                         args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page()
            for _ in range(100):  # the server takes a moment to listen
                try:
                    page.goto(f"http://127.0.0.1:{port}/dashboard")
                    break
                except Exception:
                    time.sleep(0.2)
            run = subprocess.Popen([sys.executable, "-m", "dcgan", "sweep", str(spec), "--out", str(out), "--workers",
                                    "4"], env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
            while run.poll() is None:  # the page polls the storage while the workers write it
                page.reload()
                time.sleep(1)
            _, err = run.communicate()
            assert run.returncode == 0 and "Traceback" not in err, err[-2000:]
            page.goto(f"http://127.0.0.1:{port}/dashboard")
            page.wait_for_function("document.body.innerText.includes('dash')", timeout=30_000)  # the study
            page.goto(f"http://127.0.0.1:{port}/dashboard/studies/0/trials")
            page.wait_for_function("document.body.innerText.includes('4 Trials')", timeout=30_000)  # its trials
            text = page.inner_text("body")
            browser.close()
    finally:
        board.terminate()
        log = board.communicate(timeout=30)[0]
    assert "Traceback" not in log and "Error" not in log, log[-2000:]  # the dashboard read a journal being written
    assert all(f"Trial {i}" in text for i in range(4)) and text.count("Complete") >= 4
    assert [r["state"] for r in sweep_trials(out)] == ["complete"] * 4


@pytest.mark.slow
def test_ctrl_c_stops_every_worker_with_a_checkpoint_and_the_next_run_resumes(fmnist_root, classifier, tmp_path):
    out = tmp_path / "sweep"
    spec = write_spec(tmp_path / "spec.json", space={"lr": [4e-4, 2e-4]}, sampler="grid", trials=2, eval_n=100,
                      settings=tiny(fmnist_root, classifier, **{"max-steps": 400}))
    p = start_sweep(spec, out, "--workers", 2, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while len(list(out.glob("trials/*/checkpoints/step_0000010.pt"))) < 2 and time.time() < deadline:
        time.sleep(0.2)
    p.send_signal(signal.SIGINT)  # a terminal's Ctrl-C
    _, err = p.communicate(timeout=120)
    assert p.returncode == 0 and "Traceback" not in err, err[-2000:]
    assert "stopped: each worker's trial keeps its checkpoint" in err
    for run in (out / "trials").iterdir():
        status = json.loads((run / "status.json").read_text())
        assert status["status"] == "interrupted" and 0 < status["iteration"] < 400
        assert (run / "checkpoints" / "last.pt").is_file()
    assert [r["state"] for r in sweep_trials(out)] == ["fail", "fail"]
    r = dcgan("sweep", spec, "--out", out, "--workers", 2)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stderr.count("was interrupted): queued again") == 2
    rows = sweep_trials(out)
    assert sorted(r["state"] for r in rows) == ["complete", "complete", "fail", "fail"] and len(folders(out)) == 2
