"""The D and G steps called on their own, the loop's recovery, and the bugs the reshaped loop fixed."""

import json
import math
import os
import re
import subprocess
import sys
import time

import pytest
import torch

from dcgan.checkpoint import load_checkpoint
from dcgan.cli import main
from dcgan.data.dataset import load_dataset, to_model_range
from dcgan.models import build_models
from dcgan.runtime import torch_older_than
from dcgan.settings.config import ObjectiveConfig
from dcgan.training import loop as train_module
from dcgan.training.divergence import DivergenceGuard
from dcgan.training.history import COLUMNS, History, PendingStats
from dcgan.training.loop import train
from dcgan.training.losses import r1_penalty
from dcgan.training.steps import Nets, StepRules, StepStats, d_step, g_step, train_step

from conftest import REPO, tiny_config


@pytest.fixture()
def parts(fmnist_root):
    """Tiny models, their optimisers and a real batch of 32 Fashion-MNIST images in [-1, 1]."""
    torch.manual_seed(0)
    G, D = build_models(nz=16, ngf=8, ndf=8, nc=1, image_size=32)
    cfg = tiny_config(fmnist_root, "unused")
    images = load_dataset(cfg.data, progress=False).images
    real = to_model_range(images[:32])  # (32, 1, 32, 32)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    return Nets.plain(G, D), opt_g, opt_d, StepRules(ObjectiveConfig(), nz=16), real


def _copy(model):
    return [p.detach().clone() for p in model.parameters()]


def _moved(before, model):
    return any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_d_step_moves_d_only_and_g_step_moves_g_only(parts):
    nets, opt_g, opt_d, rules, real = parts
    g0, d0 = _copy(nets.G), _copy(nets.D)
    out = d_step(nets, opt_d, rules, real, None)
    assert _moved(d0, nets.D) and not _moved(g0, nets.G)
    assert out.real_logits.shape == (32,) and out.fake.shape == (32, 1, 32, 32) and out.fake.requires_grad
    assert math.isfinite(out.loss_d.item()) and out.grad_norm.item() > 0
    d1, d_grads = _copy(nets.D), [p.grad.clone() for p in nets.D.parameters()]
    loss_g, logits_after, grad_norm_g = g_step(nets, opt_g, rules, out, None)
    assert _moved(g0, nets.G) and not _moved(d1, nets.D)
    # D was frozen: G's pass added nothing to D's weight gradients
    assert all(torch.equal(a, p.grad) for a, p in zip(d_grads, nets.D.parameters()))
    assert all(p.requires_grad for p in nets.D.parameters())  # and is trainable again
    assert logits_after.shape == (32,) and math.isfinite(loss_g.item())


def test_lazy_r1_runs_every_nth_d_step_at_n_times_the_weight(parts):
    """StyleGAN2's lazy R1: the penalty on D steps 0, N, 2N, ... only, weighted N times, so the average
    pull is the same and its double backward runs 1/N as often."""
    nets, opt_g, opt_d, _, real = parts
    state = {k: v.clone() for k, v in nets.D.state_dict().items()}
    every_step = StepRules(ObjectiveConfig(r1_weight=0.5, r1_every=1), nz=16)
    lazy = StepRules(ObjectiveConfig(r1_weight=0.5, r1_every=4), nz=16)
    assert (every_step.penalty_every, every_step.penalty_weight) == (1, 0.5)
    assert (lazy.penalty_every, lazy.penalty_weight) == (4, 2.0)
    torch.manual_seed(1)
    plain = d_step(nets, opt_d, every_step, real, None).penalty
    penalties = []
    for index in range(6):
        nets.D.load_state_dict(state)  # the same D each time, so the penalties compare
        torch.manual_seed(1)
        penalties.append(d_step(nets, opt_d, lazy, real, None, d_step_index=index).penalty)
    assert [bool(p) for p in penalties] == [True, False, False, False, True, False]
    assert torch.allclose(penalties[0], 4 * plain, rtol=1e-4) and plain > 0
    # WGAN-GP's penalty is never lazy
    assert StepRules(ObjectiveConfig(loss="wgan-gp", label_smoothing=0.0, r1_weight=0.0, r1_every=4), nz=16).penalty_every == 1


