"""Finding, decoding and caching datasets; batches; the error when nothing is found."""

import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from dcgan.data import sources
from dcgan.data.batches import iterate_batches
from dcgan.data.dataset import load_dataset, to_model_range
from dcgan.data.sources import DatasetNotFound, read_cifar_batch, read_idx
from dcgan.settings.config import DataConfig

from conftest import write_idx


def test_fashion_mnist_slice_resized_to_32(fmnist_root):
    ds = load_dataset(DataConfig(data_root=str(fmnist_root), download=False), progress=False)
    assert ds.images.shape == (1024, 1, 32, 32) and ds.images.dtype == torch.uint8
    assert ds.labels.shape == (1024,) and set(ds.labels.tolist()) <= set(range(10))
    assert ds.classes[0] == "T-shirt/top" and str(fmnist_root) in ds.source
    # garments are bright on a dark background, as in the source
    assert ds.images.float().mean() < 100 and ds.images.max() > 200
    x = to_model_range(ds.images[:8])
    assert x.min() >= -1 and x.max() <= 1


def test_cache_is_reused(fmnist_root, monkeypatch):
    cfg = DataConfig(data_root=str(fmnist_root), image_size=64, download=False)
    first = load_dataset(cfg, progress=False)
    assert first.cache_path.endswith("fashion-mnist-train-64px-1ch.npy")

    def no_decoding(*a, **k):
        raise AssertionError("the raw files were read again despite the cache")

    monkeypatch.setattr("dcgan.data.dataset.load_raw", no_decoding)
    second = load_dataset(cfg, progress=False)
    assert torch.equal(first.images, second.images)


def test_idx_round_trip_and_bad_file(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "x.gz", arr)
    assert np.array_equal(read_idx(tmp_path / "x.gz"), arr)
    (tmp_path / "bad").write_bytes(b"\x00\x00\x08\x03" + b"\x00" * 8)
    with pytest.raises(ValueError, match="bad"):
        read_idx(tmp_path / "bad")


def test_missing_dataset_error_lists_places_and_remedy(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "SYSTEM_DATA_ROOT", str(tmp_path / "system"))
    with pytest.raises(DatasetNotFound) as info:
        load_dataset(DataConfig(dataset="mnist", data_root=str(tmp_path / "d"), download=False))
    text = str(info.value)
    assert str(tmp_path / "d" / "mnist") in text and str(tmp_path / "system" / "mnist") in text
    assert "data/mnist/" in text
    with pytest.raises(DatasetNotFound, match="apt-get install dataset-fashion-mnist"):
        load_dataset(DataConfig(dataset="fashion-mnist", data_root=str(tmp_path / "d"), download=False))


def _write_cifar(folder, n, seed):
    rng = np.random.default_rng(seed)
    d = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "labels": list(rng.integers(0, 10, n))}
    with open(folder, "wb") as f:
        pickle.dump(d, f)


def test_cifar10_batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for i in range(1, 6):
        _write_cifar(folder / f"data_batch_{i}", 7, i)
    _write_cifar(folder / "test_batch", 5, 9)
    ds = load_dataset(DataConfig(dataset="cifar10", data_root=str(tmp_path), download=False), progress=False)
    assert ds.images.shape == (35, 3, 32, 32) and ds.classes[3] == "cat"
    raw, _ = read_cifar_batch(folder / "data_batch_1")
    assert torch.equal(ds.images[0], torch.from_numpy(raw[0]).permute(2, 0, 1))  # 32 px: untouched


def test_cifar_unpickler_refuses_code(tmp_path):
    evil = tmp_path / "data_batch_1"

    class Boom:
        def __reduce__(self):
            return (print, ("owned",))

    evil.write_bytes(pickle.dumps({"data": Boom(), "labels": []}))
    with pytest.raises(ValueError, match="refusing"):
        read_cifar_batch(evil)


def _save(path, mode, size, colour):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour).save(path)


