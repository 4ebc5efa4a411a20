"""The seeds' sizes end to end (28 natively, 48, 96) and RGBA kept through data, training, grids and samples."""

import numpy as np
import pytest
import torch
from PIL import Image

from dcgan.checkpoint import load_checkpoint
from dcgan.cli import main
from dcgan.data.dataset import load_dataset
from dcgan.settings.config import Config, DataConfig
from dcgan.training.loop import train
from dcgan.viz import grid_array

from conftest import tiny_config


def test_fashion_mnist_trains_at_28_without_resizing(fmnist_root, tmp_path):
    data = load_dataset(DataConfig(data_root=str(fmnist_root), image_size=28, download=False), progress=False)
    from dcgan.data.sources import read_idx

    raw = read_idx(fmnist_root / "fashion-mnist" / "train-images-idx3-ubyte.gz")
    assert torch.equal(data.images[:, 0], torch.from_numpy(raw.copy()))  # the original pixels, not resampled
    history = train(tiny_config(fmnist_root, tmp_path / "run", image_size=28, max_steps=4, checkpoint_every=4))
    assert history["iteration"][-1] == 4 and all(np.isfinite(history["loss_d"]))
    assert load_checkpoint(tmp_path / "run")["config"]["data"]["image_size"] == 28


@pytest.mark.parametrize("size", [48, 96])
def test_other_seed_sizes_train_and_resume(fmnist_root, tmp_path, size):
    cfg = tiny_config(fmnist_root, tmp_path / "run", image_size=size, max_steps=2, checkpoint_every=2, batch_size=16)
    train(cfg)
    more = tiny_config(fmnist_root, tmp_path / "run", image_size=size, max_steps=3, checkpoint_every=3, batch_size=16)
    assert train(more, resume=tmp_path / "run")["iteration"][-1] == 3


def test_a_checkpoint_from_before_model_versions_loads_samples_and_resumes(fmnist_root, tmp_path, capsys):
    """A 28 px run written without the model-version key keeps its layout (no start block) through
    load, `dcgan sample` and `dcgan train --resume`, also from the CLI."""
    from dcgan.checkpoint import atomic_torch_save, resolve_checkpoint
    from dcgan.sample import load_generator

    run = tmp_path / "old"
    train(tiny_config(fmnist_root, run, image_size=28, max_steps=2, checkpoint_every=2, model_version=1))
    path = resolve_checkpoint(run)
    state = load_checkpoint(path)
    del state["config"]["model"]["model_version"]  # as the code before the key wrote it
    atomic_torch_save(state, path)
    G = load_generator(run)
    assert G.model_version == 1 and G(torch.randn(2, 16)).shape == (2, 1, 28, 28)
    assert main(["sample", str(run), "--n", "4", "--out", str(tmp_path / "grid.png")]) == 0
    assert (tmp_path / "grid.png").is_file()
    assert main(["train", "--resume", str(run), "--max-steps", "4", "--no-progress"]) == 0
    resumed = load_checkpoint(run)
    assert resumed["iteration"] == 4 and resumed["config"]["model"]["model_version"] == 1
    # a new run at 28 px gets the start block
    assert Config.from_flat(image_size=28).model.model_version == 2


def _rgba_folder(root, n=40):
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        arr = np.zeros((40, 40, 4), dtype=np.uint8)
        arr[..., :3] = rng.integers(0, 256, 3, dtype=np.uint8)  # one colour per image
        arr[8:32, 8:32, 3] = 255  # an opaque square on a transparent background
        Image.fromarray(arr, "RGBA").save(root / f"{i:03d}.png")
    Image.new("RGB", (40, 40), (10, 200, 30)).save(root / "opaque.png")  # no alpha: fully opaque
    return root