def test_the_penalty_is_clipped_on_its_own_at_n_times_the_clip(parts):
    """--grad-clip clips the objective's gradient; R1's is clipped on its own, to r1_every x the clip
    (the bound of the N steps a lazy R1 step stands for), and added after. Clipped together, a lazy
    R1 step of a sharp D (gradient norms in the thousands by epoch 5 of a 20-epoch run) was cut to
    the clip, R1 stopped holding D and FID crept up for the rest of the run (docs/long-runs.md)."""
    nets, _, _, _, real = parts
    opt = torch.optim.SGD(nets.D.parameters(), lr=0.0)  # keeps the gradients, moves nothing
    params = list(nets.D.parameters())

    def norm(grads):
        return torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item()

    for clip, every in ((1e-3, 1), (1e-3, 4), (1e6, 4)):
        torch.manual_seed(1)
        d_step(nets, opt, StepRules(ObjectiveConfig(grad_clip=clip, r1_weight=0.0), nz=16), real, None)
        loss_grads = [p.grad.clone() for p in params]
        assert norm(loss_grads) <= clip * 1.001
        torch.manual_seed(1)
        rules = StepRules(ObjectiveConfig(grad_clip=clip, r1_weight=5.0, r1_every=every), nz=16)
        out = d_step(nets, opt, rules, real, None, d_step_index=0)
        penalty_grads = torch.autograd.grad(r1_penalty(nets.D, real, real, 5.0 * every), params)
        scale = min(1.0, clip * every / norm(penalty_grads))
        assert out.penalty > 0 and (scale < 1) == (clip < 1)  # the small clips do cut this penalty
        for p, a, b in zip(params, loss_grads, penalty_grads):
            assert torch.allclose(p.grad, a + b * scale, rtol=1e-4, atol=1e-8)
        # what the penalty adds is bounded by every x clip, not by the loss's clip
        assert norm([p.grad - a for p, a in zip(params, loss_grads)]) == pytest.approx(
            min(clip * every, norm(penalty_grads)), rel=1e-3)
    # --penalty-clip joint: one clip over the sum (the conditional default's)
    torch.manual_seed(1)
    d_step(nets, opt, StepRules(ObjectiveConfig(grad_clip=1e-3, r1_weight=5.0, r1_every=4, penalty_clip="joint"),
                                nz=16), real, None, d_step_index=0)
    assert norm([p.grad for p in params]) <= 1e-3 * 1.001


def test_train_step_returns_one_row_of_statistics(parts):
    nets, opt_g, opt_d, rules, real = parts
    row = train_step(nets, opt_d, opt_g, rules, lambda: (real, None), d_steps=2)
    assert row._fields == StepStats._fields == COLUMNS[2:]  # named, in history.csv's order
    assert all(v.dim() == 0 and torch.isfinite(v) for v in row)
    loss_d, loss_g, d_x, d_g_z1, d_g_z2 = (row.loss_d.item(), row.loss_g.item(), row.d_x.item(), row.d_g_z1.item(),
                                           row.d_g_z2.item())
    assert 0 < d_x < 1 and 0 < d_g_z1 < 1 and 0 < d_g_z2 < 1 and loss_d > 0 and loss_g > 0


def test_a_nan_in_one_step_reaches_the_guard(parts):
    """A NaN image in one batch: the step's row says so, and the flush's verdict names the iteration."""
    nets, opt_g, opt_d, rules, real = parts
    pending, history = PendingStats(), History({c: [] for c in COLUMNS})
    guard = DivergenceGuard(patience=0, watch_d_wins=True)
    poisoned = real.clone()
    poisoned[0, 0, 0, 0] = float("nan")
    for step, batch in enumerate([real, real, poisoned], start=1):
        pending.append(train_step(nets, opt_d, opt_g, rules, lambda: (batch, None)), epoch=0)
    verdict = pending.flush(history, 3, guard, [nets.G, nets.D])
    assert verdict is not None and verdict.startswith("iteration 3: a loss is not finite")
    assert history["iteration"] == [1, 2, 3] and math.isfinite(history["loss_d"][1])


def _nan_on_calls(monkeypatch, calls):
    """train_step whose statistics are NaN on chosen calls: a blow-up on demand."""
    original, n = train_module.train_step, [0]

    def step(*args, **kwargs):
        n[0] += 1
        row = original(*args, **kwargs)
        return type(row)(*(v * float("nan") for v in row)) if n[0] in calls else row

    monkeypatch.setattr(train_module, "train_step", step)


