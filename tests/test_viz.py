"""Pictures: grid geometry, smoothing, and the standalone HTML animation."""

import numpy as np
import torch

from dcgan.sample import slerp
from dcgan.viz import animation_html, grid_array, plot_losses, smooth


def test_grid_geometry_and_values():
    images = torch.full((10, 3, 8, 8), -1.0)
    images[0] = 1.0
    grid = grid_array(images, nrow=5)
    assert grid.shape == (2 + 2 * 10, 2 + 5 * 10, 3)
    assert grid[2:10, 2:10].min() == 255 and grid[2:10, 12:20].max() == 0
    assert grid_array(images[:, :1]).ndim == 2  # grey grids are 2-D


def test_smooth():
    assert np.allclose(smooth([1, 2, 3, 4], 2), [1, 1.5, 2.5, 3.5])
    assert np.allclose(smooth([5, 6], 1), [5, 6])


def test_animation_page(tmp_path):
    frames = [np.full((20, 20), v, dtype=np.uint8) for v in (0, 128, 255)]
    html = animation_html(frames, tmp_path / "p.html", titles=["a", "b", "c"])
    page = (tmp_path / "p.html").read_text()
    assert html in page and page.startswith("<!DOCTYPE html>")
    assert page.count("data:image/png;base64") == 3
    # nothing from the network: no URL, no icon font; the icons are inline SVG
    assert "http" not in page.replace("http-equiv", "") and "<link" not in page and page.count("<svg") >= 5


def test_long_runs_keep_first_last_and_spaced_frames(tmp_path):
    from dcgan.player import keep_frames

    assert keep_frames(5, 60) == [0, 1, 2, 3, 4]
    kept = keep_frames(1000, 60)
    assert len(kept) == 60 and kept[0] == 0 and kept[-1] == 999
    gaps = np.diff(kept)
    assert gaps.max() - gaps.min() <= 1  # evenly spaced
    files = []
    for i in range(100):
        f = tmp_path / f"step_{i:07d}.png"
        from PIL import Image
        Image.fromarray(np.full((8, 8), i, dtype=np.uint8)).save(f)
        files.append(f)
    html = animation_html(files, titles=[f"iteration {i}" for i in range(100)], max_frames=10)
    assert html.count("data:image/png;base64") == 10 and '"iteration 99"' in html and '"iteration 0"' in html


def test_loss_plot_file(tmp_path):
    h = {"iteration": [1, 2, 3], "loss_d": [1.0, 0.9, 0.8], "loss_g": [2.0, 2.1, 2.2]}
    plot_losses(h, tmp_path / "l.png")
    assert (tmp_path / "l.png").stat().st_size > 1000


def test_slerp_endpoints_and_norm():
    a, b = torch.randn(2, 100, 1, 1)
    path = slerp(a, b, torch.linspace(0, 1, 5))
    assert path.shape == (5, 100, 1, 1)
    assert torch.allclose(path[0], a, atol=1e-5) and torch.allclose(path[-1], b, atol=1e-5)
    # the norm stays between the endpoints' instead of sagging as a straight line would
    norms = path.flatten(1).norm(dim=1)
    assert norms.min() > 0.9 * min(a.norm(), b.norm())