def test_rgba_is_kept_from_files_to_samples(tmp_path):
    folder = _rgba_folder(tmp_path / "pics")
    cfg = DataConfig(dataset="folder", folder=str(folder), data_root=str(tmp_path / "d"), channels=4, download=False)
    ds = load_dataset(cfg, progress=False)
    assert ds.images.shape == (41, 4, 32, 32)
    alpha = ds.images[:, 3].float()
    assert alpha[:40, 0, 0].max() == 0 and alpha[:40, 16, 16].min() == 255  # transparent corner, opaque middle
    assert ds.images[40, 3].min() == 255  # the RGB file became opaque
    # grids put transparency over a checkerboard: the two shades of a corner differ
    grid = grid_array(torch.cat([ds.images[:1, :3].float() / 127.5 - 1, ds.images[:1, 3:].float() / 127.5 - 1], 1))
    assert grid.shape[-1] == 3 and grid[2, 2].tolist() != grid[2, 6].tolist()
    run = tmp_path / "run"
    train(tiny_config(tmp_path / "d", run, dataset="folder", folder=str(folder), channels=4, batch_size=8,
                      max_steps=2, checkpoint_every=2))
    assert main(["sample", str(run), "--n", "3", "--out", str(tmp_path / "fakes/")]) == 0
    out = sorted((tmp_path / "fakes").glob("*.png"))
    assert len(out) == 3 and Image.open(out[0]).mode == "RGBA"  # RGBA in, RGBA out


def test_parallel_decode_equals_serial_and_keeps_the_skip_report(tmp_path):
    from dcgan.data.decode import decode_files
    from dcgan.data.sources import RawDataset

    folder = _rgba_folder(tmp_path / "pics", n=30)
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    Image.new("RGB", (6, 6), (1, 2, 3)).save(folder / "tiny.png")
    raw = RawDataset(name="t", source=str(folder), files=sorted(folder.iterdir()))
    serial = decode_files(raw, 32, 3, progress=False, workers=1)
    parallel = decode_files(raw, 32, 3, progress=False, workers=2)
    assert torch.equal(serial[0], parallel[0]) and serial[1] == parallel[1] and serial[2] == parallel[2]
    assert len(parallel[2]) == 1 and "broken.png" in parallel[2][0] and parallel[0].shape[0] == 32
    with pytest.raises(ValueError, match="broken.png cannot be used"):
        decode_files(raw, 32, 3, progress=False, workers=2, strict=True)


@pytest.mark.parametrize("size", [28, 32, 48, 64])
def test_the_nearest_upsampling_generator_has_every_size_and_no_transposed_convolution(size):
    from dcgan.models import build_models

    G, D = build_models(nz=16, ngf=8, ndf=8, nc=3, image_size=size, g_upsample="nearest")
    x = G(torch.randn(2, 16))
    assert x.shape == (2, 3, size, size) and x.abs().max() <= 1
    assert D(x).shape == (2,)
    kinds = [type(m).__name__ for m in G.main]
    # only the start (and the 28 px stride-1 start block) are transposed; every doubling upsamples
    assert kinds.count("Upsample") == len([m for m in kinds if m == "Conv2d"])
    assert kinds.count("ConvTranspose2d") == (2 if size == 28 else 1)


def test_g_upsample_trains_samples_and_is_checked(fmnist_root, tmp_path, capsys):
    from dcgan.sample import load_generator

    train(tiny_config(fmnist_root, tmp_path / "run", max_steps=2, checkpoint_every=2, g_upsample="nearest"))
    G = load_generator(tmp_path / "run")
    assert G.upsample == "nearest" and G(torch.randn(2, 16)).shape == (2, 1, 32, 32)
    assert main(["sample", str(tmp_path / "run"), "--n", "4", "--out", str(tmp_path / "grid.png")]) == 0
    with pytest.raises(SystemExit) as refused:  # argparse names the setting and its choices
        main(["train", "--g-upsample", "bilinear", "--out", str(tmp_path / "bad")])
    assert refused.value.code == 2 and not (tmp_path / "bad").exists()
    assert "argument --g-upsample: invalid choice: 'bilinear'" in capsys.readouterr().err