def test_repeated_rollbacks_lower_the_rate_each_time(fmnist_root, tmp_path, monkeypatch):
    """Three blow-ups before the next checkpoint: rates at 1/2, then 1/4, then 1/8 (not 1/2 three times)."""
    _nan_on_calls(monkeypatch, [8, 9, 10])  # step 8 blows up; then step 6 twice, each after a rollback to 5
    cfg = tiny_config(fmnist_root, tmp_path / "run", max_steps=12, checkpoint_every=5, log_every=1,
                      on_divergence="rollback", lr_decay=0.0)  # no tail: the saved rates are the lowered ones
    history = train(cfg)
    assert history["iteration"] == list(range(1, 13)) and all(map(math.isfinite, history["loss_g"]))
    state = load_checkpoint(tmp_path / "run")
    assert state["opt_g"]["param_groups"][0]["lr"] == pytest.approx((cfg.train.lr_g or cfg.train.lr) / 8)
    assert state["opt_d"]["param_groups"][0]["lr"] == pytest.approx(cfg.train.lr / 8)
    assert state["lr_scale"] == 1 / 8


def test_a_fourth_blow_up_ends_the_run(fmnist_root, tmp_path, monkeypatch):
    _nan_on_calls(monkeypatch, [8, 9, 10, 11])
    cfg = tiny_config(fmnist_root, tmp_path / "run", max_steps=12, checkpoint_every=5, log_every=1,
                      on_divergence="rollback", lr_decay=0.0)  # no tail: the saved rates are the lowered ones
    with pytest.raises(train_module.TrainingDiverged, match="3 rollbacks did not help"):
        train(cfg)


def test_deterministic_mode_ends_with_the_run(fmnist_root, tmp_path):
    assert not torch.are_deterministic_algorithms_enabled()
    train(tiny_config(fmnist_root, tmp_path / "run", max_steps=2, deterministic=True))
    assert not torch.are_deterministic_algorithms_enabled()
    assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ or os.environ["CUBLAS_WORKSPACE_CONFIG"] != ":4096:8"


def test_resume_from_the_checkpoints_folder_continues_in_the_run_folder(fmnist_root, tmp_path, monkeypatch):
    out = tmp_path / "run"
    args = ["train", "--dataset", "fashion-mnist", "--data-root", str(fmnist_root), "--nz", "16", "--ngf", "8",
            "--ndf", "8", "--batch-size", "32", "--snapshot-every", "2", "--checkpoint-every", "2",
            "--no-progress", "--no-download"]
    assert main([*args, "--max-steps", "2", "--out", str(out)]) == 0
    monkeypatch.chdir(tmp_path)
    assert main([*args, "--max-steps", "4", "--resume", str(out / "checkpoints")]) == 0
    assert load_checkpoint(out)["iteration"] == 4 and (out / "samples" / "step_0000004.png").is_file()
    assert not (out / "checkpoints" / "samples").exists() and not (out / "checkpoints" / "checkpoints").exists()


@pytest.mark.skipif(torch_older_than(2, 4), reason="fused Adam on a CPU needs torch 2.4")
def test_fused_adam_resumes_with_another_memory_layout(fmnist_root, tmp_path):
    out = tmp_path / "run"
    train(tiny_config(fmnist_root, out, max_steps=3, checkpoint_every=3, fused_adam=True, channels_last=False))
    history = train(tiny_config(fmnist_root, out, max_steps=5, checkpoint_every=5, fused_adam=True,
                                channels_last=True), resume=out)
    assert history["iteration"] == [1, 2, 3, 4, 5] and all(map(math.isfinite, history["loss_d"]))


def test_a_diverged_run_is_one_message_and_exit_code_2(fmnist_root, tmp_path, capsys):
    code = main(["train", "--dataset", "fashion-mnist", "--data-root", str(fmnist_root), "--nz", "16",
                 "--ngf", "8", "--ndf", "8", "--batch-size", "32", "--lr", "5", "--grad-clip", "0",
                 "--divergence-patience", "5", "--max-steps", "150", "--log-every", "5",
                 "--out", str(tmp_path / "run"), "--no-progress", "--no-download"])
    err = capsys.readouterr().err
    assert code == 2 and "dcgan train: error: training diverged at iteration" in err
    assert "Traceback" not in err and "try " in err
    status = json.loads((tmp_path / "run" / "status.json").read_text())  # what `dcgan runs` shows
    assert status["status"] == "diverged" and ("not finite" in status["message"] or "rejected" in status["message"])


