"""The run-folder helpers the notebooks share."""

import os

import pytest
import torch

from dcgan import viz
from dcgan.data.dataset import to_model_range
from dcgan.lab.runs import latest_runs, nearest_images, read_evals, snapshot_frames


def _run(root, name, mtime):
    run = root / name
    (run / "checkpoints").mkdir(parents=True)
    (run / "samples").mkdir()
    last = run / "checkpoints" / "last.pt"
    last.write_bytes(b"x")
    os.utime(last, (mtime, mtime))
    return run


def test_latest_runs_and_frames(tmp_path):
    with pytest.raises(FileNotFoundError, match="no run with a checkpoint under .*train one first"):
        latest_runs(tmp_path)
    old, new = _run(tmp_path, "old", 1_000), _run(tmp_path, "new", 2_000)
    assert latest_runs(tmp_path) == [new] and latest_runs(tmp_path, 5) == [old, new]
    for step in (20, 3):
        (new / "samples" / f"step_{step:07d}.png").write_bytes(b"")
    frames, titles = snapshot_frames(new)
    assert [f.name for f in frames] == ["step_0000003.png", "step_0000020.png"]
    assert titles == ["iteration 3", "iteration 20"]


def test_read_evals_and_plot(tmp_path):
    assert read_evals(tmp_path) == []
    (tmp_path / "evals.csv").write_text("iteration,seconds,fid_fmnist_cnn\n100,5.5,80.0\n200,11.0,60.5\n")
    rows = read_evals(tmp_path)
    assert rows == [{"iteration": 100.0, "seconds": 5.5, "fid_fmnist_cnn": 80.0},
                    {"iteration": 200.0, "seconds": 11.0, "fid_fmnist_cnn": 60.5}]
    fig = viz.plot_evals({"run": rows, "no evals": []}, tmp_path / "evals.png", floor=0.3)
    assert (tmp_path / "evals.png").stat().st_size > 1000
    assert len(fig.axes[0].lines) == 2  # the run's curve and the floor


def test_nearest_images_finds_the_copy():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (300, 1, 8, 8), dtype=torch.uint8, generator=g)
    queries = to_model_range(images[[7, 250]])  # samples that copy training images 7 and 250
    dist, idx = nearest_images(queries, images, k=3, chunk=64)  # across chunk borders
    assert idx[:, 0].tolist() == [7, 250] and (dist[:, 0] < 1e-2).all()  # cdist rounds, a little
    assert (dist[:, 1:] > 0).all() and (dist[:, 1:] >= dist[:, :-1]).all()
