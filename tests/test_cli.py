"""The `dcgan` command line end to end, as a user runs it."""

import os
import subprocess
import sys

import numpy as np
from PIL import Image

from dcgan.checkpoint import load_checkpoint

from conftest import REPO


def dcgan(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "dcgan", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd or REPO, env=env, timeout=600)


def test_train_then_sample(fmnist_root, tmp_path):
    run = tmp_path / "run"
    r = dcgan("train", "--data-root", fmnist_root, "--max-steps", 12, "--batch-size", 32, "--nz", 16,
              "--ngf", 8, "--ndf", 8, "--snapshot-every", 6, "--checkpoint-every", 6, "--out", run,
              "--no-progress", "--no-download", "--lr-decay", 0)
    assert r.returncode == 0, r.stderr
    assert f"done: 12 iterations. Outputs in {run}" in r.stderr and (run / "checkpoints" / "last.pt").is_file()

    # rates and betas given with --resume win over those in the checkpoint's optimiser states (trained without
    # the rates' tail, so the saved rates are the ones given)
    r = dcgan("train", "--resume", run, "--max-steps", 18, "--no-progress", "--lr-g", 1e-3, "--lr-d", 3e-4,
              "--beta2", 0.99)
    assert r.returncode == 0, r.stderr
    state = load_checkpoint(run)
    assert [(g["lr"], g["betas"]) for g in state["opt_g"]["param_groups"]] == [(1e-3, (0.5, 0.99))]
    assert [(g["lr"], g["betas"]) for g in state["opt_d"]["param_groups"]] == [(3e-4, (0.5, 0.99))]
    assert (run / "samples" / "step_0000018.png").is_file()
    assert len((run / "history.csv").read_text().splitlines()) == 1 + 18

    r = dcgan("sample", run / "checkpoints" / "last.pt", "--n", 16, "--out", tmp_path / "grid.png",
              "--seed", 3, "--device", "cpu")
    assert r.returncode == 0, r.stderr
    grid = np.asarray(Image.open(tmp_path / "grid.png"))
    assert grid.shape[:2] == (2 + 2 * 34, 2 + 8 * 34)  # 8 per row, 32 px + 2 px padding
    dcgan("sample", run, "--n", 16, "--out", tmp_path / "again.png", "--seed", 3, "--device", "cpu")
    assert (tmp_path / "grid.png").read_bytes() == (tmp_path / "again.png").read_bytes()

    r = dcgan("sample", run, "--n", 10, "--out", f"{tmp_path / 'many'}/", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    files = sorted((tmp_path / "many").glob("*.png"))
    assert len(files) == 10 and Image.open(files[0]).size == (32, 32)


def test_help_shows_defaults():
    r = dcgan("train", "--help")
    assert r.returncode == 0
    page = " ".join(r.stdout.split())  # argparse wraps lines
    from dcgan.settings.recipes import RECIPES

    gpu = RECIPES["r1-ema-b32"].on_gpu["batch_size"]
    for text in ("--batch-size", f"(default: 32 in the r1-ema-b32 recipe, 128 in classic; {gpu} in r1-ema-b32 on a "
                 "CUDA GPU)", "--lr",
                 "(default: 0.0004 in the r1-ema-b32 recipe, 0.0002 in classic)",
                 "(default: 0.0012 in the r1-ema-b32 recipe, 0.0 in classic)",
                 "(default: 0.25 in the r1-ema-b32 recipe, 0.0 in classic)", "--resume",
                 "--snapshot-every", "--checkpoint-every", "--data-root", "(default: 999)"):
        assert text in page


def test_errors_are_messages_not_tracebacks(tmp_path):
    r = dcgan("train", "--image-size", 50, "--max-steps", 1)
    assert r.returncode == 2 and "--image-size 50 cannot be built" in r.stderr and "nearest: 48, 56" in r.stderr
    assert "Traceback" not in r.stderr
    for flag, value, message in (("--mode-seeking", -1, "--mode-seeking must be >= 0"),
                                 ("--ema-rampup", 2, "--ema-rampup must lie in [0, 1]"),
                                 ("--penalty-clip", "both", "argument --penalty-clip: invalid choice: 'both'")):
        r = dcgan("train", flag, value, "--max-steps", 1)
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
    r = dcgan("train", "--dataset", "cifar10", "--data-root", tmp_path, "--no-download", "--max-steps", 1,
              "--out", tmp_path / "run")
    assert r.returncode == 2 and "was not found" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "run").exists()  # a failed start leaves no empty run folder behind
    r = dcgan("sample", tmp_path / "nothing.pt")
    assert r.returncode == 2 and "no checkpoint at" in r.stderr