def test_folder_dataset_of_mixed_images(tmp_path, capsys):
    root = tmp_path / "imgs"
    _save(root / "cats" / "a.png", "RGB", (40, 50), (255, 0, 0))
    _save(root / "cats" / "b.jpg", "RGB", (64, 64), (0, 255, 0))
    _save(root / "dogs" / "c.png", "L", (20, 30), 128)
    _save(root / "dogs" / "deep" / "d.png", "RGBA", (33, 33), (0, 0, 255, 0))  # fully transparent
    (root / "dogs" / "notes.txt").write_text("not an image")
    (root / "dogs" / "broken.png").write_bytes(b"\x89PNG not really")
    cfg = DataConfig(dataset="folder", folder=str(root), data_root=str(tmp_path / "d"), image_size=32)
    ds = load_dataset(cfg, progress=False)
    assert "skipped 1 of 5" in capsys.readouterr().err
    assert ds.images.shape == (4, 3, 32, 32)
    assert ds.classes == ["cats", "dogs"] and ds.labels.tolist() == [0, 0, 1, 1]
    assert ds.images[0, :, 16, 16].tolist() == [255, 0, 0]
    assert ds.images[2, :, 16, 16].tolist() == [128, 128, 128]  # grey -> RGB
    assert ds.images[3, :, 16, 16].tolist() == [255, 255, 255]  # transparent -> white background
    assert "broken.png" in ds.skipped[0]
    grey = load_dataset(DataConfig(dataset="folder", folder=str(root), data_root=str(tmp_path / "d"),
                                   image_size=32, channels=1), progress=False)
    assert "skipped 1 of 5" in capsys.readouterr().err
    assert grey.images.shape == (4, 1, 32, 32)


def test_flat_folder_has_no_labels(tmp_path):
    for i in range(3):
        _save(tmp_path / "flat" / f"{i}.png", "RGB", (32, 32), (i, i, i))
    ds = load_dataset(DataConfig(dataset="folder", folder=str(tmp_path / "flat"),
                                 data_root=str(tmp_path / "d")), progress=False)
    assert len(ds) == 3 and ds.labels is None and ds.classes == []


def test_celeba_layout_and_partition(tmp_path):
    img_dir = tmp_path / "celeba" / "img_align_celeba"
    lines = []
    for i in range(6):
        _save(img_dir / f"{i:06d}.jpg", "RGB", (178, 218), (10 * i, 0, 0))
        lines.append(f"{i:06d}.jpg {0 if i < 4 else 2}")
    (tmp_path / "celeba" / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    train = load_dataset(DataConfig(dataset="celeba", data_root=str(tmp_path), image_size=64,
                                    download=False), progress=False)
    test = load_dataset(DataConfig(dataset="celeba", data_root=str(tmp_path), image_size=64,
                                   split="test", download=False), progress=False)
    assert train.images.shape == (4, 3, 64, 64) and test.images.shape == (2, 3, 64, 64)


def test_batches_cover_the_epoch_once_and_repeat_by_seed():
    images = torch.arange(100, dtype=torch.uint8).view(100, 1, 1, 1)
    batches = list(iterate_batches(images, 32, seed=1, epoch=0))
    assert len(batches) == 3  # the ragged last batch is dropped
    seen = torch.cat(batches).flatten().tolist()
    assert len(set(seen)) == 96
    again = torch.cat(list(iterate_batches(images, 32, seed=1, epoch=0))).flatten().tolist()
    assert seen == again
    other = torch.cat(list(iterate_batches(images, 32, seed=1, epoch=1))).flatten().tolist()
    assert seen != other
    resumed = torch.cat(list(iterate_batches(images, 32, seed=1, epoch=0, start=1))).flatten().tolist()
    assert resumed == seen[32:]


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=[pytest.mark.cuda, pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU")])])
def test_epoch_order_does_not_depend_on_where_the_data_sits(device):
    """Ranks (and resumed runs) may hold the data on the GPU or on the host: one order either way."""
    from dcgan.data.batches import batch_stream, epoch_permutation

    host = epoch_permutation(1000, seed=7, epoch=3)
    placed = epoch_permutation(1000, seed=7, epoch=3, device=device)
    assert placed.device.type == device and torch.equal(host, placed.cpu())
    a, b = batch_stream(1000, 64, seed=7, start=20), batch_stream(1000, 64, seed=7, start=20, device=device)
    for _ in range(40):  # across epoch boundaries
        assert torch.equal(next(a), next(b).cpu())
    # drawn by the CPU's generator whatever the device: a device without one still gets the order
    assert epoch_permutation(1000, seed=7, epoch=3, device="meta").shape == (1000,)
