"""torchrun with 2 CPU processes (gloo): one writer, identical replicas, single-process-loadable checkpoints."""

import os
import subprocess
import sys

import pytest
import torch

from dcgan.checkpoint import load_checkpoint
from dcgan.training.loop import train

from conftest import REPO, tiny_config


ARGS = ["--dataset", "fashion-mnist", "--nz", "16", "--ngf", "8", "--ndf", "8", "--batch-size", "32",
        "--max-steps", "6", "--snapshot-every", "3", "--checkpoint-every", "3", "--device", "cpu",
        "--no-progress", "--no-download"]


def torchrun(data_root, out, *extra, device="cpu", backend="gloo"):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    args = ARGS if device == "cpu" else [*ARGS[:ARGS.index("--device")], *ARGS[ARGS.index("--device") + 2:],
                                         "--device", device, "--ddp-backend", backend]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "dcgan", "train", *args, "--data-root", str(data_root), "--out", str(out), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, cwd=out.parent)


@pytest.mark.parametrize("extra", [[], ["--loss", "wgan-gp", "--d-steps", "2", "--ema-decay", "0.9"]],
                         ids=["bce", "wgan-gp-ema"])
def test_two_processes(extra, fmnist_root, tmp_path):
    out = tmp_path / "run"
    r = torchrun(fmnist_root, out, *extra)
    assert r.returncode == 0, r.stderr[-3000:]
    # rank 0 alone reports (the dcgan logger, on stderr) and writes: one summary, one agreement line
    assert r.stderr.count("done: 6 iterations") == 1, r.stderr
    assert r.stderr.count("2 processes: replicas agree on every weight") == 1, r.stderr
    for name in ("config.json", "history.csv", "progress.html", "checkpoints/last.pt", "samples/step_0000006.png"):
        assert (out / name).is_file(), name
    state = load_checkpoint(out)
    assert state["iteration"] == 6 and not any(k.startswith("module.") for k in state["G"])
    # the same format as a single-process checkpoint: a plain run resumes from it
    cfg = tiny_config(fmnist_root, out, max_steps=9, snapshot_every=3, checkpoint_every=3,
                      **({"loss": "wgan-gp", "d_steps": 2, "ema_decay": 0.9} if extra else {}))
    history = train(cfg, resume=out)
    assert history["iteration"][-1] == 9 and load_checkpoint(out)["iteration"] == 9
    assert all(torch.isfinite(v).all() for v in load_checkpoint(out)["G"].values())


def test_batch_must_split_over_processes(fmnist_root, tmp_path):
    r = torchrun(fmnist_root, tmp_path / "odd", "--batch-size", "33")
    assert r.returncode != 0 and "does not split evenly over 2 processes" in r.stderr


def _run_files(out):
    state = load_checkpoint(out)
    weights = {**{f"G.{k}": v for k, v in state["G"].items()}, **{f"D.{k}": v for k, v in state["D"].items()}}
    return (out / "history.csv").read_text(), weights, state


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=[pytest.mark.cuda, pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU")])])
def test_two_process_resume_equals_uninterrupted(fmnist_root, tmp_path, device):
    """N + M iterations under torchrun == N, stop, resume, M more: bit for bit, which needs every
    rank's own RNG state back (each draws its own noise) and the same batch order on every rank. On a
    GPU both ranks share GPU 0 over gloo (CUDA tensors, DDP's all-reduce, the host-side agreement)."""
    flat = ["--deterministic", "--lr-decay", "0"]  # a longer resumed run would move the rates' tail
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    for out, extra in ((straight, ["--max-steps", "9"]), (stopped, ["--max-steps", "6"]),
                       (stopped, ["--max-steps", "9", "--resume", str(stopped)])):
        r = torchrun(fmnist_root, out, *flat, *extra, device=device)
        assert r.returncode == 0, r.stderr[-3000:]
        assert "2 processes: replicas agree on every weight" in r.stderr
    history_a, weights_a, state_a = _run_files(straight)
    history_b, weights_b, state_b = _run_files(stopped)
    assert len(state_b["rng_ranks"]) == 2  # one state per rank, and they differ
    assert not torch.equal(state_b["rng_ranks"][0]["torch"], state_b["rng_ranks"][1]["torch"])
    assert history_a == history_b
    for k in weights_a:
        assert torch.equal(weights_a[k], weights_b[k]), k


def test_each_rank_takes_its_gpu(monkeypatch):
    """LOCAL_RANK picks among the GPUs a process sees; a process the launcher gave one GPU
    (CUDA_VISIBLE_DEVICES set per rank) takes it; more ranks than GPUs over NCCL is one clear message
    (NCCL's own is "Duplicate GPU detected"); over gloo, ranks share the GPUs."""
    from dcgan.settings.config import ConfigError
    from dcgan.training.distributed import _one_visible_gpu_each, gpu_of

    assert [gpu_of(r, 4, local_world=4) for r in range(4)] == [0, 1, 2, 3]
    assert gpu_of(3, 1, local_world=4, own_visible=True) == 0
    with pytest.raises(ConfigError, match="runs 3 processes but has 2 GPUs.*--nproc-per-node 2.*--ddp-backend gloo"):
        gpu_of(2, 2, local_world=3)
    # torchrun --nproc-per-node 2 on a one-GPU box: every rank would take GPU 0
    with pytest.raises(ConfigError, match="runs 2 processes but has 1 GPU, and NCCL cannot"):
        gpu_of(1, 1, local_world=2)
    assert [gpu_of(r, 1, local_world=2, backend="gloo") for r in range(2)] == [0, 0]
    assert [gpu_of(r, 2, local_world=4, backend="gloo") for r in range(4)] == [0, 1, 0, 1]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    assert _one_visible_gpu_each()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    assert not _one_visible_gpu_each()
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert not _one_visible_gpu_each()


@pytest.mark.cuda
@pytest.mark.skipif(torch.cuda.device_count() != 1, reason="needs a box with exactly one CUDA GPU")
def test_two_ranks_on_one_gpu_over_nccl_is_one_message(fmnist_root, tmp_path):
    r = torchrun(fmnist_root, tmp_path / "run", device="cuda", backend="nccl")
    assert r.returncode != 0 and "this node runs 2 processes but has 1 GPU, and NCCL cannot" in r.stderr
    assert "Duplicate GPU" not in r.stderr
