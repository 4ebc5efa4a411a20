"""Never lose a run: kill -9 mid-save, SIGINT/SIGTERM, divergence, full disks, hostile image folders."""

import errno
import os
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from dcgan.checkpoint import CheckpointError, load_checkpoint
from dcgan.data.dataset import load_dataset
from dcgan.data.decode import decode_image
from dcgan.data.sources import DatasetNotFound, read_idx
from dcgan.diskio import WriteFailed
from dcgan.settings.config import ConfigError, DataConfig
from dcgan.training import losses
from dcgan.training.divergence import DivergenceGuard, TrainingDiverged
from dcgan.training.loop import train

from conftest import REPO, tiny_config


SLOW_SAVE = """
import os, sys, time, torch
sys.path.insert(0, {repo!r}); sys.path.insert(0, {tests!r})
from conftest import tiny_config
from dcgan import train
original = torch.save
def slow_save(obj, f, *args, **kwargs):
    if isinstance(obj, dict) and obj.get("iteration") == 6:  # the second checkpoint: write half, hang
        f.write(b"half a checkpoint" * 1000); f.flush()
        open({marker!r}, "w").close()
        time.sleep(120)
    return original(obj, f, *args, **kwargs)
torch.save = slow_save
train(tiny_config({root!r}, {out!r}, max_steps=9, checkpoint_every=3, snapshot_every=3, deterministic=True))
"""


def test_kill_9_during_a_save_keeps_the_last_checkpoint(fmnist_root, tmp_path):
    out, marker = tmp_path / "run", tmp_path / "saving"
    script = SLOW_SAVE.format(repo=str(REPO), tests=str(REPO / "tests"), marker=str(marker),
                              root=str(fmnist_root), out=str(out))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while not marker.exists():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.time() < deadline, "the training subprocess never reached its second checkpoint"
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)  # in the middle of writing step 6's checkpoint
    proc.wait()
    assert list((out / "checkpoints").glob(".*.tmp-*")), "the half-written file should be there"
    assert load_checkpoint(out)["iteration"] == 3  # last.pt: the previous, complete checkpoint
    history = train(tiny_config(fmnist_root, out, max_steps=9, checkpoint_every=3, snapshot_every=3,
                                deterministic=True), resume=out)
    assert history["iteration"] == list(range(1, 10))
    assert load_checkpoint(out)["iteration"] == 9
    assert not list((out / "checkpoints").glob(".*.tmp-*"))  # the leftover was cleaned up
    straight = train(tiny_config(fmnist_root, tmp_path / "straight", max_steps=9, checkpoint_every=3,
                                 snapshot_every=3, deterministic=True))
    assert straight == history  # and the resumed run is the uninterrupted one


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signals_checkpoint_and_say_how_to_continue(sig, fmnist_root, tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "dcgan", "train", "--dataset", "fashion-mnist", "--data-root", str(fmnist_root),
           "--nz", "16", "--ngf", "8", "--ndf", "8", "--batch-size", "32", "--max-steps", "100000",
           "--snapshot-every", "5", "--checkpoint-every", "100000", "--out", str(out), "--no-progress",
           "--no-download"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    deadline = time.time() + 240
    while not (out / "samples" / "step_0000010.png").exists():
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        assert time.time() < deadline
        time.sleep(0.2)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr[-2000:]
    assert "checkpoint saved. Continue with:" in stderr and f"dcgan train --resume {out}" in stderr  # dcgan logger
    assert "Traceback" not in stderr
    state = load_checkpoint(out)
    stopped = state["iteration"]
    assert 10 <= stopped < 100000 and state["history_rows"] == stopped
    history = train(tiny_config(fmnist_root, out, max_steps=stopped + 3), resume=out)
    assert history["iteration"][-1] == stopped + 3


class NaNAfter:
    """A G loss that turns NaN on chosen calls: a blow-up on demand."""

    def __init__(self, calls):
        self.calls, self.n = set(calls), 0

    def __call__(self, logits):
        self.n += 1
        loss = losses.bce_g_loss(logits)
        return loss * float("nan") if self.n in self.calls else loss


def _nan_objective(monkeypatch, calls):
    bce = losses.OBJECTIVES["bce"]
    monkeypatch.setitem(losses.OBJECTIVES, "bce", losses.Objective(bce.d_real, bce.d_fake, NaNAfter(calls)))


def test_divergence_stops_and_keeps_the_good_checkpoint(fmnist_root, tmp_path, monkeypatch):
    _nan_objective(monkeypatch, calls=range(8, 1000))
    out = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match=r"iteration 8: a loss is not finite.*try a lower --lr.*"
                                               r"last good checkpoint is .*last.pt"):
        train(tiny_config(fmnist_root, out, max_steps=20, checkpoint_every=5, log_every=1))
    state = load_checkpoint(out)
    assert state["iteration"] == 5 and all(torch.isfinite(v).all() for v in state["G"].values())


