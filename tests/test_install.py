"""`pip install .` without extras, in a fresh venv: training, sampling and export work; what needs an extra
says which one, once, with exit 2."""

import os
import subprocess
import sys
from importlib.metadata import distribution
from pathlib import Path

import pytest

from conftest import REPO


pytestmark = pytest.mark.slow


def _base_closure() -> list:
    """The distributions `pip install dcgan` brings: the package's requirements without extras, and theirs."""
    from packaging.requirements import Requirement

    seen, todo, found = set(), [Requirement(r) for r in distribution("dcgan").requires or []], []
    todo = [r for r in todo if not r.marker or r.marker.evaluate({"extra": ""})]
    while todo:
        req = todo.pop()
        key = req.name.lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        dist = distribution(req.name)
        found.append(dist)
        todo += [r for r in map(Requirement, dist.requires or []) if not r.marker or r.marker.evaluate({"extra": ""})]
    return found


@pytest.fixture(scope="module")
def bare_venv(tmp_path_factory):
    """A new venv holding the base dependencies (linked to this venv's installed copies: the same files,
    no download) and dcgan installed from this checkout with `pip install --no-deps .`, no extras."""
    venv = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    for dist in _base_closure() + [distribution("setuptools")]:  # setuptools: to build dcgan's wheel
        base = Path(dist.locate_file(""))
        for top in {Path(f).parts[0] for f in dist.files or [] if not str(f).startswith("..")}:
            if (base / top).exists() and not (site / top).exists():
                (site / top).symlink_to(base / top)
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
                        "--no-deps", "--no-build-isolation", "--no-index", str(REPO)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    for extra_module in ("torchmetrics", "torch_fidelity", "tensorboard", "ipykernel", "papermill"):
        assert not (site / extra_module).exists(), extra_module
    return venv


def bare(venv, *args, cwd):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([str(venv / "bin" / "dcgan"), *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env={**env, "OMP_NUM_THREADS": "1"}, timeout=600)


def test_without_extras_it_trains_samples_and_exports(bare_venv, fmnist_root, tmp_path):
    run = tmp_path / "run"
    r = bare(bare_venv, "train", "--data-root", fmnist_root, "--max-steps", 4, "--batch-size", 32, "--nz", 16,
             "--ngf", 8, "--ndf", 8, "--snapshot-every", 2, "--checkpoint-every", 2, "--out", run, "--no-progress",
             "--no-download", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "done: 4 iterations" in r.stderr
    r = bare(bare_venv, "sample", run, "--n", 16, "--out", tmp_path / "grid.png", cwd=tmp_path)
    assert r.returncode == 0 and (tmp_path / "grid.png").is_file(), r.stderr[-3000:]
    r = bare(bare_venv, "export", run, "--out", tmp_path / "G.safetensors", cwd=tmp_path)
    assert r.returncode == 0 and (tmp_path / "G.safetensors").is_file(), r.stderr[-3000:]
    # the installed copy is the one that ran, not this checkout
    probe = subprocess.run([str(bare_venv / "bin" / "python"), "-c", "import dcgan; print(dcgan.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert str(bare_venv) in probe.stdout and str(REPO) not in probe.stdout


def test_what_needs_an_extra_names_it(bare_venv, fmnist_root, tmp_path):
    run = tmp_path / "run"
    assert bare(bare_venv, "train", "--data-root", fmnist_root, "--max-steps", 2, "--batch-size", 32, "--nz", 16,
                "--ngf", 8, "--ndf", 8, "--out", run, "--no-progress", "--no-download", cwd=tmp_path).returncode == 0
    cases = [(["evaluate", run, "--n", 100], "dcgan evaluate needs the 'eval' extra"),
             (["train", "--data-root", fmnist_root, "--max-steps", 4, "--eval-every", 2, "--out", tmp_path / "e"],
              "--eval-every (FID during training) needs the 'eval' extra"),
             (["train", "--data-root", fmnist_root, "--max-steps", 4, "--tensorboard", "--out", tmp_path / "t"],
              "--tensorboard needs the 'tensorboard' extra")]
    classifiers = set((fmnist_root / "classifiers").glob("*"))
    for args, message in cases:
        r = bare(bare_venv, *args, cwd=tmp_path)
        assert r.returncode == 2, r.stderr[-3000:]
        assert message in r.stderr and "pip install 'dcgan[" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert set((fmnist_root / "classifiers").glob("*")) == classifiers  # it stopped before training a classifier
    assert not (tmp_path / "e").exists() and not (tmp_path / "t").exists()  # and before starting a run