DDP_NAN = """
import os, sys
from dcgan.training import loop as t
original, calls = t.train_step, [0]
def train_step(*args, **kwargs):
    calls[0] += 1
    row = original(*args, **kwargs)
    # only rank 1 sees the blow-up, at its 4th iteration: the ranks must still decide together
    return type(row)(*(v * float("nan") for v in row)) if os.environ["RANK"] == "1" and calls[0] == 4 else row
t.train_step = train_step
from dcgan.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("mode", ["stop", "rollback", "stop"])  # stop twice: each worker's exit is asserted
def test_ranks_decide_divergence_together(mode, fmnist_root, tmp_path):
    script = tmp_path / "nan_on_rank_1.py"
    script.write_text(DDP_NAN)
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", str(script),
           "train", "--dataset", "fashion-mnist", "--data-root", str(fmnist_root), "--nz", "16", "--ngf", "8",
           "--ndf", "8", "--batch-size", "32", "--max-steps", "6", "--log-every", "1", "--checkpoint-every", "2",
           "--snapshot-every", "2", "--device", "cpu", "--no-progress", "--no-download", "--out", str(out),
           "--on-divergence", mode]
    started = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    seconds = time.perf_counter() - started
    if mode == "stop":
        assert r.returncode != 0
        assert r.stderr.count("dcgan train: error: training diverged at iteration 4: a loss is not finite") == 1
        # every worker ends with exit code 2 of its own (none killed by torchrun's SIGTERM, none aborted
        # at teardown: benchmarks/ddp_exits.py --diverge repeats this 20 times) and no traceback
        codes = [int(c) for c in re.findall(r"exitcode\s*:\s*(-?\d+)", r.stderr)]
        assert codes and set(codes) == {2}, r.stderr[-3000:]
        assert "SIGABRT" not in r.stderr and "terminate called" not in r.stderr and "dcgan/training/loop.py" not in r.stderr
        assert seconds < 60  # every rank ended: none waits alone in a collective
        assert load_checkpoint(out)["iteration"] == 2
    else:
        assert r.returncode == 0, r.stderr[-3000:]
        assert "rolled back to iteration 2 with learning rates halved" in r.stdout + r.stderr
        assert r.stderr.count("2 processes: replicas agree on every weight") == 1
        assert load_checkpoint(out)["iteration"] == 6


def test_balanced_consistency_regularisation_adds_a_lazy_term_that_vanishes_for_an_invariant_d(parts):
    """bCR: D's loss gains w (D(x) - D(T(x)))^2 on reals and fakes, on every N-th D step at N times w;
    T flips and shifts, so a D that ignores where things are (a constant image) pays nothing."""
    from dcgan.training.stabilisers import consistency_transform

    nets, opt_g, opt_d, _, real = parts
    torch.manual_seed(0)
    flat = torch.full((4, 1, 32, 32), 0.3)
    assert torch.equal(consistency_transform(flat)[:, :, 4:-4, 4:-4], flat[:, :, 4:-4, 4:-4])  # only edges shift in
    moved = consistency_transform(real)
    assert moved.shape == real.shape and not torch.equal(moved, real)
    state = {k: v.clone() for k, v in nets.D.state_dict().items()}

    def loss(rules, index=0):
        nets.D.load_state_dict(state)
        torch.manual_seed(3)
        return d_step(nets, opt_d, rules, real, None, d_step_index=index).loss_d.item()

    plain = loss(StepRules(ObjectiveConfig(), nz=16))
    with_bcr = loss(StepRules(ObjectiveConfig(bcr_weight=10.0), nz=16))
    lazy = StepRules(ObjectiveConfig(bcr_weight=10.0, bcr_every=4), nz=16)
    assert lazy.bcr_weight == 40.0
    assert with_bcr > plain and loss(lazy, index=1) == pytest.approx(plain)  # off between the lazy steps
    assert loss(lazy, index=4) - plain == pytest.approx(4 * (with_bcr - plain), rel=1e-3)


def test_bcr_settings_are_checked_through_the_cli(tmp_path, capsys):
    assert main(["train", "--bcr-every", "0", "--out", str(tmp_path / "a")]) == 2
    assert "--bcr-every must be a positive integer" in capsys.readouterr().err
    assert main(["train", "--bcr-weight", "-1", "--out", str(tmp_path / "b")]) == 2
    assert "--bcr-weight must be >= 0" in capsys.readouterr().err