def test_divergence_rolls_back_with_a_lower_learning_rate(fmnist_root, tmp_path, monkeypatch, capsys):
    _nan_objective(monkeypatch, calls=[8])  # one blow-up at the 8th iteration
    out = tmp_path / "run"
    config = tiny_config(fmnist_root, out, max_steps=12, checkpoint_every=5, log_every=1,
                         on_divergence="rollback", lr_decay=0.0)  # no tail: the saved rates are the halved ones
    history = train(config)
    assert history["iteration"] == list(range(1, 13)) and all(np.isfinite(history["loss_g"]))
    state = load_checkpoint(out)
    assert state["opt_g"]["param_groups"][0]["lr"] == pytest.approx(config.train.lr_g / 2)  # the recipe's, halved
    assert state["opt_d"]["param_groups"][0]["lr"] == pytest.approx(config.train.lr / 2)
    printed = capsys.readouterr()
    assert "rolled back to iteration 5 with learning rates halved" in printed.out + printed.err


def test_guard_sees_d_winning_and_nan():
    g = DivergenceGuard(patience=3, watch_d_wins=True)
    model = torch.nn.Linear(2, 2)
    ok, lost = [0.5, 2.0, 0.8, 0.2, 0.2], [0.01, 9.0, 0.99, 0.001, 0.001]
    assert g.check([ok, lost, lost], 1, [model]) is None
    assert "D has rejected G's samples" in g.check([lost], 4, [model])
    assert "a loss is not finite" in DivergenceGuard(0, False).check([[float("nan")] + ok[1:]], 1, [model])
    with torch.no_grad():
        model.weight[0, 0] = float("inf")
    assert "a weight is not finite" in DivergenceGuard(0, False).check([ok], 1, [model])


def test_full_disk_before_and_during_training(fmnist_root, tmp_path, monkeypatch):
    import shutil

    from dcgan import diskio

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(diskio.shutil, "disk_usage", lambda p: usage._replace(free=1_000_000))
    with pytest.raises(WriteFailed, match=r"has 1.0 MiB free, but a checkpoint needs"):
        train(tiny_config(fmnist_root, tmp_path / "small", max_steps=5))
    assert not (tmp_path / "small" / "checkpoints" / "last.pt").exists()
    monkeypatch.undo()

    original = torch.save

    def full_disk(obj, f, *args, **kwargs):
        if isinstance(obj, dict) and obj.get("iteration") == 10:
            f.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full_disk)
    out = tmp_path / "full"
    with pytest.raises(WriteFailed, match=r"could not write the checkpoint .*step_0000010.pt: no space left on the "
                                          r"device holding .*checkpoints .*dcgan train --resume .*full; the last "
                                          r"complete checkpoint is kept"):
        train(tiny_config(fmnist_root, out, max_steps=15, checkpoint_every=5))
    monkeypatch.undo()
    assert load_checkpoint(out)["iteration"] == 5
    assert not list((out / "checkpoints").glob(".*.tmp-*"))


