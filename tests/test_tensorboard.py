"""--tensorboard: the events hold the scalars, the grids, the evaluations and the hparams."""

import shutil

import pytest

from dcgan.training.loop import train

from conftest import tiny_config


pytest.importorskip("tensorboard", reason="pip install tensorboard")


def test_tensorboard_events_read_back(fmnist_root, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    root = tmp_path / "data"
    shutil.copytree(fmnist_root / "fashion-mnist", root / "fashion-mnist")
    run = tmp_path / "run"
    train(tiny_config(root, run, max_steps=8, snapshot_every=4, log_every=2, eval_every=4, eval_n=100,
                      tensorboard=True))
    acc = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    for key in ("loss_d", "loss_g", "d_x", "d_g_z1", "w_estimate", "penalty", "grad_norm_d", "grad_norm_g"):
        events = acc.Scalars(f"train/{key}")
        assert [e.step for e in events] == list(range(1, 9)), key  # every iteration, once
    assert [e.step for e in acc.Scalars("eval/fid_fmnist_cnn")] == [4, 8]
    assert [e.step for e in acc.Images("samples/fixed_noise")] == [4, 8]
    hparams = EventAccumulator(str(run / "tensorboard" / "hparams"))
    hparams.Reload()
    assert "_hparams_/session_start_info" in hparams.PluginTagToContent("hparams")  # the settings
    assert {"best/fid_fmnist_cnn", "final/loss_d", "final/loss_g"} <= set(hparams.Tags()["scalars"])
