"""Real write faults in a subprocess: a file-size limit (as a full disk fails), a folder that vanishes."""

import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from dcgan.checkpoint import load_checkpoint
from dcgan.data.dataset import load_dataset
from dcgan.diskio import EXIT_WRITE_FAILED, WriteFailed
from dcgan.settings.config import DataConfig
from dcgan.training.loop import train

from conftest import REPO, file_size_limit, tiny_config


TINY = ["--nz", "16", "--ngf", "8", "--ndf", "8", "--batch-size", "32", "--snapshot-every", "2",
        "--checkpoint-every", "2", "--log-every", "2", "--no-progress", "--no-download", "--precision", "fp32"]


def dcgan_limited(*args, limit: int | None = None, timeout: int = 240, torchrun: bool = False):
    """`python -m dcgan ARGS` (under `torchrun --nproc-per-node 2` with `torchrun`) with writes capped at
    `limit` bytes per file (RLIMIT_FSIZE, SIGXFSZ ignored, so a write past it fails with EFBIG the way a
    full disk fails with ENOSPC)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    launch = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"] if torchrun else []
    return subprocess.run([sys.executable, *launch, "-m", "dcgan", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env, preexec_fn=file_size_limit(limit) if limit else None)


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


def without_root_powers():
    """A preexec_fn: a process run as root (containers, CI) loses root's power to write into any folder
    (CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH dropped from its bounding set, so also after exec), and
    folder permissions bind it as they bind a user. Nothing to do for a user."""
    if os.geteuid() != 0:
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def test_a_read_only_run_folder(cached_root, tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}

    def dcgan(*args):
        return subprocess.run([sys.executable, "-m", "dcgan", *map(str, args)], capture_output=True, text=True,
                              timeout=240, env=env, preexec_fn=without_root_powers)

    r = dcgan("train", "--data-root", cached_root, "--out", run, "--max-steps", 2, *TINY)
    assert r.returncode == 0, r.stderr[-2000:]
    for folder in (run, run / "checkpoints", run / "samples"):
        folder.chmod(0o555)
    try:
        r = dcgan("train", "--resume", run, "--max-steps", 4, *TINY)
        assert r.returncode == EXIT_WRITE_FAILED, r.stderr[-2000:]
        message = one_message(r)
        assert f"cannot write to the run folder {run}" in message and "no permission to write" in message
    finally:
        for folder in (run, run / "checkpoints", run / "samples"):
            folder.chmod(0o755)
    assert json.loads((run / "status.json").read_text())["iteration"] == 2  # nothing of the run lost
    assert load_checkpoint(run)["iteration"] == 2
    r = dcgan("train", "--resume", run, "--max-steps", 4, *TINY)  # writable again: it goes on
    assert r.returncode == 0, r.stderr[-2000:]
    assert load_checkpoint(run)["iteration"] == 4


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
    # none from a worker: any traceback is torchrun's own summary (older torchruns print the launcher's)
    assert not re.search(r'File "[^"]*dcgan/', r.stderr), r.stderr[-3000:]
    assert "SIGABRT" not in r.stderr and "terminate called" not in r.stderr and "dcgan/training/loop.py" not in r.stderr
    assert load_checkpoint(run)["iteration"] == 4
    assert not list((run / "checkpoints").glob(".*tmp*"))
    r = dcgan_limited("train", "--resume", run, "--max-steps", 6, *ddp, torchrun=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert load_checkpoint(run)["iteration"] == 6


def test_tensorboard_events_past_the_size_limit_are_one_message_and_the_run_resumes(cached_root, tmp_path):
    """TensorBoard writes from a thread of its own; its failed write still ends the run with one message."""
    pytest.importorskip("tensorboard")
    run = tmp_path / "run"
    args = ["--max-steps", 40, *TINY, "--snapshot-every", 1, "--log-every", 1, "--checkpoint-every", 4,
            "--tensorboard"]
    r = dcgan_limited("train", "--data-root", cached_root, "--out", run, *args, limit=600_000)  # a checkpoint: 0.5 MB
    assert r.returncode == EXIT_WRITE_FAILED, r.stderr[-3000:]
    message = one_message(r)
    assert "could not write the TensorBoard events in" in message and "file-size limit" in message
    assert "Exception in thread" not in r.stderr
    step = load_checkpoint(run)["iteration"]
    assert 4 <= step < 40  # stopped mid-run, with its last complete checkpoint
    r = dcgan_limited("train", "--resume", run, *args)
    assert r.returncode == 0, r.stderr[-2000:]
    assert load_checkpoint(run)["iteration"] == 40


TRAIN_IN_A_NOTEBOOK = """
import sys
from dcgan import Config, train
from dcgan.diskio import WriteFailed
config = Config.from_flat(dataset="fashion-mnist", data_root=sys.argv[1], out=sys.argv[2], nz=16, ngf=8, ndf=8,
                          batch_size=32, max_steps=int(sys.argv[3]), snapshot_every=2, checkpoint_every=2,
                          progress=False, download=False, precision="fp32")
