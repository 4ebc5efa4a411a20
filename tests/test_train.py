"""The training loop on real Fashion-MNIST: outputs on disk, checkpoints, exact resume."""

import json
import math

import pytest
import torch

from dcgan.checkpoint import CheckpointError, load_checkpoint
from dcgan.training.history import COLUMNS, read_history_csv
from dcgan.training.loop import train

from conftest import tiny_config


def test_short_run_writes_every_output(fmnist_root, tmp_path):
    out = tmp_path / "run"
    history = train(tiny_config(fmnist_root, out, max_steps=30))
    assert history.run_dir == out
    assert history["iteration"] == list(range(1, 31))
    for key in ("loss_d", "loss_g", "d_x", "d_g_z1", "d_g_z2"):
        assert len(history[key]) == 30 and all(math.isfinite(v) for v in history[key])
    assert all(0 <= v <= 1 for v in history["d_x"] + history["d_g_z1"])
    # D learns to tell real from the untrained G's output within a few steps
    assert sum(history["loss_d"][-5:]) < sum(history["loss_d"][:5])
    for name in ("config.json", "history.csv", "loss.png", "d_outputs.png", "real_vs_fake.png",
                 "progress.html", "checkpoints/last.pt", "samples/step_0000010.png",
                 "samples/step_0000030.png"):
        assert (out / name).is_file(), name
    assert read_history_csv(out / "history.csv") == {c: history[c] for c in COLUMNS}
    assert json.loads((out / "config.json").read_text())["model"]["ngf"] == 8
    html = (out / "progress.html").read_text()
    assert html.count("data:image/png;base64") == 3  # one frame per snapshot


def test_checkpoint_round_trip(fmnist_root, tmp_path):
    out = tmp_path / "run"
    history = train(tiny_config(fmnist_root, out, max_steps=20, keep_last=1))
    state = load_checkpoint(out)  # a run folder resolves to checkpoints/last.pt
    assert state["iteration"] == 20 and state["epoch"] == 0
    assert state["format_version"] == 1
    assert "history" not in state and state["history_rows"] == 20  # the history is history.csv's
    assert state["fixed_noise"].shape == (64, 16, 1, 1)
    assert set(state) >= {"G", "D", "opt_g", "opt_d", "config", "rng"}
    assert sorted(p.name for p in (out / "checkpoints").glob("step_*.pt")) == ["step_0000020.pt"]
    # last.pt and the newest numbered file hold the same bytes
    assert (out / "checkpoints" / "last.pt").read_bytes() == (out / "checkpoints" / "step_0000020.pt").read_bytes()


def _weights(path):
    state = load_checkpoint(path)
    return state, {**{f"G.{k}": v for k, v in state["G"].items()},
                   **{f"D.{k}": v for k, v in state["D"].items()}}


def test_resume_equals_uninterrupted(fmnist_root, tmp_path):
    """N + M iterations in one go == N, stop, resume, M more: bit for bit on a deterministic CPU."""
    # 32 images a batch, 1024 images: 32 steps an epoch, so 40 steps cross an epoch boundary. A run
    # made longer on resume moves the rates' tail (--lr-decay, a share of the planned run), so these
    # train without it; test_objectives resumes runs stopped short of their planned length with it.
    flat = dict(deterministic=True, lr_decay=0.0)
    straight = train(tiny_config(fmnist_root, tmp_path / "a", max_steps=40, **flat))
    train(tiny_config(fmnist_root, tmp_path / "b", max_steps=25, **flat))
    resumed = train(tiny_config(fmnist_root, tmp_path / "b", max_steps=40, **flat), resume=tmp_path / "b")
    sa, wa = _weights(tmp_path / "a")
    sb, wb = _weights(tmp_path / "b")
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    assert straight == resumed  # the whole history, iteration by iteration
    assert sa["iteration"] == sb["iteration"] == 40 and sa["epoch"] == 1
    for key in ("exp_avg", "exp_avg_sq"):
        for i in sa["opt_g"]["state"]:
            assert torch.equal(sa["opt_g"]["state"][i][key], sb["opt_g"]["state"][i][key])


def test_resume_with_other_settings_names_them(fmnist_root, tmp_path):
    train(tiny_config(fmnist_root, tmp_path / "r", max_steps=10))
    with pytest.raises(CheckpointError, match=r"model\.ngf: checkpoint has 8, this run has 16"):
        train(tiny_config(fmnist_root, tmp_path / "r", max_steps=20, ngf=16), resume=tmp_path / "r")


def test_too_few_images_for_a_batch(fmnist_root, tmp_path):
    with pytest.raises(ValueError, match="fewer than one batch of --batch-size 4096"):
        train(tiny_config(fmnist_root, tmp_path / "r", batch_size=4096))


def test_refuses_pickled_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("this would run",))

    torch.save({"G": {}, "config": {}, "x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(tmp_path / "evil.pt")
    (tmp_path / "cut.pt").write_bytes((tmp_path / "evil.pt").read_bytes()[:100])
    with pytest.raises(CheckpointError, match="truncated or damaged"):
        load_checkpoint(tmp_path / "cut.pt")


def test_checkpoints_do_not_grow_and_resume_reads_the_history_csv(fmnist_root, tmp_path):
    """Checkpoints hold no history (a 100k-iteration run's would be megabytes, rewritten each time): a
    resume takes history.csv's rows up to its checkpoint, leaving out rows written after it."""
    flat = dict(deterministic=True, lr_decay=0.0, snapshot_every=5, keep_last=0)
    straight = train(tiny_config(fmnist_root, tmp_path / "a", max_steps=30, **flat))
    train(tiny_config(fmnist_root, tmp_path / "b", max_steps=25, **flat))
    ckpts = tmp_path / "b" / "checkpoints"
    sizes = [(ckpts / f"step_{s:07d}.pt").stat().st_size for s in (10, 20)]
    assert sizes[1] <= sizes[0] + 64
    assert len(read_history_csv(tmp_path / "b" / "history.csv")["iteration"]) == 25  # 5 rows past step 20
    resumed = train(tiny_config(fmnist_root, tmp_path / "b", max_steps=30, **flat), resume=ckpts / "step_0000020.pt")
    assert resumed == straight
    assert read_history_csv(tmp_path / "b" / "history.csv") == {c: straight[c] for c in COLUMNS}
