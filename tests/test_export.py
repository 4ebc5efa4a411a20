"""Shareable animations (GIF/WebP/MP4) of a run and of latent walks, and `dcgan runs`."""

import json
import shutil

import pytest
from PIL import Image

from dcgan.cli import main
from dcgan.training.loop import train

from conftest import tiny_config


@pytest.fixture(scope="module")
def runs(fmnist_root, tmp_path_factory):
    root = tmp_path_factory.mktemp("outputs")
    train(tiny_config(fmnist_root, root / "plain", max_steps=6, snapshot_every=2, checkpoint_every=6))
    train(tiny_config(fmnist_root, root / "cond", max_steps=4, snapshot_every=2, checkpoint_every=4,
                      condition="class", ema_decay=0.9))
    return root


@pytest.mark.parametrize("suffix", [".gif", ".webp"])
def test_animate_writes_every_snapshot_with_its_caption(runs, tmp_path, suffix, capsys):
    out = tmp_path / f"progress{suffix}"
    assert main(["animate", str(runs / "plain"), "--out", str(out), "--frame-ms", "100"]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    with Image.open(out) as img:
        assert img.n_frames == 3  # snapshots at 2, 4, 6
        grid = Image.open(runs / "plain" / "samples" / "step_0000002.png")
        assert img.size == (grid.width, grid.height + 18)  # the grid and its caption strip


def test_animate_refuses_what_it_cannot_write(runs, tmp_path, capsys):
    assert main(["animate", str(runs / "plain"), "--out", str(tmp_path / "p.avi")]) == 2
    assert "use one of .gif, .webp, .mp4" in capsys.readouterr().err
    code = main(["animate", str(runs / "plain"), "--out", str(tmp_path / "p.mp4")])
    if shutil.which("ffmpeg") is None:
        assert code == 2 and "needs ffmpeg" in capsys.readouterr().err
    else:
        assert code == 0 and (tmp_path / "p.mp4").stat().st_size > 0
    assert main(["animate", str(tmp_path), "--out", str(tmp_path / "p.gif")]) == 2  # no snapshots there


def test_latent_walk_loops_and_walks_across_classes(runs, tmp_path):
    plain, cond = tmp_path / "walk.gif", tmp_path / "cond.gif"
    assert main(["sample", str(runs / "plain"), "--walk", "3", "--out", str(plain)]) == 0
    assert main(["sample", str(runs / "cond"), "--walk", "2", "--out", str(cond)]) == 0
    with Image.open(plain) as a, Image.open(cond) as b:
        assert a.n_frames == 3 * 8  # 8 frames per leg, the last leg back to the start
        assert b.n_frames == 2 * 8 + 10 * 8  # then z fixed across the 10 classes


def test_runs_table(runs, tmp_path, capsys):
    assert main(["runs", str(runs)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["run", "iterations", "status"]
    plain = next(line for line in lines if line.startswith("plain "))
    assert "6/6" in plain and "finished" in plain and "condition=none" in plain and "ema_decay=0.999" in plain
    status = json.loads((runs / "cond" / "status.json").read_text())
    assert status["status"] == "finished" and status["planned"] == 4 and status["iteration"] == 4
    assert main(["runs", str(tmp_path / "missing")]) == 2