try:
    train(config, resume=sys.argv[4] if len(sys.argv) > 4 else None)
except WriteFailed as e:
    print("".join(e._render_traceback_()))  # what the notebook shows in place of a traceback
    sys.exit(7)
"""


def test_the_notebooks_train_call_raises_one_message_and_resumes(cached_root, tmp_path):
    """notebooks/02_train calls train(); a checkpoint it cannot write raises WriteFailed, which IPython
    shows as its message alone, and the next train(resume=...) goes on from the last complete one."""
    script = tmp_path / "notebook_cell.py"
    script.write_text(TRAIN_IN_A_NOTEBOOK)
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}

    def cell(*args, limit=None):
        return subprocess.run([sys.executable, str(script), str(cached_root), str(run), *args], capture_output=True,
                              text=True, env=env, timeout=240, preexec_fn=file_size_limit(limit) if limit else None)

    assert cell("2").returncode == 0
    r = cell("6", str(run), limit=300_000)  # grids fit, a checkpoint (about 0.5 MB) does not
    assert r.returncode == 7, r.stderr[-2000:]
    assert r.stdout.startswith("WriteFailed: could not write the checkpoint") and "step_0000004.pt" in r.stdout
    assert "file-size limit" in r.stdout and f"dcgan train --resume {run}" in r.stdout
    assert load_checkpoint(run)["iteration"] == 2 and not list((run / "checkpoints").glob(".*tmp*"))
    r = cell("6", str(run))
    assert r.returncode == 0, r.stderr[-2000:]
    assert load_checkpoint(run)["iteration"] == 6


VANISH_AT_STEP_4 = """
import shutil, sys
from pathlib import Path
from dcgan.training import writer
from dcgan.cli import main

snapshot = writer.RunWriter.snapshot
def snapshot_then_vanish(self, step, grid, history):
    snapshot(self, step, grid, history)
    if step == 4:  # the folder is moved away while the run goes on (kept aside to put back later)
        shutil.move(str(self.run_dir), sys.argv[1])
writer.RunWriter.snapshot = snapshot_then_vanish
sys.exit(main(sys.argv[2:]))
"""


def test_a_run_folder_moved_away_mid_run_through_the_cli_and_resumed_once_back(cached_root, tmp_path):
    script = tmp_path / "vanish.py"
    script.write_text(VANISH_AT_STEP_4)
    run, aside = tmp_path / "run", tmp_path / "aside"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, str(script), str(aside), "train", "--data-root", str(cached_root), "--out",
                        str(run), "--max-steps", "6", *TINY], capture_output=True, text=True, env=env, timeout=240)
    assert r.returncode == EXIT_WRITE_FAILED, r.stderr[-2000:]
    message = one_message(r)
    assert f"{run} no longer exists" in message and f"dcgan train --resume {run}" in message
    assert not run.exists()  # nothing written to a silently re-made folder
    shutil.move(str(aside), str(run))  # put back, as the message says
    assert load_checkpoint(run)["iteration"] == 2
    r = dcgan_limited("train", "--resume", run, "--max-steps", 6, *TINY)
    assert r.returncode == 0, r.stderr[-2000:]
    assert load_checkpoint(run)["iteration"] == 6
