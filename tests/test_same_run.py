"""The same settings and seed train the same run as the package did at BEFORE, a commit made before its
settings and loop were reorganised: history.csv and every weight bit for bit, on the CPU."""

import json
import os
import subprocess
import sys

import pytest
import torch

from conftest import REPO


BEFORE = "a065ed1"  # the package as it was before the reorganisation (settings, recipes, the loop's shape)
RUNS = {  # each recipe's path through the loop: lazy R1 and EMA (16 steps), conditional, a critic
    "default": {},
    "conditional": {"condition": "class"},
    "classic": {"recipe": "classic"},
    "wgan-gp": {"loss": "wgan-gp", "d_steps": 2},
    "rates": {"lr": 1e-4, "beta2": 0.99, "lr_decay": 0.5},
}
TRAIN = """
import json, sys
sys.path.insert(0, sys.argv[1])
from dcgan import Config, train  # the public API: the same names before and after the package was rearranged
settings = json.loads(sys.argv[2])
recipe = settings.pop("recipe", "r1-ema-b32")
train(Config.from_flat(recipe=recipe, **settings))
"""


def _train(package_root, out, settings, data_root):
    flat = {"data_root": str(data_root), "nz": 16, "ngf": 8, "ndf": 8, "batch_size": 32, "max_steps": 18,
            "snapshot_every": 9, "checkpoint_every": 18, "out": str(out), "progress": False, "download": False,
            "deterministic": True, "precision": "fp32", "device": "cpu", **settings}
    r = subprocess.run([sys.executable, "-c", TRAIN, str(package_root), json.dumps(flat)], capture_output=True,
                       text=True, timeout=300, env={**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
                                                    "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-3000:]


@pytest.fixture(scope="module")
def before(tmp_path_factory):
    root = tmp_path_factory.mktemp("before")
    archive = subprocess.run(["git", "-C", str(REPO), "archive", BEFORE, "dcgan"], capture_output=True)
    if archive.returncode != 0:
        pytest.skip(f"commit {BEFORE} is not in this clone (a shallow one?): {archive.stderr.decode()[:200]}")
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive.stdout, check=True)
    return root


@pytest.mark.slow
@pytest.mark.parametrize("name", list(RUNS))
def test_the_same_run_as_before(before, fmnist_root, tmp_path, name):
    _train(before, tmp_path / "before", RUNS[name], fmnist_root)
    _train(REPO, tmp_path / "now", RUNS[name], fmnist_root)
    assert (tmp_path / "now" / "history.csv").read_text() == (tmp_path / "before" / "history.csv").read_text()
    a = torch.load(tmp_path / "before" / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "now" / "checkpoints" / "last.pt", weights_only=True)
    for part in ("G", "D", "G_ema"):
        assert a.keys() == b.keys() - {"precision"} and (part in a) == (part in b)  # checkpoints now say it
        for key in a.get(part, {}):
            assert torch.equal(a[part][key], b[part][key]), (part, key)
    for opt in ("opt_g", "opt_d"):
        assert a[opt]["param_groups"][0]["lr"] == b[opt]["param_groups"][0]["lr"]
        for i, s in a[opt]["state"].items():
            assert all(torch.equal(v, b[opt]["state"][i][k]) for k, v in s.items() if torch.is_tensor(v)), opt