def test_unusable_run_folder(fmnist_root, tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(ConfigError, match="cannot create the run folder"):
        train(tiny_config(fmnist_root, tmp_path / "file" / "run", max_steps=2))


def test_a_fresh_start_sets_the_earlier_run_aside(fmnist_root, tmp_path, capsys):
    out = tmp_path / "run"
    train(tiny_config(fmnist_root, out, max_steps=6, snapshot_every=3, checkpoint_every=6))
    first = load_checkpoint(out)["G"]
    train(tiny_config(fmnist_root, out, max_steps=3, snapshot_every=3, checkpoint_every=3, seed=1))
    moved = list(tmp_path.glob("run.replaced-*"))
    assert len(moved) == 1 and f"it is now in {moved[0]}" in capsys.readouterr().err  # a plain line for the user, on stderr
    old = load_checkpoint(moved[0])  # the earlier run, whole
    assert old["iteration"] == 6 and all(torch.equal(first[k], old["G"][k]) for k in first)
    assert sorted(p.name for p in (moved[0] / "samples").glob("*.png")) == ["step_0000003.png", "step_0000006.png"]
    # the new run's animation shows only its own snapshots
    assert [p.name for p in (out / "samples").glob("*.png")] == ["step_0000003.png"]
    assert load_checkpoint(out)["iteration"] == 3
    assert "iteration 6" not in (out / "progress.html").read_text()

    stranger = tmp_path / "notes"
    stranger.mkdir()
    (stranger / "thesis.tex").write_text("precious")
    with pytest.raises(ConfigError, match="not a run folder; choose a new or empty folder"):
        train(tiny_config(fmnist_root, stranger, max_steps=2))
    assert (stranger / "thesis.tex").read_text() == "precious" and len(list(stranger.iterdir())) == 1


# ---------------------------------------------------------------------------------------------
# hostile image folders


@pytest.fixture()
def hostile_folder(fmnist_root, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    real = read_idx(fmnist_root / "fashion-mnist" / "train-images-idx3-ubyte.gz")[:40]
    for i, arr in enumerate(real):
        Image.fromarray(arr).save(folder / f"good_{i:02d}.png")
    rgb = Image.fromarray(np.stack([real[0]] * 3, -1))
    rgb.save(folder / "whole.jpg", quality=90)
    (folder / "truncated.jpg").write_bytes((folder / "whole.jpg").read_bytes()[:200])
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(300))
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.jpg").write_text("this is a text file with an image extension")
    rgb.convert("CMYK").save(folder / "cmyk.jpg")
    Image.fromarray((real[1].astype(np.uint16) * 257)).save(folder / "sixteen_bit.png")
    rgb.convert("P", palette=Image.ADAPTIVE).save(folder / "palette.png")
    rgba = rgb.convert("RGBA")
    rgba.putalpha(128)
    rgba.save(folder / "rgba.png")
    Image.fromarray(real[2][:4, :4]).save(folder / "tiny.png")
    return folder


BAD = {"truncated.jpg", "corrupt.png", "empty.png", "notes.jpg"}


@pytest.mark.parametrize("channels", [1, 3])
def test_hostile_folder_skips_and_counts(hostile_folder, tmp_path, channels, capsys):
    cfg = DataConfig(dataset="folder", folder=str(hostile_folder), data_root=str(tmp_path / "d"),
                     channels=channels, download=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reports are plain lines for the user, never Python warnings
        ds = load_dataset(cfg, progress=False)
    messages = capsys.readouterr().err.splitlines()
    skipped = [m for m in messages if m.startswith("skipped")]
    assert len(skipped) == 1 and f"skipped {len(BAD)} of 50 files" in skipped[0]
    assert {s.split(":")[0].rsplit("/", 1)[-1] for s in ds.skipped} == BAD
    assert any("upscaled" in m and "tiny.png (4x4)" in m for m in messages)
    assert ds.images.shape == (46, channels, 32, 32) and ds.images.dtype == torch.uint8
    # and the cache is complete: a second load reads it without decoding again
    assert load_dataset(cfg, progress=False).images.shape == (46, channels, 32, 32)


def test_strict_fails_on_the_first_bad_file_and_writes_no_cache(hostile_folder, tmp_path):
    cfg = DataConfig(dataset="folder", folder=str(hostile_folder), data_root=str(tmp_path / "d"), strict=True)
    with pytest.raises(ValueError, match=r"(corrupt.png|empty.png) cannot be used: .*drop --strict"):
        load_dataset(cfg, progress=False)
    assert not list((tmp_path / "d").rglob("*.pt"))


def test_image_modes_decode_sensibly(hostile_folder, tmp_path):
    # 16-bit grey is scaled to 8 bits, not clipped to white
    sixteen = decode_image(hostile_folder / "sixteen_bit.png", 32, 1)
    assert 0 < sixteen.mean() < 250
    # RGBA is composited on white; CMYK and palette become ordinary RGB
    for name in ("rgba.png", "cmyk.jpg", "palette.png"):
        arr = decode_image(hostile_folder / name, 32, 3)
        assert arr.shape == (3, 32, 32) and arr.dtype == np.uint8
    # EXIF orientation is applied: a wide image tagged "rotate 90" comes out tall
    wide = np.zeros((20, 40), np.uint8)
    wide[:, :20] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 CW to display
    Image.fromarray(wide).save(tmp_path / "rotated.jpg", exif=exif.tobytes(), quality=95)
    arr = decode_image(tmp_path / "rotated.jpg", 32, 1)[0]
    assert arr[:8].mean() > 200 and arr[-8:].mean() < 50  # white now on top


def test_decompression_bombs_are_refused_not_decoded(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    Image.new("L", (40, 40)).save(tmp_path / "warn.png")  # 1600 px: past the limit (Pillow warns)
    Image.new("L", (80, 80)).save(tmp_path / "bomb.png")  # 6400 px: past twice the limit (Pillow refuses)
    for name in ("warn.png", "bomb.png"):
        with pytest.raises((Image.DecompressionBombWarning, Image.DecompressionBombError)):
            decode_image(tmp_path / name, 32, 1)
    assert Image.MAX_IMAGE_PIXELS == 1000  # the limit was used, not lifted


def test_empty_and_too_small_folders(tmp_path, fmnist_root):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFound, match="holds no image files"):
        load_dataset(DataConfig(dataset="folder", folder=str(tmp_path / "empty"), data_root=str(tmp_path)),
                     progress=False)
    few = tmp_path / "few"
    few.mkdir()
    for i in range(5):
        Image.new("L", (32, 32), color=i * 40).save(few / f"{i}.png")
    with pytest.raises(ValueError, match="the dataset has 5 images, fewer than one batch of --batch-size 32"):
        train(tiny_config(tmp_path / "d", tmp_path / "run", dataset="folder", folder=str(few)))
