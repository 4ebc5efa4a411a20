"""Accelerator toggles: each trains correctly on the CPU (and on a GPU when there is one)."""

import math
import shutil

import pytest
import torch

from dcgan.checkpoint import load_checkpoint
from dcgan.runtime import place_images
from dcgan.sample import load_generator
from dcgan.train import train

from conftest import tiny_config

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.parametrize("settings", [{"precision": "bf16"}, {"precision": "fp32"}, {"fused_adam": True},
                                      {"channels_last": False}, {"cudnn_benchmark": True}],
                         ids=["bf16", "fp32", "fused-adam", "no-channels-last", "cudnn-benchmark"])
def test_toggle_trains_on_cpu(settings, fmnist_root, tmp_path):
    history = train(tiny_config(fmnist_root, tmp_path / "r", max_steps=8, **settings))
    assert all(math.isfinite(v) for v in history["loss_d"] + history["loss_g"])
    assert sum(history["loss_d"][-3:]) < sum(history["loss_d"][:3])  # D still learns
    state = load_checkpoint(tmp_path / "r")
    assert all(v.dtype != torch.bfloat16 for v in state["G"].values())  # weights stay fp32


def test_bf16_stays_close_to_fp32(fmnist_root, tmp_path):
    a = train(tiny_config(fmnist_root, tmp_path / "a", max_steps=3, deterministic=True, precision="fp32"))
    b = train(tiny_config(fmnist_root, tmp_path / "b", max_steps=3, deterministic=True, precision="bf16"))
    assert a["loss_d"][0] == pytest.approx(b["loss_d"][0], rel=0.05)


@pytest.mark.skipif(shutil.which("g++") is None and shutil.which("c++") is None,
                    reason="torch.compile on the CPU needs a C++ compiler")
def test_compile_matches_eager_with_gradient_penalty(fmnist_root, tmp_path):
    """WGAN-GP through torch.compile: the penalty runs on the eager D; results match eager ones."""
    settings = dict(loss="wgan-gp", d_steps=2, max_steps=3, deterministic=False, channels_last=False,
                    precision="fp32")
    torch.manual_seed(0)
    eager = train(tiny_config(fmnist_root, tmp_path / "eager", **settings))
    compiled = train(tiny_config(fmnist_root, tmp_path / "compiled", compile=True, **settings))
    for key in ("loss_d", "loss_g", "penalty"):
        for x, y in zip(eager[key], compiled[key]):
            assert x == pytest.approx(y, rel=1e-3, abs=1e-4), key
    # the checkpoint holds the plain module: it loads without compile
    G = load_generator(tmp_path / "compiled")
    assert not any(k.startswith("_orig_mod") for k in G.state_dict())


@cuda
def test_cuda_paths(fmnist_root, tmp_path):
    images = torch.zeros(10, 1, 32, 32, dtype=torch.uint8)
    assert place_images(images, torch.device("cuda"), True).is_cuda
    assert place_images(images, torch.device("cuda"), False).is_pinned()
    for settings in ({}, {"precision": "bf16", "fused_adam": True, "cudnn_benchmark": True},
                     {"compile": True, "cuda_graphs": True, "precision": "bf16"}):
        out = tmp_path / str(len(settings))
        history = train(tiny_config(fmnist_root, out, max_steps=12, device="cuda", **settings))
        assert all(math.isfinite(v) for v in history["loss_d"] + history["loss_g"])
        assert load_checkpoint(out)["iteration"] == 12


@cuda
def test_cuda_resume_is_exact_when_deterministic(fmnist_root, tmp_path):
    a = train(tiny_config(fmnist_root, tmp_path / "a", max_steps=10, device="cuda", deterministic=True))
    train(tiny_config(fmnist_root, tmp_path / "b", max_steps=6, device="cuda", deterministic=True))
    b = train(tiny_config(fmnist_root, tmp_path / "b", max_steps=10, device="cuda", deterministic=True),
              resume=tmp_path / "b")
    assert a == b


def test_auto_precision_resolves_per_device():
    from dcgan.runtime import resolve_precision

    assert resolve_precision("fp32", torch.device("cpu")) == "fp32"
    assert resolve_precision("bf16", torch.device("cpu")) == "bf16"
    assert resolve_precision("auto", torch.device("cpu")) in ("fp32", "bf16")
    assert resolve_precision("auto", torch.device("cuda")) == "fp32"  # not measured on a GPU yet
