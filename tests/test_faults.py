"""Real write faults in a subprocess: a file-size limit (as a full disk fails), a folder that vanishes."""

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO, tiny_config

from dcgan.checkpoint import load_checkpoint
from dcgan.config import DataConfig
from dcgan.data import load_dataset
from dcgan.diskio import EXIT_WRITE_FAILED, WriteFailed
from dcgan.train import train

TINY = ["--nz", "16", "--ngf", "8", "--ndf", "8", "--batch-size", "32", "--snapshot-every", "2",
        "--checkpoint-every", "2", "--log-every", "2", "--no-progress", "--no-download", "--precision", "fp32"]


def dcgan_limited(*args, limit: int | None = None, timeout: int = 240, torchrun: bool = False):
    """`python -m dcgan ARGS` (under `torchrun --nproc-per-node 2` with `torchrun`) with writes capped at
    `limit` bytes per file (RLIMIT_FSIZE, SIGXFSZ ignored, so a write past it fails with EFBIG the way a
    full disk fails with ENOSPC)."""
    def cap():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    launch = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"] if torchrun else []
    return subprocess.run([sys.executable, *launch, "-m", "dcgan", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env, preexec_fn=cap if limit else None)


def one_message(r) -> str:
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    errors = [line for line in r.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, r.stderr[-3000:]
    return errors[0]


@pytest.fixture()
def cached_root(fmnist_root):
    load_dataset(DataConfig(data_root=str(fmnist_root), image_size=32, download=False), progress=False)
    return fmnist_root


def test_a_checkpoint_past_the_size_limit_keeps_the_last_one_and_resumes(cached_root, tmp_path):
    run = tmp_path / "run"
    r = dcgan_limited("train", "--data-root", cached_root, "--out", run, "--max-steps", 4, *TINY)
    assert r.returncode == 0, r.stderr[-2000:]
    size = (run / "checkpoints" / "last.pt").stat().st_size
    r = dcgan_limited("train", "--resume", run, "--max-steps", 6, *TINY, limit=size - 512)
    assert r.returncode == EXIT_WRITE_FAILED, r.stderr[-2000:]
    message = one_message(r)
    assert "could not write the checkpoint" in message and "step_0000006.pt" in message
    assert "file-size limit" in message and f"dcgan train --resume {run}" in message
    assert load_checkpoint(run)["iteration"] == 4  # the last complete checkpoint, loadable
    assert not list((run / "checkpoints").glob(".*tmp*"))  # no temporary file left behind
    r = dcgan_limited("train", "--resume", run, "--max-steps", 6, *TINY)  # room again: it goes on
    assert r.returncode == 0, r.stderr[-2000:]
    assert load_checkpoint(run)["iteration"] == 6


def test_a_snapshot_past_the_size_limit_is_one_message(cached_root, tmp_path):
    run = tmp_path / "run"
    r = dcgan_limited("train", "--data-root", cached_root, "--out", run, "--max-steps", 2, *TINY)
    assert r.returncode == 0, r.stderr[-2000:]
    grid = (run / "samples" / "step_0000002.png").stat().st_size
    settings = max((run / "config.json").stat().st_size, (run / "status.json").stat().st_size)
    assert settings + 256 < grid  # a limit between the two lets the run start and stops its first grid
    r = dcgan_limited("train", "--data-root", cached_root, "--out", tmp_path / "second", "--max-steps", 4, *TINY,
                      limit=settings + 256)
    assert r.returncode == EXIT_WRITE_FAILED, r.stderr[-2000:]
    message = one_message(r)
    assert "could not write the sample grid" in message and "step_0000002.png" in message
    assert not (tmp_path / "second" / "samples" / "step_0000002.png").exists()  # no half grid in its place
    assert not list((tmp_path / "second" / "samples").glob(".*tmp*"))


def test_a_cache_cut_short_is_never_taken_for_a_complete_one(fmnist_root, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(fmnist_root / "fashion-mnist", root / "fashion-mnist")  # no cache yet
    r = dcgan_limited("train", "--data-root", root, "--out", tmp_path / "run", "--max-steps", 2, *TINY,
                      limit=200_000)  # the cache of 1024 images at 32 px is 1 MiB
    assert r.returncode == EXIT_WRITE_FAILED, r.stderr[-2000:]
    message = one_message(r)
    assert "could not write the dataset cache" in message and "file-size limit" in message
    assert not list((root / "cache").glob("*.json"))  # no sidecar names the partial file
    assert not list((root / "cache").glob("*tmp*"))
    r = dcgan_limited("train", "--data-root", root, "--out", tmp_path / "run2", "--max-steps", 2, *TINY)
    assert r.returncode == 0, r.stderr[-2000:]
    data = load_dataset(DataConfig(data_root=str(root), image_size=32, download=False), progress=False)
    assert len(data) == 1024


def test_an_export_past_the_size_limit_is_one_message(cached_root, tmp_path):
    run = tmp_path / "run"
    assert dcgan_limited("train", "--data-root", cached_root, "--out", run, "--max-steps", 4, *TINY).returncode == 0
    r = dcgan_limited("sample", run, "--n", 64, "--out", tmp_path / "grid.png", limit=2000)
    assert r.returncode == EXIT_WRITE_FAILED, r.stderr[-2000:]
    message = one_message(r)
    assert "grid.png" in message and "file-size limit" in message
    r = dcgan_limited("animate", run, "--out", tmp_path / "progress.gif", limit=2000)
    assert r.returncode == EXIT_WRITE_FAILED, r.stderr[-2000:]
    assert "progress.gif" in one_message(r)


def test_a_run_folder_that_disappears_mid_run(cached_root, tmp_path):
    run = tmp_path / "run"

    def vanish(step, grid, history):
        if step == 2:
            shutil.rmtree(run)

    with pytest.raises(WriteFailed, match=r"no longer exists .*dcgan train --resume"):
        train(tiny_config(cached_root, run, max_steps=6, snapshot_every=2, checkpoint_every=4), on_snapshot=vanish)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; run the suite as a user")
def test_a_read_only_run_folder(cached_root, tmp_path):
    run = tmp_path / "run"
    assert dcgan_limited("train", "--data-root", cached_root, "--out", run, "--max-steps", 2, *TINY).returncode == 0
    for folder in (run, run / "checkpoints", run / "samples"):
        folder.chmod(0o555)
    try:
        r = dcgan_limited("train", "--resume", run, "--max-steps", 4, *TINY)
        assert r.returncode in (2, EXIT_WRITE_FAILED)
        assert "cannot write" in one_message(r) or "no permission" in one_message(r)
    finally:
        for folder in (run, run / "checkpoints", run / "samples"):
            folder.chmod(0o755)
    assert json.loads((run / "status.json").read_text())["iteration"] == 2


def test_under_torchrun_a_checkpoint_rank_0_cannot_write_ends_every_rank_with_one_message(cached_root, tmp_path):
    """Only rank 0 writes; the other learns at once that its write failed, so both end with exit code 3
    (none left waiting in a collective, none killed by torchrun), one message, and the run resumes."""
    run = tmp_path / "run"
    ddp = ["--device", "cpu", *TINY]
    r = dcgan_limited("train", "--data-root", cached_root, "--out", run, "--max-steps", 4, *ddp, torchrun=True)
    assert r.returncode == 0, r.stderr[-3000:]
    size = (run / "checkpoints" / "last.pt").stat().st_size
    started = time.perf_counter()
    r = dcgan_limited("train", "--resume", run, "--max-steps", 6, *ddp, limit=size - 512, torchrun=True)
    assert time.perf_counter() - started < 60
    assert r.returncode != 0
    codes = [int(c) for c in re.findall(r"exitcode\s*:\s*(-?\d+)", r.stderr)]
    assert codes and set(codes) == {EXIT_WRITE_FAILED}, r.stderr[-3000:]  # every worker, its own code 3
    assert r.stderr.count("dcgan train: error: could not write the checkpoint") == 1, r.stderr[-3000:]
    assert "Traceback" not in r.stderr.split("distributed/elastic")[0]  # none from a worker, only torchrun's summary
    assert "SIGABRT" not in r.stderr and "terminate called" not in r.stderr and "dcgan/train.py" not in r.stderr
    assert load_checkpoint(run)["iteration"] == 4
    assert not list((run / "checkpoints").glob(".*tmp*"))
    r = dcgan_limited("train", "--resume", run, "--max-steps", 6, *ddp, torchrun=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert load_checkpoint(run)["iteration"] == 6
