"""The default recipe's pieces: EMA BatchNorm statistics of its own, learning-rate decay, evals' clock."""


import torch

from dcgan.checkpoint import load_checkpoint
from dcgan.models import Generator
from dcgan.training.loop import train
from dcgan.training.stabilisers import EMA, recalibrate_batchnorm

from conftest import tiny_config


def _bn_stats(model):
    return [(m.running_mean.clone(), m.running_var.clone()) for m in model.modules()
            if isinstance(m, torch.nn.BatchNorm2d)]


def test_recalibrated_statistics_are_those_of_the_models_own_activations():
    torch.manual_seed(0)
    G = Generator(nz=8, ngf=8, nc=1, image_size=32)
    recalibrate_batchnorm(G, 8, batches=4, batch_size=64, seed=3)
    assert not G.training
    # the first BN's statistics, measured by hand on the same noise
    gen = torch.Generator().manual_seed(3)
    z = torch.cat([torch.randn(64, 8, 1, 1, generator=gen) for _ in range(4)])
    with torch.no_grad():
        h = G.main[0](z)  # (256, 32, 4, 4): the first ConvTranspose's output
    bn = G.main[1]
    per_batch_mean = h.view(4, 64, *h.shape[1:]).mean(dim=(1, 3, 4))  # (4, 32)
    assert torch.allclose(bn.running_mean, per_batch_mean.mean(0), atol=1e-5)
    assert bn.momentum == 0.1  # restored after the cumulative average


def test_ema_keeps_no_copy_of_the_live_statistics():
    torch.manual_seed(0)
    G = Generator(nz=8, ngf=8, nc=1, image_size=32)
    ema = EMA(G, decay=0.9)
    G.train()
    with torch.no_grad():
        G(torch.randn(16, 8, 1, 1) * 5)  # moves the live G's running statistics
        ema.update(G, step=1000)
    live = _bn_stats(G)
    assert all(not torch.allclose(a[0], b[0]) for a, b in zip(_bn_stats(ema.shadow), live))
    ema.recalibrate(8, batches=2, batch_size=32)
    recal = _bn_stats(ema.shadow)
    assert all(not torch.allclose(a[0], b[0]) for a, b in zip(recal, live))


def test_ema_run_saves_recalibrated_statistics(fmnist_root, tmp_path):
    cfg = tiny_config(fmnist_root, tmp_path / "run", ema_decay=0.99, max_steps=12, checkpoint_every=6)
    train(cfg)
    state = load_checkpoint(tmp_path / "run")
    G = Generator(nz=16, ngf=8, nc=1, image_size=32)
    G.load_state_dict(state["G_ema"])
    saved = _bn_stats(G)
    recalibrate_batchnorm(G, 16, seed=cfg.train.seed)  # what the run did before saving
    assert all(torch.allclose(a[0], b[0], atol=1e-5) and torch.allclose(a[1], b[1], atol=1e-5)
               for a, b in zip(saved, _bn_stats(G)))


def test_lr_decay_falls_linearly_to_the_end(fmnist_root, tmp_path):
    cfg = tiny_config(fmnist_root, tmp_path / "full", lr_decay=0.5, max_steps=20, checkpoint_every=10)
    train(cfg)
    state = load_checkpoint(tmp_path / "full")
    for opt, rate in (("opt_g", cfg.train.lr_g or cfg.train.lr), ("opt_d", cfg.train.lr_d or cfg.train.lr)):
        group = state[opt]["param_groups"][0]
        assert group["initial_lr"] == rate
        assert group["lr"] == rate * 1 / 10  # the last step: (20 - 19) / (0.5 * 20)


def test_the_default_takes_its_gpu_batch_on_a_gpu(monkeypatch, fmnist_root, tmp_path):
    """On a CUDA GPU (an iteration costs its launches, flat in the batch) the default recipe trains at
    its GPU batch; a batch you give, another recipe, the CPU, and a resumed run keep theirs."""
    import json

    import torch

    from dcgan.settings.config import Config
    from dcgan.settings.recipes import RECIPES

    gpu_batch = RECIPES["r1-ema-b32"].on_gpu["batch_size"]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # a CPU box: auto is the CPU
    assert Config.from_flat().train.batch_size == 32 == Config.from_flat(device="cuda:0", batch_size=32).train.batch_size
    assert Config.from_flat() == Config()
    assert Config.from_flat(device="cuda").train.batch_size == gpu_batch
    assert Config.from_flat(device="cuda:1").train.batch_size == gpu_batch
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a GPU box: auto finds the GPU
    assert Config.from_flat().train.batch_size == gpu_batch
    assert Config.from_flat() != Config()  # the dataclass defaults are the CPU box's
    assert Config.from_flat(device="cpu").train.batch_size == 32
    assert Config.from_flat(recipe="classic").train.batch_size == 128
    assert Config.from_flat(recipe="r1-ema").train.batch_size == 64
    # a run that began on a GPU resumes on the CPU with its own batch (the CLI reads its settings)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    from dcgan.cli import main

    run = tmp_path / "run"
    args = ["--dataset", "fashion-mnist", "--data-root", str(fmnist_root), "--nz", "16", "--ngf", "8", "--ndf", "8",
            "--no-progress", "--no-download", "--device", "cpu"]
    assert main(["train", *args, "--batch-size", str(gpu_batch), "--max-steps", "2", "--out", str(run)]) == 0
    assert main(["train", "--resume", str(run), "--max-steps", "3", "--device", "cpu"]) == 0
    assert json.loads((run / "config.json").read_text())["train"]["batch_size"] == gpu_batch
